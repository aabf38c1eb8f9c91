//! The link as this browser last measured it, per signing backend: an
//! `Upload` that had the link to itself notes the rate its parts went at
//! (in `localStorage`, key `resupload:link:<endpoint>`), and a later fresh
//! upload's part size follows it
//! ([`part_size::for_link`](crate::core::part_size::for_link)).
//!
//! The entry is two whole numbers, bytes per second and when (ms since the
//! epoch): nothing secret, no URL. A rate older than [`MAX_AGE_MS`] is
//! ignored (the laptop may be on another network by then). Without
//! `localStorage` (a worker, storage blocked) nothing is noted or recalled,
//! and parts keep the default size.

use crate::core::text::{decimal, parse_decimal, split_at_byte};

const PREFIX: &str = "resupload:link:";
/// How long a measured rate is used.
pub const MAX_AGE_MS: f64 = 24.0 * 3600.0 * 1000.0;

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Notes that uploads to `endpoint` went at `bytes_per_second` just now.
pub fn note(endpoint: &str, bytes_per_second: f64) {
    if let Some(storage) = storage() {
        // Integers only: formatting and parsing floats costs kilobytes.
        let rate = decimal(bytes_per_second as u64);
        let value = [&rate, " ", &decimal(js_sys::Date::now() as u64)].concat();
        // A full or blocked storage only means no hint next time.
        let _ = storage.set_item(&[PREFIX, endpoint].concat(), &value);
    }
}

/// The rate last noted for `endpoint` (bytes per second), if recent.
pub fn recall(endpoint: &str) -> Option<f64> {
    let value = storage()?.get_item(&[PREFIX, endpoint].concat()).ok()??;
    let (rate, at) = split_at_byte(&value, b' ')?;
    let (rate, at) = (parse_decimal(rate)?, parse_decimal(at)?);
    let age = js_sys::Date::now() - at as f64;
    (0.0..MAX_AGE_MS).contains(&age).then_some(rate as f64)
}
