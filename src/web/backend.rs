//! The signing backend over fetch: Uppy Companion's S3 multipart routes.

use futures::future::{select, Either};
use js_sys::encode_uri_component;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Request, RequestInit, Response};

use super::events::to_js;
use crate::core::reconcile::ServerPart;
use crate::core::retry::parse_retry_after;
use crate::error::{Error, Operation};
use crate::ports::{Backend, CompleteAnswer, CompletedPart, Created};

/// A Companion-compatible backend at a base URL such as `/api/s3`.
#[derive(Debug, Clone)]
pub struct HttpBackend {
    base: String,
    timeout_ms: u32,
}

/// Aborts a fetch when dropped: on a timeout, a pause, or after its body was
/// read (then it is a no-op).
struct AbortOnDrop(AbortController);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateAnswer {
    key: String,
    upload_id: String,
    /// Present when the backend created the upload with checksums
    /// (resupload's extension; a plain Companion never sends it).
    #[serde(default)]
    checksum_algorithm: Option<String>,
}

#[derive(Deserialize)]
struct SignAnswer {
    url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompleteJson {
    location: Option<String>,
    #[serde(default)]
    checksum_sha256: Option<String>,
}

impl HttpBackend {
    /// A backend at `base` (no trailing slash).
    pub fn new(base: &str) -> Self {
        HttpBackend {
            base: base.trim_end_matches('/').to_owned(),
            timeout_ms: crate::options::DEFAULT_STALL_TIMEOUT_MS,
        }
    }

    /// The same backend, giving up on a request that has no answer after
    /// `timeout_ms` (a retryable network error).
    pub fn with_timeout(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    fn upload_url(&self, upload_id: &str, suffix: &str, key: &str) -> String {
        format!(
            "{}/multipart/{}{suffix}?key={}",
            self.base,
            encode(upload_id),
            encode(key)
        )
    }

    async fn call<T: DeserializeOwned>(
        &self,
        operation: Operation,
        method: &str,
        url: &str,
        body: Option<JsValue>,
        upload_id: Option<&str>,
    ) -> Result<T, Error> {
        let network = |e: JsValue| Error::Network {
            operation,
            detail: super::js_error::describe(&e),
        };
        let controller = AbortOnDrop(AbortController::new().map_err(network)?);
        let init = RequestInit::new();
        init.set_method(method);
        init.set_signal(Some(&controller.0.signal()));
        if let Some(body) = body {
            let text = js_sys::JSON::stringify(&body).map_err(network)?;
            init.set_body(&text);
        }
        let request = Request::new_with_str_and_init(url, &init).map_err(network)?;
        let headers = request.headers();
        headers.set("accept", "application/json").map_err(network)?;
        if method == "POST" {
            headers
                .set("content-type", "application/json")
                .map_err(network)?;
        }
        let answer = select(
            JsFuture::from(fetch(&request, operation)?),
            gloo_timers::future::TimeoutFuture::new(self.timeout_ms),
        )
        .await;
        let response: Response = match answer {
            Either::Left((answer, _)) => answer.map_err(network)?.unchecked_into(),
            Either::Right(_) => {
                return Err(Error::Network {
                    operation,
                    detail: format!("no answer within {} ms", self.timeout_ms),
                })
            }
        };
        let status = response.status();
        if !response.ok() {
            if status == 404 {
                if let Some(upload_id) = upload_id {
                    return Err(Error::NoSuchUpload {
                        upload_id: upload_id.to_owned(),
                    });
                }
            }
            let text = match response.text() {
                Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
                Err(_) => None,
            };
            return Err(Error::Http {
                operation,
                status,
                body: text.unwrap_or_default().chars().take(300).collect(),
                retry_after_ms: response
                    .headers()
                    .get("retry-after")
                    .ok()
                    .flatten()
                    .and_then(|v| parse_retry_after(&v)),
            });
        }
        let bad = |detail: String| Error::BadResponse { operation, detail };
        let json = JsFuture::from(response.json().map_err(network)?)
            .await
            .map_err(|_| bad(format!("HTTP {status} with a body that is not JSON")))?;
        serde_wasm_bindgen::from_value(json).map_err(|e| bad(format!("wrong JSON shape: {e}")))
    }
}

fn encode(text: &str) -> String {
    String::from(encode_uri_component(text))
}

fn fetch(request: &Request, operation: Operation) -> Result<js_sys::Promise, Error> {
    let global = js_sys::global();
    if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        return Ok(window.fetch_with_request(request));
    }
    if let Some(worker) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        return Ok(worker.fetch_with_request(request));
    }
    Err(Error::Network {
        operation,
        detail: "no fetch in this JavaScript environment".into(),
    })
}

impl Backend for HttpBackend {
    async fn create(
        &self,
        namespace: &str,
        file_name: &str,
        file_type: &str,
        metadata: &[(String, String)],
        checksum_algorithm: Option<&str>,
    ) -> Result<Created, Error> {
        let meta = js_sys::Object::new();
        for (name, value) in metadata {
            let _ = js_sys::Reflect::set(&meta, &name.into(), &value.into());
        }
        let body = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&body, &"filename".into(), &file_name.into());
        let _ = js_sys::Reflect::set(&body, &"type".into(), &file_type.into());
        let _ = js_sys::Reflect::set(&body, &"metadata".into(), &meta);
        let _ = js_sys::Reflect::set(&body, &"namespace".into(), &namespace.into());
        if let Some(algorithm) = checksum_algorithm {
            let _ = js_sys::Reflect::set(&body, &"checksumAlgorithm".into(), &algorithm.into());
        }
        let url = format!("{}/multipart", self.base);
        let answer: CreateAnswer = self
            .call(Operation::Create, "POST", &url, Some(body.into()), None)
            .await?;
        Ok(Created {
            key: answer.key,
            upload_id: answer.upload_id,
            checksum_algorithm: answer.checksum_algorithm,
        })
    }

    async fn sign_part(
        &self,
        upload_id: &str,
        key: &str,
        part_number: u32,
        checksum_sha256: Option<&str>,
    ) -> Result<String, Error> {
        let mut url = self.upload_url(upload_id, &format!("/{part_number}"), key);
        if let Some(checksum) = checksum_sha256 {
            url.push_str("&checksumSha256=");
            url.push_str(&encode(checksum));
        }
        let answer: SignAnswer = self
            .call(Operation::SignPart, "GET", &url, None, Some(upload_id))
            .await?;
        Ok(answer.url)
    }

    async fn list_parts(&self, upload_id: &str, key: &str) -> Result<Vec<ServerPart>, Error> {
        let url = self.upload_url(upload_id, "", key);
        self.call(Operation::ListParts, "GET", &url, None, Some(upload_id))
            .await
    }

    async fn complete(
        &self,
        upload_id: &str,
        key: &str,
        parts: &[CompletedPart],
    ) -> Result<CompleteAnswer, Error> {
        let url = self.upload_url(upload_id, "/complete", key);
        let body = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&body, &"parts".into(), &to_js(&parts));
        let answer: CompleteJson = self
            .call(
                Operation::Complete,
                "POST",
                &url,
                Some(body.into()),
                Some(upload_id),
            )
            .await?;
        Ok(CompleteAnswer {
            location: answer.location.unwrap_or_default(),
            checksum_sha256: answer.checksum_sha256,
        })
    }

    async fn abort(&self, upload_id: &str, key: &str) -> Result<(), Error> {
        let url = self.upload_url(upload_id, "", key);
        let _: serde::de::IgnoredAny = self
            .call(Operation::Abort, "DELETE", &url, None, Some(upload_id))
            .await?;
        Ok(())
    }
}
