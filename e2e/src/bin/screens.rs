//! Screenshots of the app as people see it, for checking by eye: the real
//! server, six tabs in two browsers, one ring. Writes PNGs to
//! `target/screens/` (or the directory given as the first argument):
//! `ring.png` (a tab in the ring), `lookup.png` (after a lookup from the
//! page), `joining.png` (a tab before it chose a name), and the phone:
//! `phone-register.png`, `phone-taken.png` (a name someone else holds),
//! `phone-dialer.png`, `phone-contacts.png` (contacts online, busy and
//! offline), `phone-bad-name.png`, `phone-calling.png`, `phone-incoming.png`,
//! `phone-call.png` (both sides talking), `phone-waiting.png` (a second call
//! comes in), `phone-held.png`, `phone-chat.png`, `phone-not-registered.png`
//! (a call to a name nobody has), `phone-settings.png`.
//!
//! ```text
//! bash scripts/screens.sh [DIR]
//! ```

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::media::{TONE_A_HZ, TONE_B_HZ};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::wait::until;
use core::time::Duration;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// A laptop screen: the whole ring card fits.
const SIZE: (u32, u32) = (1280, 1400);
/// A phone held upright.
const PHONE: (u32, u32) = (420, 860);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/screens".to_owned()),
    );
    match run(&dir).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("screens: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(dir: &std::path::Path) -> chordphone_e2e::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let server = Server::start("screens", ServerOpts::default()).await?;
    let driver = Chromedriver::start().await?;
    let (browsers, tabs) = two_phones(&driver, &server, "screens", 6).await?;
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    cluster
        .wait_ring("6 tabs and the server in one ring")
        .await?;
    let save = |name: &str, png: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, png).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
        Ok::<(), String>(())
    };
    phone(&tabs, &save).await?;
    tabs[0]
        .execute(
            "document.getElementById('network').open = true; return true;",
            vec![],
        )
        .await?;
    save("ring.png", tabs[0].screenshot(SIZE).await?)?;
    // A lookup typed on the page, as a person would.
    tabs[0]
        .execute(
            "const f = document.getElementById('lookup-form');\
             document.getElementById('key').value = arguments[0];\
             f.requestSubmit(); return true;",
            vec![json!("alice")],
        )
        .await?;
    shows(
        &tabs[0],
        "return document.getElementById('lookup-result').innerText.length > 0;",
    )
    .await?;
    save("lookup.png", tabs[0].screenshot(SIZE).await?)?;
    let fresh = browsers[1]
        .open_page("screens-new", &format!("{}/", server.base_url()))
        .await?;
    shows(
        &fresh,
        "return typeof window.chordphone === 'object' && \
         document.getElementById('state').innerText !== 'Loading…';",
    )
    .await?;
    save("joining.png", fresh.screenshot(SIZE).await?)?;
    Ok(())
}

/// The phone's screens: alice (tab 0) and bob (tab 1) in two browsers,
/// carol (tab 2, alice's browser: the same person, another name).
async fn phone(
    tabs: &[Tab],
    save: &impl Fn(&str, Vec<u8>) -> Result<(), String>,
) -> chordphone_e2e::Result<()> {
    let (alice, bob, carol) = (&tabs[0], &tabs[1], &tabs[2]);
    save("phone-register.png", alice.screenshot(PHONE).await?)?;
    // Registering from the page, as a person would.
    type_into(alice, "reg-form", "reg-name", "alice").await?;
    shows(alice, "return !!window.chordphone.status().aor;").await?;
    bob.register("bob").await?;
    carol.register("carol").await?;
    type_into(&tabs[3], "reg-form", "reg-name", "alice").await?;
    shows(
        &tabs[3],
        "return document.getElementById('reg-status').innerText.length > 0 &&          !document.getElementById('reg-status').innerText.startsWith('Registering');",
    )
    .await?;
    save("phone-taken.png", tabs[3].screenshot(PHONE).await?)?;
    save("phone-dialer.png", alice.screenshot(PHONE).await?)?;

    // Contacts, added from the page, with what their devices say (carol's
    // tab shares alice's identity, so it shares her list too).
    alice
        .execute(
            "document.getElementById('contact-label').value = 'Bob Builder'; return true;",
            vec![],
        )
        .await?;
    for name in ["bob", "carol", "dave"] {
        type_into(alice, "contact-form", "contact-target", name).await?;
    }
    carol.call("presence", vec![json!("busy")]).await?;
    shows(
        alice,
        "const n = s => document.querySelectorAll('#contact-list li[data-presence=\"' + s + '\"]').length;          return n('online') == 1 && n('busy') == 1 && n('offline') == 1;",
    )
    .await?;
    save("phone-contacts.png", alice.screenshot(PHONE).await?)?;

    // A name that cannot be one.
    type_into(alice, "dial-form", "dial-target", "Bob Smith!").await?;
    shows(
        alice,
        "return document.getElementById('phone-notice').innerText.length > 0;",
    )
    .await?;
    save("phone-bad-name.png", alice.screenshot(PHONE).await?)?;

    // A call to a name nobody registered.
    type_into(alice, "dial-form", "dial-target", "nobody").await?;
    shows(
        alice,
        "return document.getElementById('dial-status').innerText.length > 0;",
    )
    .await?;
    save("phone-not-registered.png", alice.screenshot(PHONE).await?)?;

    // Alice calls bob.
    type_into(alice, "dial-form", "dial-target", "bob").await?;
    let incoming = bob.wait_incoming("alice").await?;
    save("phone-calling.png", alice.screenshot(PHONE).await?)?;
    save("phone-incoming.png", bob.screenshot(PHONE).await?)?;
    click(bob, "answer-btn").await?;
    bob.wait_state(&incoming.id, "active").await?;
    bob.wait_media_flows(&incoming.id).await?;
    shows(
        alice,
        "return document.getElementById('call-quality').innerText.includes('RTT');",
    )
    .await?;
    // Each side sees and hears the other before the picture is taken.
    alice.wait_hears(TONE_B_HZ).await?;
    bob.wait_hears(TONE_A_HZ).await?;
    save("phone-call.png", alice.screenshot(PHONE).await?)?;
    save("phone-call-bob.png", bob.screenshot(PHONE).await?)?;

    // Carol calls bob while he talks to alice.
    carol.dial("bob").await?;
    let second = bob.wait_incoming("carol").await?;
    save("phone-waiting.png", bob.screenshot(PHONE).await?)?;
    click(bob, "waiting-answer").await?;
    bob.wait_state(&second.id, "active").await?;
    bob.wait_state(&incoming.id, "held").await?;
    save("phone-held.png", bob.screenshot(PHONE).await?)?;
    save("phone-held-alice.png", alice.screenshot(PHONE).await?)?;
    bob.act("hangup", Some(&second.id)).await?;
    bob.act("hangup", Some(&incoming.id)).await?;
    alice.wait_idle().await?;

    // Messages.
    bob.message("alice", "Are you free at six?").await?;
    alice.message("bob", "Yes, see you then").await?;
    let _ = alice.message("nobody", "hello?").await;
    alice
        .execute(
            "document.getElementById('dial-target').value = 'bob';              document.getElementById('chat-open').click(); return true;",
            vec![],
        )
        .await?;
    shows(
        alice,
        "return document.querySelectorAll('#chat-list li').length >= 2;",
    )
    .await?;
    save("phone-chat.png", alice.screenshot(PHONE).await?)?;
    alice
        .execute(
            "const d = document.getElementById('settings'); d.open = true;              document.getElementById('id-pass').value = 'correct horse';              document.getElementById('id-export').click(); d.scrollIntoView(); return true;",
            vec![],
        )
        .await?;
    shows(
        alice,
        "return document.getElementById('id-blob').value.length > 0;",
    )
    .await?;
    save("phone-settings.png", alice.screenshot(PHONE).await?)?;
    alice
        .execute(
            "document.getElementById('settings').open = false; window.scrollTo(0, 0); return true;",
            vec![],
        )
        .await?;
    Ok(())
}

/// Types `text` into the input `input` and submits `form`, as a person would.
async fn type_into(tab: &Tab, form: &str, input: &str, text: &str) -> chordphone_e2e::Result<()> {
    tab.execute(
        "document.getElementById(arguments[1]).value = arguments[2];          document.getElementById(arguments[0]).requestSubmit(); return true;",
        vec![json!(form), json!(input), json!(text)],
    )
    .await
    .map(drop)
}

/// Clicks the button `id`.
async fn click(tab: &Tab, id: &str) -> chordphone_e2e::Result<()> {
    tab.execute(
        "document.getElementById(arguments[0]).click(); return true;",
        vec![json!(id)],
    )
    .await
    .map(drop)
}

/// Waits until `script` returns `true` in `tab`.
async fn shows(tab: &Tab, script: &str) -> chordphone_e2e::Result<()> {
    until(
        "the page to show it",
        Duration::from_secs(30),
        async || match tab.execute(script, vec![]).await? {
            Value::Bool(true) => Ok(()),
            other => Err(format!("not yet: {other}")),
        },
    )
    .await
}
