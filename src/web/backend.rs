//! The signing backend over fetch: Uppy Companion's S3 multipart routes.

use js_sys::encode_uri_component;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::convert::completed_parts_to_js;
use super::deadline::within;
use super::fetch::{failed, network, request as request_fetch};
use super::headers::BackendHeaders;
use super::js::{field, string, whole, whole_u32, Builder, Fields};
use crate::core::reconcile::ServerPart;
use crate::core::text::{decimal, trim_end_byte};
use crate::error::{Error, ErrorKind, Operation};
use crate::ports::{
    Adopted, Backend, CompleteAnswer, CompletedPart, Created, NewSingle, NewUpload, PortFuture,
    SignedSingle, SingleMethod, SingleSigner,
};

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

/// The least time a complete is given, whatever the stall timeout: a store
/// may take minutes to assemble a large upload (AWS says "several
/// minutes", answering nothing the page sees meanwhile), and a complete cut
/// short is cut again at every try.
const COMPLETE_TIMEOUT_MS: u32 = 10 * 60_000;

/// A Companion-compatible backend at a base URL such as `/api/s3`.
#[derive(Debug, Clone)]
pub struct HttpBackend {
    base: String,
    timeout_ms: u32,
    headers: BackendHeaders,
}

/// A 2xx answer whose JSON is not the shape the protocol gives `operation`.
fn wrong_shape(operation: Operation, expected: &str) -> Error {
    ErrorKind::BadResponse {
        operation,
        detail: ["wrong JSON shape: expected ", expected].concat(),
    }
    .into()
}

impl HttpBackend {
    /// A backend at `base` (no trailing slash).
    pub fn new(base: &str) -> Self {
        HttpBackend {
            base: trim_end_byte(base, b'/').to_owned(),
            timeout_ms: crate::options::DEFAULT_STALL_TIMEOUT_MS,
            headers: BackendHeaders::None,
        }
    }

    /// The same backend, its requests carrying `headers` (the `headers`
    /// option).
    pub fn with_headers(mut self, headers: BackendHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// The same backend, giving up on a request that has no answer after
    /// `timeout_ms` (a retryable network error; a complete, after 10
    /// minutes at least).
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

    /// Calls the backend and answers its JSON. After a 401, a `headers`
    /// function is asked again and the request sent once more.
    async fn call(
        &self,
        operation: Operation,
        method: &str,
        url: &str,
        body: Option<JsValue>,
        upload_id: Option<&str>,
    ) -> Result<JsValue, Error> {
        let request = Request {
            operation,
            method,
            url,
            body,
            upload_id,
        };
        match self.call_once(&request, false).await {
            Err(e) if e.status() == Some(401) && self.headers.refreshes() => {
                self.call_once(&request, true).await
            }
            answer => answer,
        }
    }

    /// One call: the whole exchange, body included, within the timeout;
    /// `refresh` asks a `headers` function for fresh credentials.
    async fn call_once(&self, request: &Request<'_>, refresh: bool) -> Result<JsValue, Error> {
        let extra = self.headers.current(refresh, &self.base).await?;
        let exchange = exchange(request, &extra);
        let timeout_ms = match request.operation {
            Operation::Complete => self.timeout_ms.max(COMPLETE_TIMEOUT_MS),
            _ => self.timeout_ms,
        };
        within(timeout_ms, exchange).await.unwrap_or_else(|| {
            Err(ErrorKind::Network {
                operation: request.operation,
                detail: [
                    "no complete answer within ",
                    &decimal(timeout_ms.into()),
                    " ms",
                ]
                .concat(),
            }
            .into())
        })
    }
}

/// One call to the backend.
struct Request<'a> {
    operation: Operation,
    method: &'a str,
    url: &'a str,
    body: Option<JsValue>,
    upload_id: Option<&'a str>,
}

/// One request and its answer's JSON, with the `headers` option's `extra`
/// headers. Dropping it aborts the request.
async fn exchange(request: &Request<'_>, extra: &[(String, String)]) -> Result<JsValue, Error> {
    let operation = request.operation;
    // The init as a plain object: fewer imports than RequestInit's
    // setters, a Request and its Headers.
    let headers = extra.iter().fold(Builder::new(), |headers, (name, value)| {
        headers.str(name, value)
    });
    let mut headers = headers.str("accept", "application/json");
    let mut init = Builder::new().str("method", request.method);
    if let Some(body) = &request.body {
        let text = js_sys::JSON::stringify(body).map_err(|e| network(operation, &e))?;
        headers = headers.str("content-type", "application/json");
        init = init.set("body", &text);
    }
    let init = init.set("headers", &headers.done());
    let (response, _abort) = request_fetch(operation, request.url, init).await?;
    if !response.ok() {
        return Err(failed(&response, operation, request.upload_id).await);
    }
    let status = response.status();
    JsFuture::from(response.json().map_err(|e| network(operation, &e))?)
        .await
        .map_err(|e| match string(&e, "name").as_deref() {
            // The body came whole, and it is not JSON.
            Some("SyntaxError") => ErrorKind::BadResponse {
                operation,
                detail: [
                    "HTTP ",
                    &decimal(status.into()),
                    " with a body that is not JSON",
                ]
                .concat(),
            }
            .into(),
            // The body did not come whole (a connection cut mid-answer).
            _ => network(operation, &e),
        })
}

fn encode(text: &str) -> String {
    String::from(encode_uri_component(text))
}

/// The answer to create: `{ key, uploadId, checksumAlgorithm?, adopted?,
/// partSize?, createdAt? }` (all but the first two are resupload's
/// extensions: a plain Companion never sends them).
fn created(answer: &JsValue) -> Option<Created> {
    let f = Fields::of(answer);
    f.checked(Created {
        key: f.string("key"),
        upload_id: f.string("uploadId"),
        checksum_algorithm: f.optional_string("checksumAlgorithm"),
        adopted: adopted(answer),
    })
}

/// An answer's adoption: `adopted: true` with the upload's `partSize` and
/// `createdAt` (either may be `null`).
fn adopted(answer: &JsValue) -> Option<Adopted> {
    if field(answer, "adopted").as_bool() != Some(true) {
        return None;
    }
    Some(Adopted {
        part_size: whole(answer, "partSize"),
        created_at: field(answer, "createdAt")
            .as_f64()
            .filter(|ms| ms.is_finite()),
    })
}

/// The answer to `/params`: Companion's `{ method: "POST", url, fields }`
/// (the key is `fields.key`), or the dev server's `{ method: "PUT", url,
/// headers, key }`. `checksum` is what was asked to be signed.
fn signed_single(answer: &JsValue, checksum: Option<&str>) -> Option<SignedSingle> {
    let method = match string(answer, "method").as_deref() {
        Some("PUT") | Some("put") => SingleMethod::Put,
        Some("POST") | Some("post") | None => SingleMethod::Post,
        Some(_) => return None,
    };
    let fields = string_pairs(&field(answer, "fields"))?;
    let headers = string_pairs(&field(answer, "headers"))?;
    let key = string(answer, "key").or_else(|| {
        let key = fields.iter().find(|(name, _)| name == "key");
        key.map(|(_, value)| value.clone())
    })?;
    let signed = |pairs: &[(String, String)]| {
        pairs.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("x-amz-checksum-sha256") && Some(value.as_str()) == checksum
        })
    };
    let checksum_signed = match method {
        SingleMethod::Put => signed(&headers),
        SingleMethod::Post => signed(&fields),
    };
    Some(SignedSingle {
        method,
        url: signed_url(answer)?,
        headers,
        fields,
        key,
        checksum_signed,
        expires_secs: whole_u32(answer, "expires").filter(|&s| s > 0),
    })
}

/// The `url` of a signing answer, when the browser can parse it as an
/// `http(s)` URL (a relative one resolves against the page, as a request
/// sent to it does; the base here only lets it parse): a part request to
/// anything else would only fail as a network error, retried in vain.
fn signed_url(answer: &JsValue) -> Option<String> {
    let url = string(answer, "url")?;
    let parsed = web_sys::Url::new_with_base(&url, "http://page.invalid/").ok()?;
    matches!(parsed.protocol().as_str(), "http:" | "https:").then_some(url)
}

/// An object of string values as pairs (`undefined` or `null`: none);
/// `None` for anything else.
fn string_pairs(value: &JsValue) -> Option<Vec<(String, String)>> {
    if !super::js::present(value) {
        return Some(Vec::new());
    }
    if !value.is_object() {
        return None;
    }
    // A loop: a fallible collect is more code in the wasm.
    let mut pairs = Vec::new();
    for entry in js_sys::Object::entries(value.unchecked_ref()).iter() {
        let pair: js_sys::Array = entry.unchecked_into();
        pairs.push((pair.get(0).as_string()?, pair.get(1).as_string()?));
    }
    Some(pairs)
}

/// The query of `/params` for `file` (Companion's `filename`, `type` and
/// `metadata[name]`, then resupload's extensions).
fn single_query(file: &NewSingle<'_>) -> String {
    let mut query = [
        "?filename=",
        &encode(file.file_name),
        "&type=",
        &encode(file.file_type),
    ]
    .concat();
    for (name, value) in file.metadata {
        query.push_str(&["&metadata[", &encode(name), "]=", &encode(value)].concat());
    }
    query.push_str(
        &[
            "&size=",
            &decimal(file.size),
            "&namespace=",
            &encode(file.namespace),
        ]
        .concat(),
    );
    if let Some(path) = file.relative_path {
        query.push_str(&["&relativePath=", &encode(path)].concat());
    }
    if let Some(checksum) = file.checksum_sha256 {
        query.push_str(&["&checksumSha256=", &encode(checksum)].concat());
    }
    query
}

/// One file of the batch route's body.
fn single_body(file: &NewSingle<'_>) -> JsValue {
    let meta = file
        .metadata
        .iter()
        .fold(Builder::new(), |meta, (name, value)| meta.str(name, value))
        .done();
    Builder::new()
        .str("filename", file.file_name)
        .str("type", file.file_type)
        .set("metadata", &meta)
        .num("size", file.size as f64)
        .str_if("relativePath", file.relative_path)
        .str_if("checksumSha256", file.checksum_sha256)
        .done()
}

/// The answer to complete: `{ location?, checksumSha256? }`.
fn completed(answer: &JsValue) -> Option<CompleteAnswer> {
    if !answer.is_object() {
        return None;
    }
    let f = Fields::of(answer);
    f.checked(CompleteAnswer {
        location: f.optional_string("location").unwrap_or_default(),
        checksum_sha256: f.optional_string("checksumSha256"),
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
                .num("size", upload.size as f64)
                .str_if("sampleSha256", upload.sample_sha256)
                .num("partSize", upload.part_size as f64)
                .str_if("relativePath", upload.relative_path)
                .set_if("adopt", upload.adopt, &JsValue::TRUE)
                .done();
            let url = [&self.base, "/multipart"].concat();
            let answer = self
                .call(Operation::Create, "POST", &url, Some(body), None)
                .await?;
            created(&answer).ok_or_else(|| {
                wrong_shape(
                    Operation::Create,
                    "{ key: string, uploadId: string, checksumAlgorithm?: string, ... }",
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
            let mut url = self.upload_url(
                upload_id,
                &["/", &decimal(part_number.into())].concat(),
                key,
            );
            if let Some(checksum) = checksum_sha256 {
                url.push_str("&checksumSha256=");
                url.push_str(&encode(checksum));
            }
            let answer = self
                .call(Operation::SignPart, "GET", &url, None, Some(upload_id))
                .await?;
            signed_url(&answer)
                .ok_or_else(|| wrong_shape(Operation::SignPart, "{ url: string }, an http(s) URL"))
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

    fn completed<'a>(&'a self, upload_id: &'a str, key: &'a str) -> PortFuture<'a, CompleteAnswer> {
        Box::pin(async move {
            let url = self.upload_url(upload_id, "/complete", key);
            // A question, not a completion: a list's timeout, not a complete's.
            let answer = self
                .call(Operation::ListParts, "GET", &url, None, Some(upload_id))
                .await?;
            completed(&answer).ok_or_else(|| {
                wrong_shape(
                    Operation::Complete,
                    "{ location?: string, checksumSha256?: string }",
                )
            })
        })
    }
}

impl SingleSigner for HttpBackend {
    fn sign_single<'a>(&'a self, file: NewSingle<'a>) -> PortFuture<'a, SignedSingle> {
        Box::pin(async move {
            let url = [&self.base, "/params", &single_query(&file)].concat();
            let answer = self
                .call(Operation::SignFile, "GET", &url, None, None)
                .await?;
            signed_single(&answer, file.checksum_sha256).ok_or_else(|| {
                wrong_shape(
                    Operation::SignFile,
                    "{ method: \"PUT\" | \"POST\", url: string (an http(s) URL), fields?: object, headers?: object, key?: string }",
                )
            })
        })
    }

    fn sign_singles<'a>(&'a self, files: &'a [NewSingle<'a>]) -> PortFuture<'a, Vec<SignedSingle>> {
        Box::pin(async move {
            let list: js_sys::Array = files.iter().map(single_body).collect();
            let namespace = files.first().map_or("", |f| f.namespace);
            let body = Builder::new()
                .set("files", &list)
                .str("namespace", namespace)
                .done();
            let url = [&self.base, "/params/batch"].concat();
            let answer = self
                .call(Operation::SignFile, "POST", &url, Some(body), None)
                .await?;
            let uploads: js_sys::Array = field(&answer, "uploads").dyn_into().unwrap_or_default();
            // Fewer are the first files' (the rest are signed alone); more
            // cannot be matched to the files asked about.
            if uploads.length() as usize > files.len() {
                return Err(wrong_shape(
                    Operation::SignFile,
                    "{ uploads: [one per file, at most] }",
                ));
            }
            let signed: Option<Vec<SignedSingle>> = uploads
                .iter()
                .zip(files)
                .map(|(upload, file)| signed_single(&upload, file.checksum_sha256))
                .collect();
            signed.ok_or_else(|| wrong_shape(Operation::SignFile, "{ uploads: [one per file] }"))
        })
    }
}
