//! Known media in, measured media out.
//!
//! In: each browser process can capture its own pure tone. Chromium's fake
//! capture device plays a WAV file in a loop as the microphone
//! (`--use-file-for-fake-audio-capture`, one file per process), and its
//! default moving pattern as the camera. [`write_tone_wav`] makes the file.
//!
//! Out: [`PROBE`] runs in a page and measures a `MediaStream` there: the
//! dominant frequency of its audio (WebAudio `AnalyserNode`, power averaged
//! over a window) and the video frames it shows. Which voice a tab hears
//! then says which browser it is connected to: 440 Hz is browser a, 1000 Hz
//! browser b.

use serde::Deserialize;
use std::path::Path;

/// The tone browser `a` of [`crate::setup::two_phones`] speaks.
pub const TONE_A_HZ: u32 = 440;
/// The tone browser `b` speaks.
pub const TONE_B_HZ: u32 = 1000;

/// Sample rate of the WAV files: WebRTC's native rate, so nothing resamples
/// before the encoder.
const RATE: u32 = 48_000;
/// Length of the file. A whole number of periods of every tone used here,
/// so the loop has no click (a click spreads power over every bin).
const SECONDS: u32 = 4;
/// Peak amplitude, of full scale: loud enough to stand far above the
/// encoder's noise, low enough to stay clear of clipping.
const AMPLITUDE: f64 = 0.5;

/// The bytes of a WAV file (RIFF, 16-bit PCM, mono, 48 kHz) holding a sine
/// of `hz` for a few seconds.
pub fn tone_wav(hz: u32) -> Vec<u8> {
    let samples = RATE * SECONDS;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // size of this chunk
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    let step = std::f64::consts::TAU * f64::from(hz) / f64::from(RATE);
    for n in 0..samples {
        let v = (step * f64::from(n)).sin() * AMPLITUDE * f64::from(i16::MAX);
        out.extend_from_slice(&(v.round() as i16).to_le_bytes());
    }
    out
}

/// Writes [`tone_wav`]`(hz)` into `dir`; returns the file's path.
pub fn write_tone_wav(dir: &Path, hz: u32) -> crate::Result<std::path::PathBuf> {
    let path = dir.join(format!("tone-{hz}hz.wav"));
    std::fs::write(&path, tone_wav(hz)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// What [`PROBE`] measured of a stream's audio.
#[derive(Clone, Debug, Deserialize)]
pub struct Tone {
    /// The strongest frequency (the peak bin, refined between its
    /// neighbours).
    pub hz: f64,
    /// Its level, dB of full scale as the analyser reports it; silence is
    /// far below -100.
    pub db: f64,
    /// The width of one analyser bin.
    pub bin_hz: f64,
    /// Analyser reads averaged.
    pub reads: u32,
}

impl Tone {
    /// Whether this is audibly the tone `hz`: within two bins of it and
    /// above the level of silence or codec noise.
    pub fn is(&self, hz: u32) -> bool {
        self.db > AUDIBLE_DB && (self.hz - f64::from(hz)).abs() <= 2.0 * self.bin_hz
    }

    /// Whether nothing tonal is heard.
    pub fn is_silent(&self) -> bool {
        self.db <= AUDIBLE_DB
    }
}

/// Quieter than this is silence (or comfort noise). The test tones arrive
/// around -20 dB; an idle decoder outputs nothing above -100.
const AUDIBLE_DB: f64 = -70.0;

/// What [`PROBE`] measured of a stream's video.
#[derive(Clone, Debug, Deserialize)]
pub struct Frames {
    /// Frames presented during the window.
    pub frames: u32,
    /// The decoded width (0 before the first frame).
    pub width: u32,
    /// The decoded height.
    pub height: u32,
}

/// Both measures of one stream over one window.
#[derive(Clone, Debug, Deserialize)]
pub struct Probe {
    /// The audio, `None` if the stream has no audio track.
    pub tone: Option<Tone>,
    /// The video, `None` if the stream has no video track.
    pub video: Option<Frames>,
}

/// Where [`PROBE`] takes its stream from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A fresh `getUserMedia({audio, video})` with the browser's capture
    /// defaults (as an app asks), stopped afterwards.
    Capture,
    /// Capture with echo cancellation, noise suppression and gain control
    /// off, the way a measurement wants it.
    RawCapture,
    /// The `srcObject` of the element the CSS selector finds.
    Element(&'a str),
}

impl Source<'_> {
    /// The first argument of [`PROBE`].
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Source::Capture => serde_json::json!({ "capture": true }),
            Source::RawCapture => serde_json::json!({ "capture": true, "raw": true }),
            Source::Element(selector) => serde_json::json!({ "selector": selector }),
        }
    }
}

/// Measures a stream for `arguments[1]` ms: resolves with
/// `{ok: {tone, video}}` (see [`Probe`]) or `{err}`.
///
/// Two Chromium habits shape it. Remote WebRTC audio reaches WebAudio only
/// while a media element plays the stream, so a (muted-for-the-ear but not
/// `muted`) `<audio>` element plays it during the window. And video frames
/// are counted on an element of our own: the app's element may be hidden
/// or paused, and `requestVideoFrameCallback` fires only for frames an
/// element presents.
pub const PROBE: &str = r#"
const [source, ms] = arguments;
return (async () => {
  let stream, captured = false;
  if (source.capture) {
    const audio = source.raw
      ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false }
      : true;
    stream = await navigator.mediaDevices.getUserMedia({ audio, video: true });
    captured = true;
  } else {
    const el = document.querySelector(source.selector);
    if (!el) return { err: 'no element ' + source.selector };
    stream = el.srcObject;
    if (!stream) return { err: source.selector + ' has no srcObject' };
  }
  const cleanup = [];
  try {
    const hasAudio = stream.getAudioTracks().length > 0;
    const hasVideo = stream.getVideoTracks().length > 0;
    const tone = async () => {
      const player = new Audio();
      player.volume = 0.01;
      player.srcObject = stream;
      cleanup.push(() => { player.pause(); player.srcObject = null; });
      await player.play().catch(() => {});
      const ctx = new AudioContext();
      cleanup.push(() => ctx.close());
      await ctx.resume();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 8192;
      analyser.smoothingTimeConstant = 0;
      ctx.createMediaStreamSource(stream).connect(analyser);
      const db = new Float32Array(analyser.frequencyBinCount);
      const power = new Float64Array(analyser.frequencyBinCount);
      let reads = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < ms) {
        await new Promise((r) => setTimeout(r, 40));
        analyser.getFloatFrequencyData(db);
        for (let i = 0; i < db.length; i++) power[i] += Math.pow(10, db[i] / 10);
        reads++;
      }
      const level = (i) => 10 * Math.log10(power[i] / Math.max(reads, 1) + 1e-30);
      // Bins below 40 Hz hold DC and rumble, not a voice.
      const binHz = ctx.sampleRate / analyser.fftSize;
      let peak = Math.ceil(40 / binHz);
      for (let i = peak; i < power.length - 1; i++) if (power[i] > power[peak]) peak = i;
      // A parabola through the peak and its neighbours (in dB) places the
      // tone between bins.
      const [l, c, r] = [level(peak - 1), level(peak), level(peak + 1)];
      const d = l - 2 * c + r;
      const shift = d < 0 ? Math.max(-0.5, Math.min(0.5, 0.5 * (l - r) / d)) : 0;
      return { hz: (peak + shift) * binHz, db: c, bin_hz: binHz, reads };
    };
    const video = async () => {
      const el = document.createElement('video');
      el.muted = true;
      el.playsInline = true;
      el.srcObject = stream;
      cleanup.push(() => { el.pause(); el.srcObject = null; });
      let frames = 0;
      const count = () => { frames++; el.requestVideoFrameCallback(count); };
      el.requestVideoFrameCallback(count);
      await el.play().catch(() => {});
      await new Promise((r) => setTimeout(r, ms));
      return { frames, width: el.videoWidth, height: el.videoHeight };
    };
    const [t, v] = await Promise.all([
      hasAudio ? tone() : null,
      hasVideo ? video() : null,
    ]);
    return { ok: { tone: t, video: v } };
  } catch (e) {
    return { err: String(e && e.message ? e.message : e) };
  } finally {
    for (const f of cleanup) { try { f(); } catch (e) {} }
    if (captured) for (const t of stream.getTracks()) t.stop();
  }
})();
"#;

impl crate::api::Tab {
    /// Measures `source` in this tab for `window` (see [`PROBE`]).
    pub async fn probe_media(
        &self,
        source: Source<'_>,
        window: std::time::Duration,
    ) -> crate::Result<Probe> {
        let ms = window.as_millis() as u64;
        let out = self
            .execute(PROBE, vec![source.to_json(), serde_json::json!(ms)])
            .await?;
        if let Some(err) = out.get("err") {
            return Err(format!("tab {}: media probe: {err}", self.name()));
        }
        serde_json::from_value(out["ok"].clone())
            .map_err(|e| format!("tab {}: media probe answered {out}: {e}", self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wav_is_48k_mono_pcm_of_the_tone() {
        let wav = tone_wav(1000);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        assert_eq!(
            u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]),
            RATE
        );
        let data: Vec<i16> = wav[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(data.len(), (RATE * SECONDS) as usize);
        // 1000 Hz at 48 kHz: one period is 48 samples, rising through zero
        // at the start of each.
        assert_eq!(data[0], 0);
        assert_eq!(data[48], 0);
        assert!(data[12] > 16_000, "a quarter period in: {}", data[12]);
        assert!(data[36] < -16_000, "three quarters in: {}", data[36]);
        // Whole periods: the loop joins without a jump.
        assert!(data[data.len() - 1] < 0 && data[data.len() - 1] > -3000);
    }
}
