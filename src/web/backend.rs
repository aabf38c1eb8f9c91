//! The signing backend over fetch: Uppy Companion's S3 multipart routes.

use js_sys::encode_uri_component;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::convert::completed_parts_to_js;
use super::deadline::within;
use super::fetch::{failed, network, request};
use super::js::{optional_string, string, Builder};
use crate::core::reconcile::ServerPart;
use crate::error::{Error, Operation};
use crate::ports::{Backend, CompleteAnswer, CompletedPart, Created, NewUpload, PortFuture};

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function packParts(list) {
  if (!Array.isArray(list)) return undefined;
  const line = /[\t\n\r]/;
  let out = "";
  for (const p of list) {
    if (p === null || typeof p !== "object") return undefined;
    const sum = p.ChecksumSHA256 ?? "";
    if (typeof p.PartNumber !== "number" || typeof p.Size !== "number") return undefined;
    if (typeof p.ETag !== "string" || typeof sum !== "string") return undefined;
    if (line.test(p.ETag) || line.test(sum)) return undefined;
    out += p.PartNumber + "\t" + p.Size + "\t" + p.ETag + "\t" + sum + "\n";
  }
  return out;
}
"#)]
extern "C" {
    /// The part list `[{PartNumber, Size, ETag, ChecksumSHA256?}]` as lines
    /// for [`ServerPart::parse_lines`]; `undefined` for another shape.
    #[wasm_bindgen(js_name = packParts)]
    fn pack_parts(list: &JsValue) -> Option<String>;
}

/// A Companion-compatible backend at a base URL such as `/api/s3`.
#[derive(Debug, Clone)]
pub struct HttpBackend {
    base: String,
    timeout_ms: u32,
}

/// A 2xx answer whose JSON is not the shape the protocol gives `operation`.
fn wrong_shape(operation: Operation, expected: &str) -> Error {
    Error::BadResponse {
        operation,
        detail: ["wrong JSON shape: expected ", expected].concat(),
    }
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
        [
            &self.base,
            "/multipart/",
            &encode(upload_id),
            suffix,
            "?key=",
            &encode(key),
        ]
        .concat()
    }

    /// Calls the backend and answers its JSON: the whole exchange, body
    /// included, within the timeout.
    async fn call(
        &self,
        operation: Operation,
        method: &str,
        url: &str,
        body: Option<JsValue>,
        upload_id: Option<&str>,
    ) -> Result<JsValue, Error> {
        let exchange = exchange(operation, method, url, body, upload_id);
        within(self.timeout_ms, exchange).await.unwrap_or_else(|| {
            Err(Error::Network {
                operation,
                detail: format!("no complete answer within {} ms", self.timeout_ms),
            })
        })
    }
}

/// One request and its answer's JSON. Dropping it aborts the request.
async fn exchange(
    operation: Operation,
    method: &str,
    url: &str,
    body: Option<JsValue>,
    upload_id: Option<&str>,
) -> Result<JsValue, Error> {
    // The init as a plain object: fewer imports than RequestInit's
    // setters, a Request and its Headers.
    let mut headers = Builder::new().str("accept", "application/json");
    let mut init = Builder::new().str("method", method);
    if let Some(body) = body {
        let text = js_sys::JSON::stringify(&body).map_err(|e| network(operation, &e))?;
        headers = headers.str("content-type", "application/json");
        init = init.set("body", &text);
    }
    let (response, _abort) = request(operation, url, init.set("headers", &headers.done())).await?;
    if !response.ok() {
        return Err(failed(&response, operation, upload_id).await);
    }
    let status = response.status();
    JsFuture::from(response.json().map_err(|e| network(operation, &e))?)
        .await
        .map_err(|_| Error::BadResponse {
            operation,
            detail: format!("HTTP {status} with a body that is not JSON"),
        })
}

fn encode(text: &str) -> String {
    String::from(encode_uri_component(text))
}

/// The answer to create: `{ key, uploadId, checksumAlgorithm? }`
/// (`checksumAlgorithm` is resupload's extension: a plain Companion never
/// sends it).
fn created(answer: &JsValue) -> Option<Created> {
    Some(Created {
        key: string(answer, "key")?,
        upload_id: string(answer, "uploadId")?,
        checksum_algorithm: optional_string(answer, "checksumAlgorithm")?,
    })
}

/// The answer to complete: `{ location?, checksumSha256? }`.
fn completed(answer: &JsValue) -> Option<CompleteAnswer> {
    if !answer.is_object() {
        return None;
    }
    Some(CompleteAnswer {
        location: optional_string(answer, "location")?.unwrap_or_default(),
        checksum_sha256: optional_string(answer, "checksumSha256")?,
    })
}

impl Backend for HttpBackend {
    fn create<'a>(&'a self, upload: NewUpload<'a>) -> PortFuture<'a, Created> {
        Box::pin(async move {
            let meta = upload
                .metadata
                .iter()
                .fold(Builder::new(), |meta, (name, value)| meta.str(name, value))
                .done();
            let body = Builder::new()
                .str("filename", upload.file_name)
                .str("type", upload.file_type)
                .set("metadata", &meta)
                .str("namespace", upload.namespace)
                .str_if("checksumAlgorithm", upload.checksum_algorithm)
                .done();
            let url = [&self.base, "/multipart"].concat();
            let answer = self
                .call(Operation::Create, "POST", &url, Some(body), None)
                .await?;
            created(&answer).ok_or_else(|| {
                wrong_shape(
                    Operation::Create,
                    "{ key: string, uploadId: string, checksumAlgorithm?: string }",
                )
            })
        })
    }

    fn sign_part<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
        part_number: u32,
        checksum_sha256: Option<&'a str>,
    ) -> PortFuture<'a, String> {
        Box::pin(async move {
            let mut url =
                self.upload_url(upload_id, &["/", &part_number.to_string()].concat(), key);
            if let Some(checksum) = checksum_sha256 {
                url.push_str("&checksumSha256=");
                url.push_str(&encode(checksum));
            }
            let answer = self
                .call(Operation::SignPart, "GET", &url, None, Some(upload_id))
                .await?;
            string(&answer, "url")
                .ok_or_else(|| wrong_shape(Operation::SignPart, "{ url: string }"))
        })
    }

    fn list_parts<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
    ) -> PortFuture<'a, Vec<ServerPart>> {
        Box::pin(async move {
            let url = self.upload_url(upload_id, "", key);
            let answer = self
                .call(Operation::ListParts, "GET", &url, None, Some(upload_id))
                .await?;
            pack_parts(&answer)
                .and_then(|lines| ServerPart::parse_lines(&lines))
                .ok_or_else(|| {
                    wrong_shape(
                        Operation::ListParts,
                        "[{ PartNumber: number, Size: number, ETag: string, ChecksumSHA256?: string }]",
                    )
                })
        })
    }

    fn complete<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
        parts: &'a [CompletedPart],
    ) -> PortFuture<'a, CompleteAnswer> {
        Box::pin(async move {
            let url = self.upload_url(upload_id, "/complete", key);
            let body = Builder::new()
                .set("parts", &completed_parts_to_js(parts))
                .done();
            let answer = self
                .call(
                    Operation::Complete,
                    "POST",
                    &url,
                    Some(body),
                    Some(upload_id),
                )
                .await?;
            completed(&answer).ok_or_else(|| {
                wrong_shape(
                    Operation::Complete,
                    "{ location?: string, checksumSha256?: string }",
                )
            })
        })
    }

    fn abort<'a>(&'a self, upload_id: &'a str, key: &'a str) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let url = self.upload_url(upload_id, "", key);
            // Any JSON will do.
            self.call(Operation::Abort, "DELETE", &url, None, Some(upload_id))
                .await
                .map(|_| ())
        })
    }
}
