//! The S3 multipart routes of Uppy Companion (under `/api/s3`), with the
//! same paths and JSON, so a client written for one works with the other;
//! plus optional SHA-256 checksum fields that a Companion client never
//! sends and never gets (`server/PROTOCOL.md`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::access::{self, Known, UploadCache};
use crate::app::MAX_COMPLETE_BODY;
use crate::auth::{Auth, Caller};
use crate::checksum::{self, BadChecksum};
use crate::creates::CreateLocks;
use crate::db::{now_ms, Db, UploadRow, UploadState};
use crate::error::ApiError;
use crate::janitor::JanitorSettings;
use crate::json_body::JsonBody;
use crate::keys;
use crate::lookup::{self, CreateIdentity};
use crate::meta;
use crate::named_upload::{check_upload_id, require_key, NamedUpload};
use crate::params;
use crate::parts::{parse_part_number, parse_part_numbers, MAX_PART_NUMBER};
use crate::s3::{Store, StoreError};
use crate::xml;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The store client.
    pub store: Store,
    /// How long every presigned URL given to a client (part PUTs and
    /// small-file PUTs) stays valid.
    pub part_url_expires: Duration,
    /// The uploads table.
    pub db: Db,
    /// What the sign routes know of each upload without asking the table.
    pub cache: UploadCache,
    /// How callers are identified.
    pub auth: Auth,
    /// When unfinished uploads expire, and how the janitor sweeps.
    pub janitor: JanitorSettings,
    /// Creates that may adopt, one at a time per file.
    pub creates: CreateLocks,
}

/// The shared state, as handlers get it.
pub type SharedState = Arc<AppState>;

/// The Companion S3 routes, relative to `/api`.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/s3/multipart", post(create_upload))
        // A static segment: matched before `{upload_id}`, so a lookup is
        // never taken for the part list of an upload id "lookup".
        .route("/s3/multipart/lookup", get(lookup::lookup))
        .route(
            "/s3/multipart/{upload_id}",
            get(list_parts).delete(abort_upload),
        )
        .route("/s3/multipart/{upload_id}/batch", get(sign_batch))
        .route(
            "/s3/multipart/{upload_id}/complete",
            post(complete_upload)
                .layer(DefaultBodyLimit::max(MAX_COMPLETE_BODY))
                .get(completed_upload),
        )
        .route("/s3/multipart/{upload_id}/{part_number}", get(sign_part))
        .merge(params::router())
}

/// The query of the part signing route.
#[derive(Debug, Deserialize)]
pub struct SignPartQuery {
    key: Option<String>,
    /// The part's SHA-256 (base64) to sign into its URL.
    #[serde(rename = "checksumSha256")]
    checksum_sha256: Option<String>,
}

/// The query of the batch signing route.
#[derive(Debug, Deserialize)]
pub struct BatchQuery {
    #[serde(rename = "partNumbers")]
    part_numbers: Option<String>,
    /// The parts' SHA-256 (base64), aligned with `partNumbers`.
    #[serde(rename = "checksumsSha256")]
    checksums_sha256: Option<String>,
}

/// The body of `POST /api/s3/multipart`.
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    filename: Option<String>,
    #[serde(rename = "type")]
    content_type: Option<String>,
    metadata: Option<Map<String, Value>>,
    /// The client's namespace (resupload sends it; Companion clients do not):
    /// the key's prefix.
    namespace: Option<String>,
    /// The file's folder-relative path (`photos/2024/a.jpg`): its
    /// directories go into the key (Companion clients do not send it).
    #[serde(rename = "relativePath")]
    relative_path: Option<String>,
    /// `"SHA256"` to have every part's checksum checked by the store
    /// (Companion clients do not send it).
    #[serde(rename = "checksumAlgorithm")]
    checksum_algorithm: Option<Value>,
    /// The content identity and plan (resupload sends them; Companion
    /// clients do not): `size`, `sampleSha256`, `partSize`; and `adopt`.
    #[serde(flatten)]
    pub identity: CreateIdentity,
}

/// The body of `POST /api/s3/multipart/{uploadId}/complete`.
#[derive(Debug, Deserialize)]
pub struct CompleteBody {
    parts: Vec<CompletePart>,
}

/// One part in a complete request (other fields, like `Size`, are ignored).
#[derive(Debug, Deserialize)]
pub struct CompletePart {
    #[serde(rename = "PartNumber")]
    part_number: u64,
    #[serde(rename = "ETag")]
    etag: String,
    /// Its SHA-256 (base64), checked by the store against the part's.
    #[serde(rename = "ChecksumSHA256")]
    checksum_sha256: Option<String>,
}

/// One part in the answer of the list route.
#[derive(Debug, Serialize)]
pub struct PartJson {
    #[serde(rename = "PartNumber")]
    part_number: u16,
    #[serde(rename = "Size")]
    size: u64,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "ChecksumSHA256", skip_serializing_if = "Option::is_none")]
    checksum_sha256: Option<String>,
}

/// A refused checksum as a 400 `InvalidChecksum`.
fn invalid_checksum(e: BadChecksum) -> ApiError {
    ApiError::bad_request("InvalidChecksum", e.0)
}

/// `POST /api/s3/multipart`: starts an upload → `{key, uploadId, bucket}`,
/// plus `checksumAlgorithm` if the body asked for one. The upload's row is
/// written before the answer. With `adopt: true`, the caller's open upload
/// of the same identity is answered instead, if there is one to adopt
/// ([`lookup::adopt_open`]).
async fn create_upload(
    State(state): State<SharedState>,
    caller: Caller,
    body: JsonBody<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    let body = body.take()?;
    let algorithm = checksum::parse_algorithm(body.checksum_algorithm.as_ref())
        .map_err(|e| ApiError::bad_request("InvalidChecksumAlgorithm", e.0))?;
    let identity = body.identity.parse()?;
    // Refused before anything is asked of the store, the same on SQLite
    // and PostgreSQL.
    let owner = lookup::checked_owner(caller, body.namespace.clone())?;
    let name = lookup::table_name("filename", body.filename.as_deref().unwrap_or_default())?;
    let key = keys::new_object_key_in(&owner, body.relative_path.as_deref(), &name)?;
    let headers = meta::object_headers(body.content_type.as_deref(), body.metadata.as_ref())?;
    let placed = lookup::Placed {
        key: &key,
        headers: &headers,
    };
    // Held until the upload is in the table, however the request ends.
    let creating = match lookup::adoptable(algorithm, &identity, &owner, &name) {
        Some(wanted) => Some(state.creates.hold(&wanted).await),
        None => None,
    };
    if let Some(answer) =
        lookup::adopt_open(&state, algorithm, &identity, &owner, &name, &placed).await?
    {
        return Ok(Json(answer));
    }
    let store_headers = create_headers(&headers, algorithm);
    let row = UploadRow {
        upload_id: String::new(),
        owner,
        key,
        name,
        size: identity.size,
        sample_sha256: identity.sample_sha256,
        part_size: identity.part_size,
        checksum_algorithm: algorithm.map(|a| a.as_str().to_owned()),
        headers,
        created_at_ms: now_ms(),
        state: UploadState::Open,
    };
    let row = start_to_the_end(&state, row, store_headers, creating).await?;
    let mut answer = json!({
        "key": row.key,
        "uploadId": row.upload_id,
        "bucket": state.store.bucket_name(),
    });
    if let Some(algorithm) = algorithm {
        answer["checksumAlgorithm"] = json!(algorithm.as_str());
    }
    Ok(Json(answer))
}

/// Starts the upload of `row` on the store and writes its row, to the end
/// even if the client goes (a pause drops its request, and axum then drops
/// the handler): the upload is in the table, for the client's next create
/// to adopt or the janitor to collect, never open on the store with no row
/// for it. `creating` (the file's create lock) is let go of then.
async fn start_to_the_end(
    state: &SharedState,
    row: UploadRow,
    store_headers: Vec<(String, String)>,
    creating: Option<tokio::sync::OwnedMutexGuard<()>>,
) -> Result<UploadRow, ApiError> {
    let started = start_upload(Arc::clone(state), row, store_headers);
    tokio::spawn(async move {
        let row = started.await;
        drop(creating);
        row
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the create did not finish: {e}")))?
}

/// The headers of a CreateMultipartUpload: the object's `headers`, and the
/// checksum algorithm if there is one. The algorithm goes to the store
/// only: the headers kept for an empty file's PutObject are those of the
/// object itself.
fn create_headers(
    headers: &[(String, String)],
    algorithm: Option<checksum::ChecksumAlgorithm>,
) -> Vec<(String, String)> {
    let mut store_headers = headers.to_vec();
    if let Some(algorithm) = algorithm {
        store_headers.push((
            checksum::ALGORITHM_HEADER.to_owned(),
            algorithm.as_str().to_owned(),
        ));
    }
    store_headers
}

/// Creates the upload of `row` (its `upload_id` still empty) on the store,
/// with `store_headers`, and writes its row: the row as written.
async fn start_upload(
    state: SharedState,
    mut row: UploadRow,
    store_headers: Vec<(String, String)>,
) -> Result<UploadRow, ApiError> {
    row.upload_id = state
        .store
        .create_multipart_upload(&row.key, &store_headers)
        .await?;
    row.created_at_ms = now_ms();
    remember(&state, &row).await?;
    Ok(row)
}

/// Writes a new upload's row (and caches it); if the table refuses, the
/// upload is aborted on the store (best effort), so no orphan is left.
async fn remember(state: &AppState, row: &UploadRow) -> Result<(), ApiError> {
    if let Err(e) = state.db.insert(row).await {
        let _ = state
            .store
            .abort_multipart_upload(&row.key, &row.upload_id)
            .await;
        return Err(e.into());
    }
    state.cache.put(&row.upload_id, Known::from(row));
    Ok(())
}

/// Notes in the table what became of an upload the store no longer has,
/// when `e` says so (see [`settle_gone`]); a store that cannot say is
/// logged, and the row left open.
async fn note_if_gone(state: &AppState, upload_id: &str, key: &str, e: &StoreError) {
    if !e.is_no_such_upload() {
        return;
    }
    if let Err(e) = settle_gone(state, upload_id, key).await {
        eprintln!("warning: upload {upload_id} is gone from the store, and its object could not be looked for: {e}");
    }
}

/// Marks an upload the store answered `NoSuchUpload` for: completed if its
/// object exists, else aborted. Every upload has a key of its own (a random
/// segment per create), so an object there can only be this upload's,
/// completed by an earlier complete whose answer was lost or by one running
/// alongside. Gives the object's checksum when it exists.
///
/// # Errors
/// The store could not say whether the object exists: the row stays open.
pub(crate) async fn settle_gone(
    state: &AppState,
    upload_id: &str,
    key: &str,
) -> Result<Option<xml::CompleteResult>, StoreError> {
    let object = state.store.head_object(key).await?;
    let to = match object {
        Some(_) => UploadState::Completed,
        None => UploadState::Aborted,
    };
    finish(state, upload_id, to).await;
    Ok(object)
}

/// The object of an upload the store no longer has, if it was completed,
/// once its row is settled ([`settle_gone`]); `gone` if it was aborted; a
/// 502 if the store cannot say which.
async fn object_if_completed(
    state: &AppState,
    upload_id: &str,
    key: &str,
    gone: ApiError,
) -> Result<xml::CompleteResult, ApiError> {
    match settle_gone(state, upload_id, key).await {
        Ok(Some(object)) => Ok(object),
        Ok(None) => Err(gone),
        Err(head) => Err(ApiError::StoreCannotSay(head)),
    }
}

/// Marks an upload completed or aborted in the table and the cache (a
/// failure is logged: the janitor removes the row at expiry anyway).
async fn finish(state: &AppState, upload_id: &str, to: UploadState) {
    state.cache.close(upload_id);
    if let Err(e) = state.db.finish(upload_id, to, now_ms()).await {
        eprintln!(
            "warning: upload {upload_id} not marked {}: {e}",
            to.as_str()
        );
    }
}

/// `GET /api/s3/multipart/{uploadId}/{partNumber}?key=K` → `{url, expires}`;
/// with `&checksumSha256=B64`, the URL signs that checksum and the answer
/// adds `headers: {"x-amz-checksum-sha256": B64}` for the PUT to carry.
async fn sign_part(
    State(state): State<SharedState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<SignPartQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((upload_id, part_number)) = path?;
    let Query(query) = query?;
    let part_number = parse_part_number(&part_number)
        .map_err(|e| ApiError::bad_request("InvalidPartNumber", e.to_string()))?;
    let key = require_key(query.key)?;
    check_upload_id(&upload_id)?;
    let checksum = query
        .checksum_sha256
        .as_deref()
        .map(|c| checksum::parse_sha256(c, "checksumSha256"))
        .transpose()
        .map_err(invalid_checksum)?;
    access::may_sign(&state.db, &state.cache, &caller, &upload_id, &key).await?;
    let url = state.store.presign_upload_part(
        &key,
        &upload_id,
        part_number,
        state.part_url_expires,
        checksum,
    );
    let mut answer = json!({
        "url": url.as_str(),
        "expires": state.part_url_expires.as_secs(),
    });
    if let Some(checksum) = checksum {
        answer["headers"] = checksum_headers(checksum);
    }
    Ok(Json(answer))
}

/// The headers a part PUT must carry for a signed checksum.
fn checksum_headers(checksum: &str) -> Value {
    json!({ checksum::SHA256_HEADER: checksum })
}

/// `GET /api/s3/multipart/{uploadId}/batch?key=K&partNumbers=1,2` →
/// `{presignedUrls: {"1": url, "2": url}}`; with
/// `&checksumsSha256=B64a,B64b` (aligned with `partNumbers`), each URL signs
/// its part's checksum and the answer adds
/// `headers: {"1": {"x-amz-checksum-sha256": B64a}, ...}`.
async fn sign_batch(
    State(state): State<SharedState>,
    caller: Caller,
    NamedUpload { id: upload_id, key }: NamedUpload,
    query: Result<Query<BatchQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let raw_numbers = query.part_numbers.as_deref().unwrap_or_default();
    let numbers = parse_part_numbers(raw_numbers)
        .map_err(|e| ApiError::bad_request("InvalidPartNumber", e.to_string()))?;
    let checksums = query
        .checksums_sha256
        .as_deref()
        .map(|c| checksum::align_checksums(raw_numbers, c))
        .transpose()
        .map_err(invalid_checksum)?;
    access::may_sign(&state.db, &state.cache, &caller, &upload_id, &key).await?;
    let mut urls = Map::new();
    let mut headers = Map::new();
    for n in numbers {
        let checksum = checksums
            .as_ref()
            .and_then(|c| c.get(&n))
            .map(String::as_str);
        let url =
            state
                .store
                .presign_upload_part(&key, &upload_id, n, state.part_url_expires, checksum);
        urls.insert(n.to_string(), Value::String(url.into()));
        if let Some(checksum) = checksum {
            headers.insert(n.to_string(), checksum_headers(checksum));
        }
    }
    let mut answer = json!({ "presignedUrls": urls });
    if checksums.is_some() {
        answer["headers"] = Value::Object(headers);
    }
    Ok(Json(answer))
}

/// `GET /api/s3/multipart/{uploadId}?key=K` → `[{PartNumber, Size, ETag}]`
/// (plus `ChecksumSHA256` for a part the store lists one for), every page
/// of ListParts.
async fn list_parts(
    State(state): State<SharedState>,
    caller: Caller,
    NamedUpload { id: upload_id, key }: NamedUpload,
) -> Result<Json<Vec<PartJson>>, ApiError> {
    access::open_row(&state.db, &state.cache, &caller, &upload_id, &key).await?;
    let parts = match state.store.list_parts(&key, &upload_id).await {
        Ok(parts) => parts,
        Err(e) => {
            note_if_gone(&state, &upload_id, &key, &e).await;
            return Err(e.into());
        }
    };
    Ok(Json(
        parts
            .into_iter()
            .map(|p| PartJson {
                part_number: p.part_number,
                size: p.size,
                etag: p.etag,
                checksum_sha256: p.checksum_sha256,
            })
            .collect(),
    ))
}

/// `POST /api/s3/multipart/{uploadId}/complete?key=K` with
/// `{parts: [{PartNumber, ETag, ChecksumSHA256?}]}` →
/// `{location, key, bucket}`, plus `checksumSha256` and `checksumType` when
/// the store gives the object's checksum.
///
/// `parts: []` stores an empty object (for a 0-byte file, which Garage
/// cannot take through multipart), if the store holds no part of the upload.
///
/// A complete of an upload completed before (its answer lost on the way)
/// is answered again as the first was, without asking the store to
/// complete anything.
async fn complete_upload(
    State(state): State<SharedState>,
    caller: Caller,
    NamedUpload { id: upload_id, key }: NamedUpload,
    body: JsonBody<CompleteBody>,
) -> Result<Json<Value>, ApiError> {
    let body = body.take()?;
    // Checked before the row is read (sorted again where it is sent).
    sorted_parts(&body.parts)?;
    let row = access::owned_row(&state.db, &state.cache, &caller, &upload_id, &key).await?;
    let completed = match row.state {
        UploadState::Open => complete_detached(&state, row, body).await?,
        UploadState::Completed => completed_before(&state, &key).await,
        UploadState::Aborted => return Err(access::no_such_upload()),
    };
    Ok(Json(complete_answer(&state, &key, completed)))
}

/// `GET /api/s3/multipart/{uploadId}/complete?key=K` → the object of an
/// upload completed before (on another device, or by a run whose answer
/// was lost), as its complete answered: `{location, key, bucket}`, plus
/// `checksumSha256` and `checksumType` when the store gives them. 404
/// `NoSuchUpload` for an upload that was not completed (open, aborted,
/// unknown). A row still open whose upload the store no longer has is
/// settled first ([`settle_gone`]), as a part list settles it; nothing else
/// is changed. A client whose upload is gone asks it, and takes the object
/// only if its own bytes make that checksum.
async fn completed_upload(
    State(state): State<SharedState>,
    caller: Caller,
    NamedUpload { id: upload_id, key }: NamedUpload,
) -> Result<Json<Value>, ApiError> {
    let row = access::owned_row(&state.db, &state.cache, &caller, &upload_id, &key).await?;
    let completed = match row.state {
        UploadState::Completed => completed_before(&state, &key).await,
        // The store may have completed it behind a row still open (the
        // complete's answer lost, or its row not written): the store is
        // asked, and a gone upload settled, as a part list does. A store
        // that cannot be asked answers as its error does (a 502 the client
        // retries), never a 404, which would send it to a fresh upload.
        UploadState::Open => match state.store.probe_upload(&key, &upload_id).await {
            Ok(()) => return Err(access::no_such_upload()),
            Err(e) if e.is_no_such_upload() => {
                object_if_completed(&state, &upload_id, &key, access::no_such_upload()).await?
            }
            Err(e) => return Err(e.into()),
        },
        UploadState::Aborted => return Err(access::no_such_upload()),
    };
    Ok(Json(complete_answer(&state, &key, completed)))
}

/// A complete's answer for the object at `key`.
fn complete_answer(state: &AppState, key: &str, completed: xml::CompleteResult) -> Value {
    let mut answer = json!({
        "location": state.store.object_location(key),
        "key": key,
        "bucket": state.store.bucket_name(),
    });
    if let Some(checksum) = completed.checksum_sha256 {
        answer["checksumSha256"] = json!(checksum);
    }
    if let Some(checksum_type) = completed.checksum_type {
        answer["checksumType"] = json!(checksum_type);
    }
    answer
}

/// [`complete_open`], run to its end even if the client goes: a store may
/// take minutes to complete a large upload, and a client that gave up
/// meanwhile (its timeout, a pause) drops its request and axum this
/// handler, which would cancel the store's request with it, at every try.
async fn complete_detached(
    state: &SharedState,
    row: UploadRow,
    body: CompleteBody,
) -> Result<xml::CompleteResult, ApiError> {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let parts = sorted_parts(&body.parts)?;
        complete_open(&state, &row, &parts).await
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the complete did not finish: {e}")))?
}

/// Completes an open upload on the store and marks its row completed. If
/// the store no longer has the upload, whether its object exists says if it
/// was completed (then answered as such) or aborted ([`settle_gone`]).
async fn complete_open(
    state: &AppState,
    row: &UploadRow,
    parts: &[xml::CompletePart<'_>],
) -> Result<xml::CompleteResult, ApiError> {
    let (key, upload_id) = (row.key.as_str(), row.upload_id.as_str());
    let completed = if parts.is_empty() {
        complete_empty(state, row)
            .await
            .map(|()| xml::CompleteResult::default())
    } else {
        state
            .store
            .complete_multipart_upload(key, upload_id, parts)
            .await
    };
    match completed {
        Ok(completed) => {
            finish(state, upload_id, UploadState::Completed).await;
            Ok(completed)
        }
        // The HEAD failing, whatever the store answered (a 403 included:
        // AWS refuses a missing key so without s3:ListBucket), leaves it
        // undecided: 502, the row open, for the client to try again.
        Err(e) if e.is_no_such_upload() => {
            object_if_completed(state, upload_id, key, e.into()).await
        }
        Err(e) => Err(e.into()),
    }
}

/// What a complete answered for an upload completed before: the object's
/// checksum as the store gives it now (none if the store cannot be asked,
/// or the object was deleted since).
async fn completed_before(state: &AppState, key: &str) -> xml::CompleteResult {
    match state.store.head_object(key).await {
        Ok(object) => object.unwrap_or_default(),
        Err(e) => {
            eprintln!("warning: a complete of {key} is answered again without its checksum: {e}");
            xml::CompleteResult::default()
        }
    }
}

/// Completes an upload of a 0-byte file: stores an empty object with the
/// headers the upload was created with (kept in its row), then aborts the
/// multipart upload.
async fn complete_empty(state: &AppState, row: &UploadRow) -> Result<(), StoreError> {
    let (key, upload_id) = (row.key.as_str(), row.upload_id.as_str());
    let stored = state.store.list_parts(key, upload_id).await?;
    if !stored.is_empty() {
        return Err(StoreError::Status {
            status: 400,
            code: "InvalidRequest".to_owned(),
            message: format!(
                "`parts` is empty but the store holds {} part(s) of this upload: list them all",
                stored.len()
            ),
        });
    }
    state.store.put_empty_object(key, &row.headers).await?;
    match state.store.abort_multipart_upload(key, upload_id).await {
        Err(e) if !e.is_no_such_upload() => {
            eprintln!("warning: empty object stored but its multipart upload was not aborted: {e}");
        }
        _ => {}
    }
    Ok(())
}

/// The parts of a complete request, checked and sorted by part number.
fn sorted_parts(parts: &[CompletePart]) -> Result<Vec<xml::CompletePart<'_>>, ApiError> {
    let mut sorted = Vec::with_capacity(parts.len());
    for part in parts {
        let number = u16::try_from(part.part_number)
            .ok()
            .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "InvalidPartNumber",
                    format!(
                        "PartNumber {} is not between 1 and {MAX_PART_NUMBER}",
                        part.part_number
                    ),
                )
            })?;
        if part.etag.is_empty() || part.etag.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "InvalidPart",
                format!("the ETag of part {number} is empty or has control characters"),
            ));
        }
        let checksum_sha256 = part
            .checksum_sha256
            .as_deref()
            .map(|c| checksum::parse_sha256(c, &format!("the ChecksumSHA256 of part {number}")))
            .transpose()
            .map_err(invalid_checksum)?;
        sorted.push(xml::CompletePart {
            number,
            etag: part.etag.as_str(),
            checksum_sha256,
        });
    }
    sorted.sort_by_key(|part| part.number);
    if let Some(pair) = sorted.windows(2).find(|w| w[0].number == w[1].number) {
        return Err(ApiError::bad_request(
            "InvalidPartOrder",
            format!("part {} is listed more than once", pair[0].number),
        ));
    }
    Ok(sorted)
}

/// `DELETE /api/s3/multipart/{uploadId}?key=K` → `{}`.
async fn abort_upload(
    State(state): State<SharedState>,
    caller: Caller,
    NamedUpload { id: upload_id, key }: NamedUpload,
) -> Result<Json<Value>, ApiError> {
    access::open_row(&state.db, &state.cache, &caller, &upload_id, &key).await?;
    let aborted = state.store.abort_multipart_upload(&key, &upload_id).await;
    match &aborted {
        Ok(()) => finish(&state, &upload_id, UploadState::Aborted).await,
        Err(e) => note_if_gone(&state, &upload_id, &key, e).await,
    }
    aborted?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";

    fn part(n: u64, etag: &str) -> CompletePart {
        CompletePart {
            part_number: n,
            etag: etag.to_owned(),
            checksum_sha256: None,
        }
    }

    fn summed(n: u64, etag: &str, checksum: &str) -> CompletePart {
        CompletePart {
            checksum_sha256: Some(checksum.to_owned()),
            ..part(n, etag)
        }
    }

    fn numbers_and_etags<'a>(parts: &[xml::CompletePart<'a>]) -> Vec<(u16, &'a str)> {
        parts.iter().map(|p| (p.number, p.etag)).collect()
    }

    #[test]
    fn complete_parts_are_sorted_and_checked() {
        let parts = [part(3, "\"c\""), part(1, "\"a\""), part(2, "\"b\"")];
        assert_eq!(
            numbers_and_etags(&sorted_parts(&parts).unwrap()),
            [(1, "\"a\""), (2, "\"b\""), (3, "\"c\"")]
        );
        assert!(sorted_parts(&[part(0, "a")]).is_err());
        assert!(sorted_parts(&[part(10_001, "a")]).is_err());
        assert!(sorted_parts(&[part(70_000, "a")]).is_err());
        assert!(sorted_parts(&[part(1, "")]).is_err());
        assert!(sorted_parts(&[part(1, "a"), part(1, "b")]).is_err());
    }

    #[test]
    fn complete_parts_keep_their_checksums() {
        let parts = [summed(2, "\"b\"", SUM), part(1, "\"a\"")];
        let sorted = sorted_parts(&parts).unwrap();
        assert_eq!(sorted[0].checksum_sha256, None);
        assert_eq!(sorted[1].checksum_sha256, Some(SUM));
        for bad in ["", "abc", "47DEQpj8HBSa /TImW+5JCeuQeRkm5NMpJWZG3hSuFU="] {
            match sorted_parts(&[summed(1, "\"a\"", bad)]) {
                Err(ApiError::BadRequest { code, .. }) => assert_eq!(code, "InvalidChecksum"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn complete_bodies_read_checksums_and_ignore_other_fields() {
        let body: CompleteBody = serde_json::from_value(json!({
            "parts": [
                { "PartNumber": 1, "ETag": "\"a\"", "Size": 5 },
                { "PartNumber": 2, "ETag": "\"b\"", "ChecksumSHA256": SUM },
                { "PartNumber": 3, "ETag": "\"c\"", "ChecksumSHA256": null },
            ]
        }))
        .unwrap();
        let checksums: Vec<Option<&str>> = body
            .parts
            .iter()
            .map(|p| p.checksum_sha256.as_deref())
            .collect();
        assert_eq!(checksums, [None, Some(SUM), None]);
    }

    #[test]
    fn create_bodies_with_and_without_an_algorithm() {
        let plain: CreateBody =
            serde_json::from_value(json!({ "filename": "a", "type": "", "metadata": {} })).unwrap();
        assert_eq!(
            checksum::parse_algorithm(plain.checksum_algorithm.as_ref()),
            Ok(None)
        );
        let sha: CreateBody =
            serde_json::from_value(json!({ "filename": "a", "checksumAlgorithm": "SHA256" }))
                .unwrap();
        assert_eq!(
            checksum::parse_algorithm(sha.checksum_algorithm.as_ref()),
            Ok(Some(checksum::ChecksumAlgorithm::Sha256))
        );
        let bad: CreateBody =
            serde_json::from_value(json!({ "filename": "a", "checksumAlgorithm": "MD5" })).unwrap();
        assert!(checksum::parse_algorithm(bad.checksum_algorithm.as_ref()).is_err());
    }

    #[test]
    fn listed_parts_show_a_checksum_only_when_there_is_one() {
        let plain = PartJson {
            part_number: 1,
            size: 5,
            etag: "\"a\"".into(),
            checksum_sha256: None,
        };
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({ "PartNumber": 1, "Size": 5, "ETag": "\"a\"" })
        );
        let summed = PartJson {
            checksum_sha256: Some(SUM.into()),
            ..plain
        };
        assert_eq!(
            serde_json::to_value(&summed).unwrap()["ChecksumSHA256"],
            SUM
        );
    }
}
