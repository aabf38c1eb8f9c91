//! Reading the JavaScript options object, with a typed error for each bad
//! value.

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use super::events::JsEvents;
use crate::core::plan::MAX_SAFE_INTEGER;
use crate::core::retry::RetryPolicy;
use crate::error::Error;
use crate::options::{ChecksumMode, UploadOptions};

/// The options object's fields, read.
#[derive(Debug)]
pub struct ParsedOptions {
    /// The upload options.
    pub options: UploadOptions,
    /// The callbacks.
    pub events: JsEvents,
}

fn field(object: &JsValue, name: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn present(value: &JsValue) -> bool {
    !value.is_undefined() && !value.is_null()
}

/// `object[option]` as a whole number, `None` when absent.
fn whole_number(object: &JsValue, option: &'static str) -> Result<Option<u64>, Error> {
    let value = &field(object, option);
    if !present(value) {
        return Ok(None);
    }
    match value.as_f64() {
        Some(n)
            if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER as f64 =>
        {
            Ok(Some(n as u64))
        }
        _ => Err(Error::invalid_option(
            option,
            "must be a whole, non-negative number",
        )),
    }
}

/// `object[option]` as a string, `None` when absent.
fn string(object: &JsValue, option: &'static str) -> Result<Option<String>, Error> {
    let value = &field(object, option);
    if !present(value) {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| Error::invalid_option(option, "must be a string"))
}

/// `object[option]` as a function, `None` when absent.
fn callback(object: &JsValue, option: &'static str) -> Result<Option<Function>, Error> {
    let value = &field(object, option);
    if !present(value) {
        return Ok(None);
    }
    value
        .dyn_ref::<Function>()
        .cloned()
        .map(Some)
        .ok_or_else(|| Error::invalid_option(option, "must be a function"))
}

fn retry_delays(value: &JsValue) -> Result<Option<RetryPolicy>, Error> {
    if !present(value) {
        return Ok(None);
    }
    let reason = "must be an array of delays in milliseconds, such as [0, 1000, 3000, 5000]";
    let array = value
        .dyn_ref::<Array>()
        .ok_or_else(|| Error::invalid_option("retryDelays", reason))?;
    let mut delays = Vec::with_capacity(array.length() as usize);
    for item in array.iter() {
        match item.as_f64() {
            Some(ms) if ms.is_finite() && ms >= 0.0 && ms <= f64::from(u32::MAX) => {
                delays.push(ms.round() as u32)
            }
            _ => return Err(Error::invalid_option("retryDelays", reason)),
        }
    }
    Ok(Some(RetryPolicy::new(delays)))
}

fn metadata(value: &JsValue) -> Result<Vec<(String, String)>, Error> {
    if !present(value) {
        return Ok(Vec::new());
    }
    if !value.is_object() || value.is_function() || Array::is_array(value) {
        return Err(Error::invalid_option(
            "metadata",
            "must be an object of string values",
        ));
    }
    let mut out = Vec::new();
    for entry in Object::entries(value.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let name = pair.get(0).as_string().unwrap_or_default();
        let Some(text) = pair.get(1).as_string() else {
            return Err(Error::invalid_option(
                "metadata",
                ["the value of \"", &name, "\" must be a string"].concat(),
            ));
        };
        out.push((name, text));
    }
    Ok(out)
}

/// Reads an options object (`{endpoint, partSize, ...}`).
pub fn parse(value: &JsValue) -> Result<ParsedOptions, Error> {
    if !value.is_object() {
        return Err(Error::invalid_option(
            "endpoint",
            "options must be an object with at least { endpoint: \"/api/s3\" }",
        ));
    }
    let endpoint = string(value, "endpoint")?.unwrap_or_default();
    let mut options = UploadOptions::new(endpoint);
    // Read in a loop, in this order (the first bad one is the error): one
    // copy of the reading code instead of one per option.
    let mut numbers = [None; 6];
    for (number, name) in numbers.iter_mut().zip([
        "partSize",
        "concurrency",
        "maxObjectSize",
        "expiresAfter",
        "expiryWarning",
        "stallTimeout",
    ]) {
        *number = whole_number(value, name)?;
    }
    let [part_size, concurrency, max_object_size, expires_after, expiry_warning, stall_timeout] =
        numbers;
    if let Some(size) = part_size {
        options.part_size = size;
    }
    if let Some(n) = concurrency {
        options.concurrency = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(max) = max_object_size {
        options.max_object_size = max;
    }
    if let Some(ms) = expires_after {
        options.expires_after_ms = ms as f64;
    }
    if let Some(ms) = expiry_warning {
        options.expiry_warning_ms = ms as f64;
    }
    if let Some(ms) = stall_timeout {
        options.stall_timeout_ms = u32::try_from(ms).unwrap_or(u32::MAX);
    }
    match string(value, "lock")?.as_deref() {
        None | Some("fail") => {}
        Some("wait") => options.wait_for_lock = true,
        Some(other) => {
            return Err(Error::invalid_option(
                "lock",
                ["\"", other, "\" is not \"fail\" or \"wait\""].concat(),
            ))
        }
    }
    match string(value, "checksum")?.as_deref() {
        None => {}
        Some("sha256") => options.checksum = ChecksumMode::Sha256,
        Some("none") => options.checksum = ChecksumMode::None,
        Some(other) => {
            return Err(Error::invalid_option(
                "checksum",
                ["\"", other, "\" is not \"sha256\" or \"none\""].concat(),
            ))
        }
    }
    let verify = field(value, "verifyOnResume");
    if present(&verify) {
        options.verify_on_resume = verify
            .as_bool()
            .ok_or_else(|| Error::invalid_option("verifyOnResume", "must be true or false"))?;
    }
    if let Some(namespace) = string(value, "namespace")? {
        options.namespace = namespace;
    }
    if let Some(policy) = retry_delays(&field(value, "retryDelays"))? {
        options.retry = policy;
    }
    options.metadata = metadata(&field(value, "metadata"))?;
    let mut callbacks: [Option<Function>; 7] = Default::default();
    for (slot, name) in callbacks.iter_mut().zip([
        "onProgress",
        "onPartComplete",
        "onResume",
        "onWarning",
        "onRestart",
        "onExpiringSoon",
        "onPartBookkeeping",
    ]) {
        *slot = callback(value, name)?;
    }
    let [on_progress, on_part_complete, on_resume, on_warning, on_restart, on_expiring_soon, on_part_bookkeeping] =
        callbacks;
    let events = JsEvents {
        on_progress,
        on_part_complete,
        on_resume,
        on_warning,
        on_restart,
        on_expiring_soon,
        on_part_bookkeeping,
        warned: Default::default(),
    };
    Ok(ParsedOptions { options, events })
}

/// Reads `{ namespace }` (and `endpoint`, when given) for the static calls.
pub fn parse_lookup(value: &JsValue) -> Result<(Option<String>, Option<String>), Error> {
    Ok((string(value, "namespace")?, string(value, "endpoint")?))
}

/// Reads `expiresAfter` (ms) of a lookup, with the default of 7 days.
pub fn parse_expires_after(value: &JsValue) -> Result<f64, Error> {
    Ok(whole_number(value, "expiresAfter")?
        .map_or(crate::options::DEFAULT_EXPIRES_AFTER_MS, |ms| ms as f64))
}
