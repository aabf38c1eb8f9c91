//! What resupload cannot do without, checked once at `new Upload()`: a
//! browser that lacks one of these gets `UNSUPPORTED_BROWSER` naming it,
//! never a hang halfway. What it can do without degrades instead (no
//! IndexedDB: records in memory; no Web Locks: no cross-tab lock; no
//! Worker or WebCrypto: hashing on the page with sha2).

use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// Each feature's name, and its path from the global object.
const REQUIRED: [(&str, &[&str]); 5] = [
    ("fetch", &["fetch"]),
    ("AbortController", &["AbortController"]),
    ("XMLHttpRequest", &["XMLHttpRequest"]),
    ("Blob.prototype.slice", &["Blob", "prototype", "slice"]),
    (
        "Blob.prototype.arrayBuffer",
        &["Blob", "prototype", "arrayBuffer"],
    ),
];

/// The first required feature this page lacks, named as in JavaScript.
pub fn missing_feature() -> Option<&'static str> {
    REQUIRED
        .iter()
        .find(|(_, path)| !present(path))
        .map(|(name, _)| *name)
}

fn present(path: &[&str]) -> bool {
    let mut value: JsValue = js_sys::global().into();
    for name in path {
        value = Reflect::get(&value, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        if value.is_undefined() || value.is_null() {
            return false;
        }
    }
    true
}
