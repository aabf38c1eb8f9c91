//! The S3 store client: every request is signed with rusty-s3 (presigned
//! URLs, path-style addressing) and sent with reqwest.

use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use rusty_s3::actions::ListParts;
use rusty_s3::{Bucket, Credentials, S3Action as _, UrlStyle};
use url::Url;

use crate::checksum;
use crate::config::StoreConfig;
use crate::xml::{self, CompletePart, CompleteResult, CorsRule, ListedPart, PartsPage};

/// How long the URLs this server signs for its own requests stay valid.
const SERVER_SIGN_TTL: Duration = Duration::from_secs(300);

/// The header that asks HeadObject for the object's checksum.
const CHECKSUM_MODE_HEADER: &str = "x-amz-checksum-mode";

/// The header in which HeadObject gives the checksum's type.
const CHECKSUM_TYPE_HEADER: &str = "x-amz-checksum-type";

/// A bound on listing pages, so a store that never stops paging cannot
/// loop this server forever (10000 parts fit in 10 pages of 1000).
const MAX_PAGES: usize = 10_001;

/// An error answered by the store, or met on the way to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store answered with an error (`code` is its S3 error code, like
    /// `NoSuchUpload`).
    Status {
        /// HTTP status of the answer.
        status: u16,
        /// S3 error code.
        code: String,
        /// Its message, or what the answer said.
        message: String,
    },
    /// The store could not be reached, or the connection broke.
    Unreachable(String),
    /// The store answered something this server cannot read.
    BadResponse(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status {
                status,
                code,
                message,
            } => write!(f, "store answered {status} {code}: {message}"),
            Self::Unreachable(why) => write!(f, "store unreachable: {why}"),
            Self::BadResponse(why) => write!(f, "unreadable store answer: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// Its status and S3 code (`403 AccessDenied`), or its kind: what a
    /// client may be told (the message may name the store's account).
    pub fn summary(&self) -> String {
        match self {
            Self::Status { status, code, .. } => format!("{status} {code}"),
            Self::Unreachable(_) => "store unreachable".to_owned(),
            Self::BadResponse(_) => "unreadable store answer".to_owned(),
        }
    }

    /// Builds the error for an answer with `status` and `body`.
    fn from_answer(status: StatusCode, body: &str, what: &str) -> Self {
        let (code, message) = match xml::parse_error(body) {
            Some(e) => (e.code, e.message.unwrap_or_default()),
            None => (
                default_code(status).to_owned(),
                body.trim().chars().take(300).collect(),
            ),
        };
        let message = if message.is_empty() {
            format!("{what} failed")
        } else {
            format!("{what}: {message}")
        };
        Self::Status {
            status: status.as_u16(),
            code,
            message,
        }
    }

    /// Whether this is the store saying the multipart upload does not exist.
    pub fn is_no_such_upload(&self) -> bool {
        matches!(self, Self::Status { code, .. } if code == "NoSuchUpload")
    }
}

/// An error code for an answer without an S3 `<Error>` body.
fn default_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::FORBIDDEN => "AccessDenied",
        StatusCode::BAD_REQUEST => "BadRequest",
        s if s.is_server_error() => "InternalError",
        _ => "StoreError",
    }
}

/// The HTTP status S3 uses for `code`, for errors that arrive inside a
/// 200 answer (CompleteMultipartUpload can do that).
fn status_for_code(code: &str) -> u16 {
    match code {
        "NoSuchUpload" | "NoSuchKey" | "NoSuchBucket" => 404,
        "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | "MalformedXML"
        | "InvalidRequest" | "InvalidArgument" | "InvalidDigest" | "BadDigest" => 400,
        "AccessDenied" => 403,
        _ => 500,
    }
}

/// `e` and its sources, like `error sending request: connection refused`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProgressUpload {
    /// Its object key.
    pub key: String,
    /// Its upload id.
    pub upload_id: String,
    /// When it was created, if the store says (and it parses).
    pub initiated: Option<jiff::Timestamp>,
}

/// A client for one bucket of an S3 store.
pub struct Store {
    bucket: Bucket,
    credentials: Credentials,
    http: Client,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("bucket", &self.bucket.base_url().as_str())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A client for the bucket `config` names.
    ///
    /// # Errors
    /// The endpoint cannot hold a bucket, or the HTTP client cannot start.
    pub fn new(config: &StoreConfig) -> Result<Self, String> {
        // reqwest is built without a default TLS crypto provider: use ring.
        // An error only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bucket = Bucket::new(
            config.endpoint.clone(),
            UrlStyle::Path,
            config.bucket.clone(),
            config.region.clone(),
        )
        .map_err(|e| format!("S3_ENDPOINT/S3_BUCKET: {e:?}"))?;
        let credentials = Credentials::new(
            config.access_key_id.clone(),
            config.secret_access_key.clone(),
        );
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| format!("HTTP client: {}", error_chain(&e)))?;
        Ok(Self {
            bucket,
            credentials,
            http,
        })
    }

    /// The bucket name.
    pub fn bucket_name(&self) -> &str {
        self.bucket.name()
    }

    /// The plain (unsigned) URL of an object: `<endpoint>/<bucket>/<key>`.
    pub fn object_location(&self, key: &str) -> String {
        self.bucket.object_url(key).to_string()
    }

    /// Sends `request`; an answer with an error status becomes a
    /// [`StoreError::Status`].
    async fn execute(&self, request: RequestBuilder, what: &str) -> Result<Response, StoreError> {
        // `without_url`: the error would otherwise show a signed URL.
        let response = request.send().await.map_err(|e| {
            StoreError::Unreachable(format!("{what}: {}", error_chain(&e.without_url())))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(StoreError::from_answer(status, &body, what))
    }

    /// Like [`Store::execute`], reading the whole answer as text.
    async fn execute_text(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<String, StoreError> {
        self.execute(request, what)
            .await?
            .text()
            .await
            .map_err(|e| {
                StoreError::Unreachable(format!("{what}: {}", error_chain(&e.without_url())))
            })
    }

    /// Starts a multipart upload of `key`, returning its upload id.
    ///
    /// `headers` (like `content-type` and `x-amz-meta-*`, lowercase names)
    /// are signed and sent with the request.
    ///
    /// # Errors
    /// What the store answers, or why it could not be asked.
    pub async fn create_multipart_upload(
        &self,
        key: &str,
        headers: &[(String, String)],
    ) -> Result<String, StoreError> {
        let mut action = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key);
        for (name, value) in headers {
            action.headers_mut().insert(name.as_str(), value.as_str());
        }
        let mut request = self.http.post(action.sign(SERVER_SIGN_TTL));
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let body = self.execute_text(request, "CreateMultipartUpload").await?;
        let created = rusty_s3::actions::CreateMultipartUpload::parse_response(&body)
            .map_err(|e| StoreError::BadResponse(format!("CreateMultipartUpload: {e}")))?;
        Ok(created.upload_id().to_owned())
    }

    /// Stores an empty object at `key` with `headers` (signed and sent, like
    /// for [`Store::create_multipart_upload`]).
    ///
    /// # Errors
    /// What the store answers, or why it could not be asked.
    pub async fn put_empty_object(
        &self,
        key: &str,
        headers: &[(String, String)],
    ) -> Result<(), StoreError> {
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        for (name, value) in headers {
            action.headers_mut().insert(name.as_str(), value.as_str());
        }
        let mut request = self
            .http
            .put(action.sign(SERVER_SIGN_TTL))
            .header("content-length", "0");
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        self.execute(request, "PutObject").await.map(|_| ())
    }

    /// A presigned URL to PUT part `part_number` of an upload, valid for
    /// `expires`.
    ///
    /// Without `checksum_sha256` only the `host` header is signed (what
    /// Companion signs). With it, `x-amz-checksum-sha256` is signed too: the
    /// PUT must carry that header with exactly that value, and the store
    /// refuses a body whose SHA-256 differs.
    pub fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        expires: Duration,
        checksum_sha256: Option<&str>,
    ) -> Url {
        let mut action =
            self.bucket
                .upload_part(Some(&self.credentials), key, part_number, upload_id);
        if let Some(checksum) = checksum_sha256 {
            action
                .headers_mut()
                .insert(checksum::SHA256_HEADER, checksum);
        }
        action.sign(expires)
    }

    /// A presigned URL to PUT a whole object at `key` in one request,
    /// valid for `expires`.
    ///
    /// `headers` (lowercase names: `content-type`, `x-amz-meta-*`,
    /// `x-amz-checksum-sha256`) are signed beside `host`: the PUT must carry
    /// each with exactly its value. With `x-amz-checksum-sha256`, the store
    /// refuses a body whose SHA-256 differs. Nothing is sent to the store.
    pub fn presign_put_object(
        &self,
        key: &str,
        expires: Duration,
        headers: &[(String, String)],
    ) -> Url {
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        for (name, value) in headers {
            action.headers_mut().insert(name.as_str(), value.as_str());
        }
        action.sign(expires)
    }

    /// A ListParts of an upload, signed with the server's credentials.
    fn list_parts_action<'a>(&'a self, key: &'a str, upload_id: &'a str) -> ListParts<'a> {
        self.bucket
            .list_parts(Some(&self.credentials), key, upload_id)
    }

    /// One page of ListParts, from after `marker`.
    async fn list_parts_page(
        &self,
        key: &str,
        upload_id: &str,
        marker: Option<u16>,
    ) -> Result<PartsPage, StoreError> {
        let mut action = self.list_parts_action(key, upload_id);
        if let Some(marker) = marker {
            action.set_part_number_marker(marker);
        }
        let body = self
            .execute_text(self.http.get(action.sign(SERVER_SIGN_TTL)), "ListParts")
            .await?;
        xml::parse_list_parts(&body).map_err(StoreError::BadResponse)
    }

    /// Every part the store holds for an upload, all pages followed.
    ///
    /// # Errors
    /// What the store answers (`NoSuchUpload` for an upload that is gone),
    /// or why it could not be asked.
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<ListedPart>, StoreError> {
        collect_parts(|marker| self.list_parts_page(key, upload_id, marker)).await
    }

    /// Whether the store still has an upload: a ListParts of at most one
    /// part, its answer not parsed.
    ///
    /// # Errors
    /// What the store answers (`NoSuchUpload` for an upload that is gone),
    /// or why it could not be asked.
    pub async fn probe_upload(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        let mut action = self.list_parts_action(key, upload_id);
        action.set_max_parts(1);
        let request = self.http.get(action.sign(SERVER_SIGN_TTL));
        self.execute_text(request, "ListParts").await.map(drop)
    }

    /// Completes an upload from `parts` (in order, each with its checksum
    /// if the client sent one), returning the object's checksum if the store
    /// gives one.
    ///
    /// # Errors
    /// What the store answers (an error inside a 200 answer included), or
    /// why it could not be asked.
    pub async fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletePart<'_>],
    ) -> Result<CompleteResult, StoreError> {
        // rusty-s3 numbers the ETags it is given 1..N; the body is built here
        // so that the part numbers are the ones the client sent.
        let url = self
            .bucket
            .complete_multipart_upload(
                Some(&self.credentials),
                key,
                upload_id,
                std::iter::empty::<&str>(),
            )
            .sign(SERVER_SIGN_TTL);
        let request = self
            .http
            .post(url)
            .header("content-type", "application/xml")
            .body(xml::complete_body(parts));
        let body = self
            .execute_text(request, "CompleteMultipartUpload")
            .await?;
        if let Some(error) = xml::parse_error(&body) {
            return Err(StoreError::Status {
                status: status_for_code(&error.code),
                message: format!(
                    "CompleteMultipartUpload: {}",
                    error.message.unwrap_or_default()
                ),
                code: error.code,
            });
        }
        if xml::root_name(&body).as_deref() != Some("CompleteMultipartUploadResult") {
            return Err(StoreError::BadResponse(format!(
                "CompleteMultipartUpload answered {:?}",
                body.chars().take(200).collect::<String>()
            )));
        }
        xml::parse_complete_result(&body).map_err(StoreError::BadResponse)
    }

    /// The object at `key`, if there is one, with its checksum as
    /// CompleteMultipartUpload gave it (asked with
    /// `x-amz-checksum-mode: ENABLED`; none for an object stored without).
    ///
    /// # Errors
    /// What the store answers other than 404, or why it could not be asked.
    pub async fn head_object(&self, key: &str) -> Result<Option<CompleteResult>, StoreError> {
        let mut action = self.bucket.head_object(Some(&self.credentials), key);
        action.headers_mut().insert(CHECKSUM_MODE_HEADER, "ENABLED");
        let request = self
            .http
            .head(action.sign(SERVER_SIGN_TTL))
            .header(CHECKSUM_MODE_HEADER, "ENABLED");
        let response = match self.execute(request, "HeadObject").await {
            Ok(response) => response,
            Err(StoreError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let header = |name: &str| {
            let value = response.headers().get(name)?.to_str().ok()?;
            (!value.is_empty()).then(|| value.to_owned())
        };
        Ok(Some(CompleteResult {
            checksum_sha256: header(checksum::SHA256_HEADER),
            checksum_type: header(CHECKSUM_TYPE_HEADER),
        }))
    }

    /// Aborts an upload, deleting its parts.
    ///
    /// # Errors
    /// What the store answers (`NoSuchUpload` for an upload that is gone),
    /// or why it could not be asked.
    pub async fn abort_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id)
            .sign(SERVER_SIGN_TTL);
        self.execute(self.http.delete(url), "AbortMultipartUpload")
            .await
            .map(|_| ())
    }

    /// Every multipart upload in progress in the bucket whose key begins
    /// with `prefix` (`""`: all), all pages followed.
    ///
    /// # Errors
    /// What the store answers, or why it could not be asked.
    pub async fn list_multipart_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<InProgressUpload>, StoreError> {
        let mut uploads = Vec::new();
        let mut marker: Option<(String, String)> = None;
        for _ in 0..MAX_PAGES {
            let query = list_uploads_query(prefix, marker.as_ref());
            let url = self.sign_bucket_request(rusty_s3::Method::Get, &query, &[]);
            let body = self
                .execute_text(self.http.get(url), "ListMultipartUploads")
                .await?;
            let page = xml::parse_list_uploads(&body).map_err(StoreError::BadResponse)?;
            uploads.extend(page.uploads.into_iter().map(|(key, upload_id, initiated)| {
                InProgressUpload {
                    key,
                    upload_id,
                    initiated: initiated.and_then(|t| t.parse().ok()),
                }
            }));
            match page.next {
                None => return Ok(uploads),
                Some(next) if Some(&next) == marker.as_ref() => {
                    return Err(StoreError::BadResponse(
                        "ListMultipartUploads paging did not advance".to_owned(),
                    ))
                }
                Some(next) => marker = Some(next),
            }
        }
        Err(StoreError::BadResponse(
            "ListMultipartUploads: too many pages".to_owned(),
        ))
    }

    /// The bucket's CORS rules, in order, every field (none if the bucket
    /// has no CORS configuration).
    ///
    /// # Errors
    /// What the store answers, or why it could not be asked.
    pub async fn get_bucket_cors(&self) -> Result<Vec<CorsRule>, StoreError> {
        let url = self.sign_bucket_request(rusty_s3::Method::Get, &[("cors", "")], &[]);
        match self.execute_text(self.http.get(url), "GetBucketCors").await {
            Ok(body) => xml::parse_cors_rules(&body).map_err(StoreError::BadResponse),
            Err(StoreError::Status { code, .. }) if code == "NoSuchCORSConfiguration" => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Sets the bucket's CORS configuration to `rules`, in order (it
    /// replaces the whole configuration).
    ///
    /// # Errors
    /// What the store answers, or why it could not be asked.
    pub async fn put_bucket_cors(&self, rules: &[CorsRule]) -> Result<(), StoreError> {
        let body = xml::cors_body(rules);
        // S3 requires Content-MD5 on PutBucketCors; it is signed too.
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
        let headers = [
            ("content-md5", md5.as_str()),
            ("content-type", "application/xml"),
        ];
        let url = self.sign_bucket_request(rusty_s3::Method::Put, &[("cors", "")], &headers);
        let mut request = self.http.put(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        self.execute(request, "PutBucketCors").await.map(|_| ())
    }

    /// Starts reading an object; the answer's body is its bytes.
    ///
    /// # Errors
    /// What the store answers (404 `NoSuchKey`), or why it could not be
    /// asked.
    pub async fn get_object(&self, key: &str) -> Result<Response, StoreError> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SERVER_SIGN_TTL);
        self.execute(self.http.get(url), "GetObject").await
    }

    /// Signs a request on the bucket itself, for actions rusty-s3 has no
    /// type for. `query` and `headers` must be sorted by name: rusty-s3
    /// signs them in the order given, and the store sorts them before it
    /// checks the signature.
    fn sign_bucket_request(
        &self,
        method: rusty_s3::Method,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Url {
        debug_assert!(query.is_sorted(), "query not sorted: {query:?}");
        debug_assert!(headers.is_sorted(), "headers not sorted: {headers:?}");
        rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            method,
            self.bucket.base_url().clone(),
            self.credentials.key(),
            self.credentials.secret(),
            self.credentials.token(),
            self.bucket.region(),
            SERVER_SIGN_TTL.as_secs(),
            query.iter().copied(),
            headers.iter().copied(),
        )
    }
}

/// The query of a ListMultipartUploads page, sorted by name (as
/// [`Store::sign_bucket_request`] needs): `prefix` (`""`: none), and the
/// page's markers (key, upload id) after the first.
fn list_uploads_query<'a>(
    prefix: &'a str,
    marker: Option<&'a (String, String)>,
) -> Vec<(&'a str, &'a str)> {
    let mut query = Vec::new();
    if let Some((key_marker, _)) = marker {
        query.push(("key-marker", key_marker.as_str()));
    }
    if !prefix.is_empty() {
        query.push(("prefix", prefix));
    }
    if let Some((_, upload_id_marker)) = marker.filter(|(_, id)| !id.is_empty()) {
        query.push(("upload-id-marker", upload_id_marker.as_str()));
    }
    query.push(("uploads", ""));
    query
}

/// Gathers every part of a ListParts listing, asking `fetch` for the page
/// after each marker (`None` for the first page).
///
/// # Errors
/// The first error of `fetch`, or a listing whose marker does not advance.
pub async fn collect_parts<F, Fut>(mut fetch: F) -> Result<Vec<ListedPart>, StoreError>
where
    F: FnMut(Option<u16>) -> Fut,
    Fut: Future<Output = Result<PartsPage, StoreError>>,
{
    let mut parts = Vec::new();
    let mut marker: Option<u16> = None;
    for _ in 0..MAX_PAGES {
        let page = fetch(marker).await?;
        parts.extend(page.parts);
        match page.next_marker {
            None => return Ok(parts),
            Some(next) if marker.is_some_and(|m| next <= m) => {
                return Err(StoreError::BadResponse(format!(
                    "ListParts paging did not advance (marker {next} after {})",
                    marker.unwrap_or_default()
                )))
            }
            Some(next) => marker = Some(next),
        }
    }
    Err(StoreError::BadResponse(
        "ListParts: too many pages".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::xml::tests::list_parts_page;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_list_uploads_query_is_sorted_on_every_page() {
        let marker = ("uploads/k".to_owned(), "0f".to_owned());
        let no_id = ("uploads/k".to_owned(), String::new());
        for prefix in ["", "uploads/"] {
            for marker in [None, Some(&marker), Some(&no_id)] {
                let query = list_uploads_query(prefix, marker);
                assert!(query.is_sorted(), "{query:?}");
                assert_eq!(query.last(), Some(&("uploads", "")));
            }
        }
        assert_eq!(
            list_uploads_query("uploads/", Some(&marker)),
            [
                ("key-marker", "uploads/k"),
                ("prefix", "uploads/"),
                ("upload-id-marker", "0f"),
                ("uploads", ""),
            ]
        );
    }

    #[test]
    fn follows_every_list_parts_page() {
        let asked = RefCell::new(Vec::new());
        let parts = block_on(collect_parts(|marker| {
            asked.borrow_mut().push(marker);
            let xml = match marker {
                None => list_parts_page(
                    &[1, 2],
                    true,
                    "<NextPartNumberMarker>2</NextPartNumberMarker>",
                ),
                Some(2) => list_parts_page(
                    &[3, 4],
                    true,
                    "<NextPartNumberMarker>4</NextPartNumberMarker>",
                ),
                Some(4) => list_parts_page(
                    &[5],
                    false,
                    "<NextPartNumberMarker>0</NextPartNumberMarker>",
                ),
                other => panic!("unexpected marker {other:?}"),
            };
            async move { xml::parse_list_parts(&xml).map_err(StoreError::BadResponse) }
        }))
        .unwrap();
        assert_eq!(*asked.borrow(), [None, Some(2), Some(4)]);
        let numbers: Vec<u16> = parts.iter().map(|p| p.part_number).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
        assert_eq!(parts[4].size, 50);
        assert_eq!(parts[4].etag, "\"etag5\"");
    }

    #[test]
    fn stops_on_a_marker_that_does_not_advance() {
        let err = block_on(collect_parts(|_| async {
            xml::parse_list_parts(&list_parts_page(
                &[1],
                true,
                "<NextPartNumberMarker>1</NextPartNumberMarker>",
            ))
            .map_err(StoreError::BadResponse)
        }))
        .unwrap_err();
        assert!(matches!(err, StoreError::BadResponse(_)), "{err:?}");
    }

    #[test]
    fn passes_store_errors_on() {
        let err = block_on(collect_parts(|_| async {
            Err(StoreError::from_answer(
                StatusCode::NOT_FOUND,
                "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>",
                "ListParts",
            ))
        }))
        .unwrap_err();
        assert!(err.is_no_such_upload());
        assert_eq!(
            err,
            StoreError::Status {
                status: 404,
                code: "NoSuchUpload".into(),
                message: "ListParts: gone".into()
            }
        );
    }

    #[test]
    fn errors_without_xml_get_a_code_from_the_status() {
        let err = StoreError::from_answer(StatusCode::NOT_FOUND, "", "GetObject");
        assert_eq!(
            err,
            StoreError::Status {
                status: 404,
                code: "NotFound".into(),
                message: "GetObject failed".into()
            }
        );
    }

    /// A store on a local Garage address (nothing is contacted).
    fn test_store() -> Store {
        Store::new(&StoreConfig {
            endpoint: "http://127.0.0.1:3900".parse().unwrap(),
            bucket: "resupload".into(),
            region: "garage".into(),
            access_key_id: "GK0123".into(),
            secret_access_key: "s".into(),
        })
        .unwrap()
    }

    #[test]
    fn presigned_part_urls_sign_only_the_host() {
        let store = test_store();
        let url = store.presign_upload_part(
            "uploads/x/a b+c.txt",
            "up1",
            7,
            Duration::from_secs(3600),
            None,
        );
        let text = url.as_str();
        assert!(
            text.starts_with("http://127.0.0.1:3900/resupload/uploads/x/a%20b%2Bc.txt?"),
            "{text}"
        );
        assert!(text.contains("X-Amz-SignedHeaders=host&"), "{text}");
        assert!(text.contains("partNumber=7"), "{text}");
        assert!(text.contains("uploadId=up1"), "{text}");
        assert!(text.contains("X-Amz-Expires=3600"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("checksum"), "{text}");
        assert_eq!(
            store.object_location("uploads/x/a b.txt"),
            "http://127.0.0.1:3900/resupload/uploads/x/a%20b.txt"
        );
    }

    #[test]
    fn a_put_url_signs_every_header_it_is_given() {
        let store = test_store();
        let headers = [
            ("content-type".to_owned(), "image/jpeg".to_owned()),
            (
                checksum::SHA256_HEADER.to_owned(),
                "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=".to_owned(),
            ),
            ("x-amz-meta-name".to_owned(), "a.jpg".to_owned()),
        ];
        let url = store.presign_put_object(
            "uploads/x/0123/photos/a b.jpg",
            Duration::from_secs(3600),
            &headers,
        );
        let text = url.as_str();
        assert!(
            text.starts_with("http://127.0.0.1:3900/resupload/uploads/x/0123/photos/a%20b.jpg?"),
            "{text}"
        );
        assert!(text.contains("X-Amz-Expires=3600"), "{text}");
        assert!(!text.contains("uploadId"), "{text}");
        let signed: Vec<String> = url
            .query_pairs()
            .filter(|(name, _)| name == "X-Amz-SignedHeaders")
            .map(|(_, value)| value.into_owned())
            .collect();
        assert_eq!(
            signed,
            ["content-type;host;x-amz-checksum-sha256;x-amz-meta-name"]
        );
        let plain = store.presign_put_object("uploads/x/a", Duration::from_secs(60), &[]);
        assert!(
            plain.as_str().contains("X-Amz-SignedHeaders=host&"),
            "{plain}"
        );
    }

    #[test]
    fn a_part_checksum_is_signed_into_the_url() {
        let store = test_store();
        let sum = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
        let url = store.presign_upload_part(
            "uploads/x/a.bin",
            "up1",
            2,
            Duration::from_secs(60),
            Some(sum),
        );
        let signed: Vec<String> = url
            .query_pairs()
            .filter(|(name, _)| name == "X-Amz-SignedHeaders")
            .map(|(_, value)| value.into_owned())
            .collect();
        assert_eq!(signed, ["host;x-amz-checksum-sha256"], "{url}");
        // The value itself travels in the header, not in the URL.
        assert!(!url.as_str().contains("ungWv48B"), "{url}");
        // Without a checksum, the URL signs only the host, as before.
        let plain =
            store.presign_upload_part("uploads/x/a.bin", "up1", 2, Duration::from_secs(60), None);
        assert!(
            plain.as_str().contains("X-Amz-SignedHeaders=host&"),
            "{plain}"
        );
    }
}
