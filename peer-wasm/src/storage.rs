//! What a tab keeps across reloads, in `sessionStorage`: its identity seed
//! (a reload keeps the node id; another tab gets its own storage and so is
//! another node), the display name it joined under and the phone name it
//! registered. (The person's own key is in `localStorage`: see `user`.)

use crate::urls::{seed_from_hex, to_hex};
use wasm_bindgen::JsValue;

const SEED_KEY: &str = "chordphone.seed";
const NAME_KEY: &str = "chordphone.name";
const PHONE_KEY: &str = "chordphone.phone-name";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// Fresh bytes from `crypto.getRandomValues`.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], JsValue> {
    let mut out = [0u8; N];
    let crypto = web_sys::window()
        .ok_or_else(|| JsValue::from_str("no window"))?
        .crypto()?;
    crypto.get_random_values_with_u8_array(&mut out)?;
    Ok(out)
}

/// The identity seed this tab stored (on an earlier load, or in the tab it
/// was duplicated from).
pub fn stored_seed() -> Option<[u8; 32]> {
    storage()?
        .get_item(SEED_KEY)
        .ok()
        .flatten()
        .and_then(|hex| seed_from_hex(&hex))
}

/// A fresh identity seed, stored for the next reload. Without storage
/// (blocked by the browser) the node is new on every load.
pub fn fresh_seed() -> Result<[u8; 32], JsValue> {
    let seed = random_bytes::<32>()?;
    if let Some(s) = storage() {
        // Quota or privacy errors only cost the identity's persistence.
        let _ = s.set_item(SEED_KEY, &to_hex(&seed));
    }
    Ok(seed)
}

/// The name this tab last joined under.
pub fn saved_name() -> Option<String> {
    storage()?.get_item(NAME_KEY).ok().flatten()
}

/// Remembers the name for the next reload.
pub fn save_name(name: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(NAME_KEY, name);
    }
}

/// The phone name this tab registered under (registered again on reload).
pub fn saved_phone_name() -> Option<String> {
    storage()?.get_item(PHONE_KEY).ok().flatten()
}

/// Remembers the phone name for the next reload.
pub fn save_phone_name(name: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(PHONE_KEY, name);
    }
}
