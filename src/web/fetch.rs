//! One fetch, shared by the signing backend and the fetch part sender: the
//! request (aborted when its future is dropped: a timeout, a pause), and a
//! failed answer read once into an [`Error`] by [`crate::http::failure`].

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, RequestInit, Response};

use super::js::Builder;
use crate::error::{Error, ErrorKind, Operation};
use crate::http::{failure, Answer};

/// Aborts a fetch (or anything given its signal) when dropped; after the
/// work ended it is a no-op.
pub struct AbortOnDrop(AbortController);

impl AbortOnDrop {
    /// Aborts `controller` when dropped.
    pub fn new(controller: AbortController) -> Self {
        AbortOnDrop(controller)
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A network error of `operation` from what the browser threw.
pub fn network(operation: Operation, e: &JsValue) -> Error {
    ErrorKind::Network {
        operation,
        detail: super::js_error::describe(e),
    }
    .into()
}

/// Sends a request: `init` is a plain object (method, headers, body), to
/// which the abort signal is added. Answers the response (any status) and
/// the guard that aborts it when dropped.
pub async fn request(
    operation: Operation,
    url: &str,
    init: Builder,
) -> Result<(Response, AbortOnDrop), Error> {
    let controller = AbortOnDrop(AbortController::new().map_err(|e| network(operation, &e))?);
    let init: RequestInit = init
        .set("signal", &controller.0.signal())
        .done()
        .unchecked_into();
    let sent = fetch(url, &init).map_err(|e| network(operation, &e))?;
    let response = JsFuture::from(sent)
        .await
        .map_err(|e| network(operation, &e))?;
    Ok((response.unchecked_into(), controller))
}

/// The error a response that is not 2xx means, its body read.
pub async fn failed(response: &Response, operation: Operation, upload_id: Option<&str>) -> Error {
    let text = match response.text() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    };
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let answer = Answer {
        status: response.status(),
        body: text.as_deref().unwrap_or_default(),
        retry_after: retry_after.as_deref(),
    };
    failure(operation, upload_id, answer)
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The global `fetch` (a window's, a worker's, or any other realm's that
    /// has one); where there is none, [`request`] gives the `ReferenceError`
    /// as a `NETWORK` error.
    #[wasm_bindgen(catch)]
    fn fetch(url: &str, init: &RequestInit) -> Result<js_sys::Promise, JsValue>;
}
