//! Reading the JavaScript options object by name, with a typed error for
//! each bad value: the options of [`crate::options::by_name`], then
//! `retryDelays` and `metadata`, then the callbacks of
//! [`CALLBACKS`].

use js_sys::{Array, Function};
use wasm_bindgen::{JsCast, JsValue};

use super::events::{JsEvents, CALLBACKS};
use super::headers::BackendHeaders;
use super::js::{as_whole, present, string_entries, EntriesProblem};
use super::js_error::describe;
use crate::core::retry::RetryPolicy;
use crate::error::Error;
use crate::options::{by_name, check_expires_after, UploadOptions, DEFAULT_EXPIRES_AFTER_MS};
use crate::pending::Lookup;

/// The options object's fields, read.
#[derive(Debug)]
pub struct ParsedOptions {
    /// The upload options.
    pub options: UploadOptions,
    /// The callbacks.
    pub events: JsEvents,
    /// The backend's extra headers.
    pub headers: BackendHeaders,
}

/// `object[option]`: `undefined` when `object` is not an object. A getter
/// or a Proxy that throws is that option's [`ErrorKind::InvalidOption`] (read
/// as absent, it would run with the default without a word).
pub(super) fn option_value(object: &JsValue, option: &'static str) -> Result<JsValue, Error> {
    if !(object.is_object() || object.is_function()) {
        return Ok(JsValue::UNDEFINED);
    }
    js_sys::Reflect::get(object, &JsValue::from_str(option))
        .map_err(|e| Error::invalid_option(option, ["reading it threw: ", &describe(&e)].concat()))
}

/// `object[option]` as a whole, non-negative number, `None` when absent.
pub(super) fn whole_option(object: &JsValue, option: &'static str) -> Result<Option<u64>, Error> {
    let value = option_value(object, option)?;
    if !present(&value) {
        return Ok(None);
    }
    as_whole(&value)
        .map(Some)
        .ok_or_else(|| Error::invalid_option(option, "must be a whole, non-negative number"))
}

/// `object[option]` as a string, `None` when absent.
fn text_option(object: &JsValue, option: &'static str) -> Result<Option<String>, Error> {
    let value = option_value(object, option)?;
    if !present(&value) {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| Error::invalid_option(option, "must be a string"))
}

/// `object[option]` as `true` or `false`, `None` when absent.
fn flag_option(object: &JsValue, option: &'static str) -> Result<Option<bool>, Error> {
    let value = option_value(object, option)?;
    if !present(&value) {
        return Ok(None);
    }
    value
        .as_bool()
        .map(Some)
        .ok_or_else(|| Error::invalid_option(option, "must be true or false"))
}

/// `object[option]` as a function, `None` when absent.
pub(super) fn callback(object: &JsValue, option: &'static str) -> Result<Option<Function>, Error> {
    let value = option_value(object, option)?;
    if !present(&value) {
        return Ok(None);
    }
    value
        .dyn_into::<Function>()
        .map(Some)
        .map_err(|_| Error::invalid_option(option, "must be a function"))
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
    string_entries(value).map_err(|problem| {
        let reason = match problem {
            EntriesProblem::NotPlain => {
                "must be a plain object of string values, not a Map, an \
                                         array or a class's instance (give Object.fromEntries(map))"
                    .to_owned()
            }
            EntriesProblem::NotString(name) => {
                ["the value of \"", &name, "\" must be a string"].concat()
            }
            EntriesProblem::Threw(e) => ["reading it threw: ", &describe(&e)].concat(),
        };
        Error::invalid_option("metadata", reason)
    })
}

/// Reads an options object (`{endpoint, partSize, ...}`).
pub fn parse(value: &JsValue) -> Result<ParsedOptions, Error> {
    if !value.is_object() {
        return Err(Error::invalid_option(
            "endpoint",
            "options must be an object with at least { endpoint: \"/api/s3\" }",
        ));
    }
    let mut options = UploadOptions::new(text_option(value, "endpoint")?.unwrap_or_default());
    for (name, set) in by_name::WHOLE {
        if let Some(n) = whole_option(value, name)? {
            set(&mut options, n);
        }
    }
    for (name, set) in by_name::TEXT {
        if let Some(text) = text_option(value, name)? {
            set(&mut options, text)?;
        }
    }
    for (name, set) in by_name::FLAGS {
        if let Some(flag) = flag_option(value, name)? {
            set(&mut options, flag);
        }
    }
    if let Some(policy) = retry_delays(&option_value(value, "retryDelays")?)? {
        options.retry = policy;
    }
    options.metadata = metadata(&option_value(value, "metadata")?)?;
    let mut events = JsEvents::default();
    for (name, set) in CALLBACKS {
        if let Some(function) = callback(value, name)? {
            set(&mut events, function);
        }
    }
    let headers = BackendHeaders::parse(&option_value(value, "headers")?)?;
    Ok(ParsedOptions {
        options,
        events,
        headers,
    })
}

/// Reads `{ namespace, endpoint, expiresAfter }` of the static calls (all
/// optional; `undefined` or `null` looks at everything). Anything else
/// that is not an object, such as a bare namespace string, is refused: read
/// as no namespace, it would reach every stored upload. So is a
/// `namespace` property whose value is `undefined` or `null` (a user not
/// signed in yet): it is the default namespace `""`, as `new Upload` reads
/// it, and only an object without the property looks at every namespace.
pub fn parse_lookup(value: &JsValue) -> Result<Lookup, Error> {
    if present(value) && (!value.is_object() || Array::is_array(value)) {
        return Err(Error::invalid_option(
            "namespace",
            "the options must be an object, such as { namespace: \"user-42\" }",
        ));
    }
    let expires_after_ms =
        whole_option(value, "expiresAfter")?.map_or(DEFAULT_EXPIRES_AFTER_MS, |ms| ms as f64);
    check_expires_after(expires_after_ms)?;
    let named = present(value)
        && js_sys::Reflect::has(value, &"namespace".into())
            .map_err(|_| Error::invalid_option("namespace", "the options could not be read"))?;
    let namespace = match text_option(value, "namespace")? {
        None if named => Some(String::new()),
        namespace => namespace,
    };
    Ok(Lookup {
        namespace,
        endpoint: text_option(value, "endpoint")?,
        expires_after_ms,
    })
}
