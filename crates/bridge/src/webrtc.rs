//! The browser leg on str0m: building an ICE-lite `Rtc` for one call and
//! reading what the negotiation settled.

use crate::error::MediaError;
use crate::sdp::G711;
use core::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use str0m::config::DtlsCert;
use str0m::crypto::CryptoProvider;
use str0m::format::{Codec, FormatParams, PayloadParams};
use str0m::media::Frequency;
use str0m::{Candidate, Rtc};

/// The telephone-event payload type the bridge offers a browser (the
/// browser answers with the same; in a browser's offer its own is used).
pub(crate) const BROWSER_EVENT_PT: u8 = 101;

/// What every call's `Rtc` shares: the crypto backend and one DTLS
/// certificate (generating one per call would cost an ECDSA key each).
#[derive(Clone)]
pub(crate) struct WebRtcShared {
    pub crypto: Arc<CryptoProvider>,
    pub cert: DtlsCert,
}

impl core::fmt::Debug for WebRtcShared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("WebRtcShared")
    }
}

impl WebRtcShared {
    pub(crate) fn new() -> Result<WebRtcShared, MediaError> {
        let crypto = str0m::crypto::from_feature_flags();
        let cert = crypto
            .dtls_provider
            .generate_certificate()
            .ok_or_else(|| MediaError::WebRtc("no DTLS certificate could be made".into()))?;
        Ok(WebRtcShared {
            crypto: Arc::new(crypto),
            cert,
        })
    }

    /// An ICE-lite `Rtc` in RTP mode (packets, not frames: the bridge
    /// forwards them) with `codec` and telephone-event only, and one host
    /// candidate on the advertised address.
    pub(crate) fn rtc(
        &self,
        codec: G711,
        candidate: SocketAddr,
        now: Instant,
    ) -> Result<Rtc, MediaError> {
        let mut config = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .set_crypto_provider(self.crypto.clone())
            .set_dtls_cert(self.cert.clone());
        let codecs = config.codec_config();
        match codec {
            G711::Pcmu => codecs.enable_pcmu(true, false),
            G711::Pcma => codecs.enable_pcma(true, false),
        }
        codecs.add_config(
            BROWSER_EVENT_PT.into(),
            None,
            Codec::Tele,
            Frequency::EIGHT_KHZ,
            None,
            FormatParams {
                telephone_event_max: Some(16),
                ..FormatParams::default()
            },
        );
        let mut rtc = config.build(now);
        let host = Candidate::host(candidate, "udp")
            .map_err(|e| MediaError::WebRtc(format!("bad advertised address: {e}")))?;
        rtc.add_local_candidate(host);
        Ok(rtc)
    }
}

/// The first G.711 codec in a browser's SDP, in its order of preference.
pub(crate) fn first_g711(params: impl IntoIterator<Item = PayloadParams>) -> Option<G711> {
    params.into_iter().find_map(|p| match p.spec().codec {
        Codec::PCMU => Some(G711::Pcmu),
        Codec::PCMA => Some(G711::Pcma),
        _ => None,
    })
}

/// The browser's payload type for `telephone-event/8000`.
pub(crate) fn event_pt(params: impl IntoIterator<Item = PayloadParams>) -> Option<u8> {
    params.into_iter().find_map(|p| {
        let spec = p.spec();
        (spec.codec == Codec::Tele && spec.clock_rate == Frequency::EIGHT_KHZ).then(|| *p.pt())
    })
}
