//! Errors across the JavaScript boundary.

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use crate::error::Error;

#[wasm_bindgen]
extern "C" {
    /// `String(value)`.
    #[wasm_bindgen(js_name = String, catch)]
    fn js_string(value: &JsValue) -> Result<String, JsValue>;
}

/// Turns an [`Error`] into a JavaScript `Error` named `ResuploadError` with a
/// `code` property (and `status` for HTTP errors, `key` for an object
/// stored though the upload failed).
pub fn to_js(error: &Error) -> JsValue {
    let js = js_sys::Error::new(&error.message());
    js.set_name("ResuploadError");
    let _ = Reflect::set(&js, &"code".into(), &error.code().into());
    if let Some(status) = error.status() {
        let _ = Reflect::set(&js, &"status".into(), &status.into());
    }
    if let Some(key) = error.stored_key() {
        let _ = Reflect::set(&js, &"key".into(), &key.into());
    }
    js.into()
}

/// A short text for a thrown JavaScript value: an error's name and
/// message, a string as it is, anything else as JSON or as `String(value)`.
///
/// An error is anything with a string `message`, not only an `instanceof
/// Error`: one thrown in another realm (an iframe; Firefox's WebDriver
/// scripts) is not an instance of this page's `Error`.
pub fn describe(value: &JsValue) -> String {
    if let Some(message) = super::js::string(value, "message") {
        let name = super::js::string(value, "name").unwrap_or_else(|| "Error".into());
        return [&name, ": ", &message].concat();
    }
    if let Some(text) = value.as_string() {
        return text;
    }
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|json| json.as_string())
        .or_else(|| js_string(value).ok())
        .unwrap_or_else(|| "a value that cannot be shown".into())
}
