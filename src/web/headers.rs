//! The `headers` option: what every request to the signing backend carries
//! besides its own headers, such as `Authorization: Bearer …`. Presigned
//! part URLs need none.
//!
//! An object is sent as it is. A function is called (and awaited) before
//! each request with `{ refresh: false, endpoint }`, and after a 401 with
//! `{ refresh: true, endpoint }`, when the request is retried once with what
//! it gives then: a token refreshed mid-upload. `endpoint` is the backend
//! the request goes to, for a page with more than one (`clearPending`
//! aborts uploads at each stored upload's own).
//!
//! ```js
//! new Upload(file, {
//!   endpoint: "/api/s3",
//!   headers: async ({ refresh }) => ({
//!     authorization: `Bearer ${refresh ? await auth.refresh() : await auth.token()}`,
//!   }),
//! });
//! ```

use js_sys::{Array, Function, Object, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::deadline::within;
use super::js::{present, Builder};
use crate::error::Error;
use crate::options::header_problem;

/// How long a `headers` function may take to give its headers.
const PROVIDER_TIMEOUT_MS: u32 = 30_000;

/// The `headers` option, read.
#[derive(Debug, Clone, Default)]
pub enum BackendHeaders {
    /// No extra headers.
    #[default]
    None,
    /// An object of string values, sent with every request.
    Fixed(JsValue),
    /// A function giving such an object (or a promise of one).
    Provider(Function),
}

impl BackendHeaders {
    /// Reads the option: absent, a plain object of string values `fetch`
    /// takes as headers, or a function (whose result is checked the same
    /// way, each time).
    pub fn parse(value: &JsValue) -> Result<Self, Error> {
        if !present(value) {
            return Ok(BackendHeaders::None);
        }
        if let Some(function) = value.dyn_ref::<Function>() {
            return Ok(BackendHeaders::Provider(function.clone()));
        }
        string_values(value)
            .map(|()| BackendHeaders::Fixed(value.clone()))
            .map_err(|reason| Error::invalid_option("headers", reason))
    }

    /// Whether asking again may give other headers (a function).
    pub fn refreshes(&self) -> bool {
        matches!(self, BackendHeaders::Provider(_))
    }

    /// The headers of the next request to `endpoint`, if any; `refresh`
    /// after a 401.
    pub async fn current(&self, refresh: bool, endpoint: &str) -> Result<Option<JsValue>, Error> {
        match self {
            BackendHeaders::None => Ok(None),
            BackendHeaders::Fixed(object) => Ok(Some(object.clone())),
            BackendHeaders::Provider(function) => {
                provided(function, refresh, endpoint).await.map(Some)
            }
        }
    }
}

/// Calls the function and awaits what it gives, within the bound: a plain
/// object of valid headers, else [`Error::HeadersFailed`].
async fn provided(function: &Function, refresh: bool, endpoint: &str) -> Result<JsValue, Error> {
    let failed = |detail: String| Error::HeadersFailed { detail };
    let context = Builder::new()
        .set("refresh", &refresh.into())
        .set("endpoint", &endpoint.into())
        .done();
    let given = function
        .call1(&JsValue::UNDEFINED, &context)
        .map_err(|e| failed(super::js_error::describe(&e)))?;
    let settled = within(
        PROVIDER_TIMEOUT_MS,
        JsFuture::from(Promise::resolve(&given)),
    );
    let value = settled
        .await
        .ok_or_else(|| failed(format!("it did not settle within {PROVIDER_TIMEOUT_MS} ms")))?
        .map_err(|e| failed(super::js_error::describe(&e)))?;
    if !present(&value) {
        // A function that forgot its `return`, or a getter signed out:
        // without credentials the backend's 401 would hide it.
        return Err(failed(
            "it gave nothing (undefined or null): give {} for no headers".into(),
        ));
    }
    string_values(&value).map_err(|reason| failed(["its result: ", &reason].concat()))?;
    Ok(value)
}

/// `Ok` for a plain object (its prototype `Object.prototype`, of any
/// realm, or `null`: not a `Headers` or a `Map`, whose entries are no
/// fields) of string values that `fetch` takes as headers
/// ([`header_problem`]); else why not.
fn string_values(value: &JsValue) -> Result<(), String> {
    let plain = value.is_object()
        && match Object::get_prototype_of(value) {
            proto if proto.is_null() => true,
            proto => Object::get_prototype_of(&proto).is_null(),
        };
    if !plain {
        return Err("must be a plain object of string values (not a Headers or a Map)".into());
    }
    for entry in Object::entries(value.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let name = pair.get(0).as_string().unwrap_or_default();
        let Some(text) = pair.get(1).as_string() else {
            return Err(["the value of \"", &name, "\" must be a string"].concat());
        };
        if let Some(problem) = header_problem(&name, &text) {
            return Err(problem);
        }
    }
    Ok(())
}
