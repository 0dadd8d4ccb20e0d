//! Chromium's own TURN client against the server's embedded relay, with
//! the run command's defaults: two peer connections in one page take their
//! ICE servers from `/ice`, are forced to relay-only, and carry a message
//! over a data channel whose selected candidate pair is relay to relay,
//! reaching the relay over UDP and over TCP. (The app's own tabs relayed
//! are in `relay_calls`.)

use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::OrPanic;

/// Resolves with `{echo, local, remote}` (the message received and the
/// selected pair's candidate types) or `{error}`. `arguments[0]` keeps only
/// the relay URLs of one transport (`udp` or `tcp`).
const RELAYED_CHANNEL: &str = r#"
const only = arguments[0];
return (async () => {
  const ice = await (await fetch('/ice')).json();
  const iceServers = ice.iceServers.map((s) =>
    ({ ...s, urls: s.urls.filter((u) => u.endsWith('?transport=' + only)) }));
  const config = { iceServers, iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(config), b = new RTCPeerConnection(config);
  a.onicecandidate = (e) => { if (e.candidate) b.addIceCandidate(e.candidate).catch(() => {}); };
  b.onicecandidate = (e) => { if (e.candidate) a.addIceCandidate(e.candidate).catch(() => {}); };
  const da = a.createDataChannel('relay', { negotiated: true, id: 0 });
  const db = b.createDataChannel('relay', { negotiated: true, id: 0 });
  const within = (ms, what) => new Promise((_, fail) => setTimeout(() => fail(new Error(what)), ms));
  try {
    const got = new Promise((ok) => { db.onmessage = (m) => ok(m.data); });
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    await Promise.race([
      new Promise((open) => { if (da.readyState === 'open') open(); else da.onopen = open; }),
      within(20000, 'data channel not open in 20 s'),
    ]);
    da.send('through the relay');
    const echo = await Promise.race([got, within(10000, 'no message in 10 s')]);
    const stats = await a.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) return { error: 'no selected candidate pair', echo };
    return {
      echo,
      local: stats.get(pair.localCandidateId).candidateType,
      remote: stats.get(pair.remoteCandidateId).candidateType,
    };
  } catch (e) {
    return { error: String(e) };
  } finally {
    a.close();
    b.close();
  }
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_relays_a_data_channel_through_the_embedded_relay() {
    let server = Server::start("relay", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let browser = Browser::launch(&driver, "a").await.or_panic();
    let tab = browser
        .open_tab("relay", &server.page_url("relay"))
        .await
        .or_panic();
    // Chromium reaches the relay over UDP, then over TCP.
    for transport in ["udp", "tcp"] {
        let result = tab
            .execute(RELAYED_CHANNEL, vec![transport.into()])
            .await
            .or_panic();
        assert_eq!(result["echo"], "through the relay", "{transport}: {result}");
        assert_eq!(result["local"], "relay", "{transport}: {result}");
        assert_eq!(result["remote"], "relay", "{transport}: {result}");
    }
    let metrics = server.metrics().await.or_panic();
    let allocated = Server::metric(&metrics, "chordphone_relay_allocated_total");
    assert!(allocated >= 4, "{metrics}");
}
