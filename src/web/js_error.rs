//! Errors across the JavaScript boundary.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::Error;

/// Turns an [`Error`] into a JavaScript `Error` named `ResuploadError` with a
/// `code` property (and `status` for HTTP errors).
pub fn to_js(error: &Error) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name("ResuploadError");
    let _ = Reflect::set(&js, &"code".into(), &error.code().into());
    if let Some(status) = error.status() {
        let _ = Reflect::set(&js, &"status".into(), &status.into());
    }
    js.into()
}

/// A short text for a thrown JavaScript value (an `Error`'s name and message,
/// or the value as a string).
pub fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        let name = String::from(error.name());
        let message = String::from(error.message());
        return format!("{name}: {message}");
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
