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

use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::deadline::within;
use super::js::{present, string_entries, Builder, EntriesProblem};
use super::js_error::describe;
use crate::core::text::decimal;
use crate::error::{Error, ErrorKind};
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
            .map(|_| BackendHeaders::Fixed(value.clone()))
            .map_err(|reason| Error::invalid_option("headers", reason))
    }

    /// Whether asking again may give other headers (a function).
    pub fn refreshes(&self) -> bool {
        matches!(self, BackendHeaders::Provider(_))
    }

    /// The headers of the next request to `endpoint` (name, value);
    /// `refresh` after a 401. An object is read again each time (a getter
    /// gives its current value); one that no longer reads as headers fails
    /// the run, as a function's result does.
    pub async fn current(
        &self,
        refresh: bool,
        endpoint: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        match self {
            BackendHeaders::None => Ok(Vec::new()),
            BackendHeaders::Fixed(object) => string_values(object).map_err(|reason| {
                ErrorKind::HeadersFailed {
                    detail: ["the headers object: ", &reason].concat(),
                }
                .into()
            }),
            BackendHeaders::Provider(function) => provided(function, refresh, endpoint).await,
        }
    }
}

/// Calls the function and awaits what it gives, within the bound: a plain
/// object of valid headers, else [`ErrorKind::HeadersFailed`].
async fn provided(
    function: &Function,
    refresh: bool,
    endpoint: &str,
) -> Result<Vec<(String, String)>, Error> {
    let failed = |detail: String| Error::from(ErrorKind::HeadersFailed { detail });
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
        .ok_or_else(|| {
            failed(
                [
                    "it did not settle within ",
                    &decimal(PROVIDER_TIMEOUT_MS.into()),
                    " ms",
                ]
                .concat(),
            )
        })?
        .map_err(|e| failed(super::js_error::describe(&e)))?;
    if !present(&value) {
        // A function that forgot its `return`, or a getter signed out:
        // without credentials the backend's 401 would hide it.
        return Err(failed(
            "it gave nothing (undefined or null): give {} for no headers".into(),
        ));
    }
    string_values(&value).map_err(|reason| failed(["its result: ", &reason].concat()))
}

/// The headers of a plain object (its prototype `Object.prototype`, of
/// any realm, or `null`: not a `Headers` or a `Map`, whose entries are no
/// fields) of string values that `fetch` takes as headers
/// ([`header_problem`]), read once; else why not. `accept` and
/// `content-type` are left out, in any case: the backend's calls are JSON,
/// and `fetch` would join a page's value to the library's own.
fn string_values(value: &JsValue) -> Result<Vec<(String, String)>, String> {
    let entries = string_entries(value).map_err(|problem| match problem {
        EntriesProblem::NotPlain => {
            "must be a plain object of string values (not a Headers or a Map)".to_owned()
        }
        EntriesProblem::NotString(name) => {
            ["the value of \"", &name, "\" must be a string"].concat()
        }
        EntriesProblem::Threw(e) => ["reading it threw: ", &describe(&e)].concat(),
    })?;
    let mut out = Vec::new();
    for (name, text) in entries {
        if let Some(problem) = header_problem(&name, &text) {
            return Err(problem);
        }
        if !(name.eq_ignore_ascii_case("accept") || name.eq_ignore_ascii_case("content-type")) {
            out.push((name, text));
        }
    }
    Ok(out)
}
