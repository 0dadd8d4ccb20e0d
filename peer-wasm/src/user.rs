//! The person's identity: the user key pair, one per browser profile.
//!
//! Its seed lives in `localStorage`, so every tab of this browser is the
//! same person (each tab still runs its own node, with its own node key in
//! `sessionStorage`). The seed moves to another browser as a text blob
//! sealed with a passphrase: PBKDF2-SHA-256 (600,000 iterations) derives an
//! AES-GCM key. The crypto runs in the browser's WebCrypto, from a small
//! JS module, so that no cipher code grows the wasm.

use crate::inbox::Inbox;
use crate::input::{Input, PhoneOp};
use crate::storage::random_bytes;
use crate::urls::{seed_from_hex, to_hex};
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::StorageEvent;

const USER_KEY: &str = "chordphone.user";

#[wasm_bindgen(inline_js = r#"
const TAG = "chordphone-identity-1:";
const enc = new TextEncoder();
async function key(pass, salt) {
  const base = await crypto.subtle.importKey("raw", enc.encode(pass), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations: 600000 },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}
export async function seal(seed, pass) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await key(pass, salt), seed));
  const all = new Uint8Array(28 + ct.length);
  all.set(salt); all.set(iv, 16); all.set(ct, 28);
  return TAG + btoa(String.fromCharCode(...all));
}
export async function unseal(blob, pass) {
  const text = String(blob).replace(/\s+/g, "");
  if (!text.startsWith(TAG)) throw new Error("This is not a chordphone identity: copy the whole text, starting with " + TAG);
  let all;
  try { all = Uint8Array.from(atob(text.slice(TAG.length)), c => c.charCodeAt(0)); } catch (_) { all = new Uint8Array(0); }
  if (all.length !== 28 + 32 + 16) throw new Error("This identity text is damaged or incomplete: copy it again, all of it.");
  let seed;
  try {
    seed = await crypto.subtle.decrypt({ name: "AES-GCM", iv: all.slice(16, 28) }, await key(pass, all.slice(0, 16)), all.slice(28));
  } catch (_) {
    throw new Error("Wrong passphrase: this identity was saved with a different one.");
  }
  return new Uint8Array(seed);
}
"#)]
extern "C" {
    /// The sealed text of a 32-byte seed (a Promise of a string).
    fn seal(seed: &Uint8Array, pass: &str) -> Promise;
    /// The seed in a sealed text (a Promise of a Uint8Array); rejects with
    /// a plain-words `Error`.
    fn unseal(blob: &str, pass: &str) -> Promise;
}

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The user seed of this browser, made (and kept) on first use. Without
/// `localStorage` the person is new on every load.
pub fn seed() -> Result<[u8; 32], JsValue> {
    let store = local();
    if let Some(seed) = store
        .as_ref()
        .and_then(|s| s.get_item(USER_KEY).ok().flatten())
        .and_then(|hex| seed_from_hex(&hex))
    {
        return Ok(seed);
    }
    let fresh = random_bytes::<32>()?;
    if let Some(s) = &store {
        let _ = s.set_item(USER_KEY, &to_hex(&fresh));
    }
    Ok(fresh)
}

/// Keeps an imported seed: this browser is that person from now on.
pub fn replace(seed: &[u8; 32]) {
    if let Some(s) = local() {
        let _ = s.set_item(USER_KEY, &to_hex(seed));
    }
}

/// `exportIdentity(passphrase)`: a Promise of the sealed text.
pub fn export(pass: &str) -> Result<Promise, &'static str> {
    if pass.is_empty() {
        return Err("Choose a passphrase to protect your identity.");
    }
    let seed = seed().map_err(|_| "This browser cannot make an identity.")?;
    Ok(seal(&Uint8Array::from(&seed[..]), pass))
}

/// Opens a sealed text: the seed, or the plain-words reason it failed.
pub async fn open(blob: &str, pass: &str) -> Result<[u8; 32], JsValue> {
    let v = wasm_bindgen_futures::JsFuture::from(unseal(blob, pass)).await?;
    let bytes = Uint8Array::new(&v).to_vec();
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| js_sys::Error::new("This identity text is damaged.").into())
}

/// Follows an import made in another tab of this browser (the `storage`
/// event fires in every other tab of the origin): the person changes
/// everywhere at once.
pub fn follow(inbox: &Inbox<Input>) -> Option<()> {
    let window = web_sys::window()?;
    let i = inbox.clone();
    let f = Closure::<dyn FnMut(StorageEvent)>::new(move |ev: StorageEvent| {
        if ev.key().as_deref() != Some(USER_KEY) {
            return;
        }
        if let Some(seed) = ev.new_value().and_then(|hex| seed_from_hex(&hex)) {
            i.push_control(Input::Phone(PhoneOp::User(seed), None));
        }
    });
    window
        .add_event_listener_with_callback("storage", f.as_ref().unchecked_ref())
        .ok()?;
    // The listener lives as long as the page.
    f.forget();
    Some(())
}
