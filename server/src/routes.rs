//! The S3 multipart routes of Uppy Companion (under `/api/s3`), with the
//! same paths and JSON, so a client written for one works with the other.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::created::CreatedHeaders;
use crate::error::ApiError;
use crate::keys;
use crate::meta;
use crate::parts::{parse_part_number, parse_part_numbers, MAX_PART_NUMBER};
use crate::s3::Store;

/// The longest object key or upload id accepted, in bytes.
const MAX_ID_BYTES: usize = 1024;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The store client.
    pub store: Store,
    /// How long presigned part URLs stay valid.
    pub part_url_expires: Duration,
    /// The headers each upload was created with (for empty files).
    pub created: CreatedHeaders,
}

/// The shared state, as handlers get it.
pub type SharedState = Arc<AppState>;

/// The Companion S3 routes, relative to `/api`.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/s3/multipart", post(create_upload))
        .route(
            "/s3/multipart/{upload_id}",
            get(list_parts).delete(abort_upload),
        )
        .route("/s3/multipart/{upload_id}/batch", get(sign_batch))
        .route("/s3/multipart/{upload_id}/complete", post(complete_upload))
        .route("/s3/multipart/{upload_id}/{part_number}", get(sign_part))
}

/// The `?key=` query parameter.
#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    key: Option<String>,
}

impl KeyQuery {
    /// The key, if given and not empty.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref().filter(|k| !k.is_empty())
    }
}

/// The query of the batch signing route.
#[derive(Debug, Deserialize)]
pub struct BatchQuery {
    key: Option<String>,
    #[serde(rename = "partNumbers")]
    part_numbers: Option<String>,
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
}

/// The object key of a request: present, not empty, at most 1024 bytes.
fn require_key(key: Option<String>) -> Result<String, ApiError> {
    match key {
        Some(key) if !key.is_empty() && key.len() <= MAX_ID_BYTES && keys::is_issued_key(&key) => {
            Ok(key)
        }
        Some(key) if !key.is_empty() && key.len() <= MAX_ID_BYTES => Err(ApiError::bad_request(
            "InvalidKey",
            "this server did not issue that object key (uploads/<namespace>/<id>/<name>)",
        )),
        Some(key) if !key.is_empty() => Err(ApiError::bad_request(
            "InvalidKey",
            format!("the object key is longer than {MAX_ID_BYTES} bytes"),
        )),
        _ => Err(ApiError::bad_request(
            "MissingKey",
            "the object key must be passed as a query parameter, like ?key=uploads%2F...",
        )),
    }
}

/// An upload id from the path: at most 1024 bytes, no control characters.
fn check_upload_id(upload_id: &str) -> Result<(), ApiError> {
    if upload_id.is_empty()
        || upload_id.len() > MAX_ID_BYTES
        || upload_id.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "InvalidUploadId",
            "the upload id is empty, too long or has control characters",
        ));
    }
    Ok(())
}

/// `POST /api/s3/multipart`: starts an upload → `{key, uploadId, bucket}`.
async fn create_upload(
    State(state): State<SharedState>,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let key = keys::new_object_key(
        body.namespace.as_deref().unwrap_or_default(),
        body.filename.as_deref().unwrap_or_default(),
    )
    .map_err(|e| ApiError::Internal(format!("no random bytes: {e}")))?;
    let mut headers = Vec::new();
    if let Some(content_type) = meta::content_type(body.content_type.as_deref()) {
        headers.push(("content-type".to_owned(), content_type));
    }
    headers.extend(meta::metadata_headers(body.metadata.as_ref()));
    let upload_id = state.store.create_multipart_upload(&key, &headers).await?;
    state.created.remember(&upload_id, headers);
    Ok(Json(json!({
        "key": key,
        "uploadId": upload_id,
        "bucket": state.store.bucket_name(),
    })))
}

/// `GET /api/s3/multipart/{uploadId}/{partNumber}?key=K` → `{url, expires}`.
async fn sign_part(
    State(state): State<SharedState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((upload_id, part_number)) = path?;
    let Query(query) = query?;
    let part_number = parse_part_number(&part_number)
        .map_err(|e| ApiError::bad_request("InvalidPartNumber", e.to_string()))?;
    let key = require_key(query.key)?;
    check_upload_id(&upload_id)?;
    state.store.check_upload(&key, &upload_id).await?;
    let url =
        state
            .store
            .presign_upload_part(&key, &upload_id, part_number, state.part_url_expires);
    Ok(Json(json!({
        "url": url.as_str(),
        "expires": state.part_url_expires.as_secs(),
    })))
}

/// `GET /api/s3/multipart/{uploadId}/batch?key=K&partNumbers=1,2` →
/// `{presignedUrls: {"1": url, "2": url}}`.
async fn sign_batch(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<BatchQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(upload_id) = path?;
    let Query(query) = query?;
    let key = require_key(query.key)?;
    check_upload_id(&upload_id)?;
    let numbers = parse_part_numbers(query.part_numbers.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request("InvalidPartNumber", e.to_string()))?;
    state.store.check_upload(&key, &upload_id).await?;
    let urls: Map<String, Value> = numbers
        .into_iter()
        .map(|n| {
            let url = state
                .store
                .presign_upload_part(&key, &upload_id, n, state.part_url_expires);
            (n.to_string(), Value::String(url.into()))
        })
        .collect();
    Ok(Json(json!({ "presignedUrls": urls })))
}

/// `GET /api/s3/multipart/{uploadId}?key=K` → `[{PartNumber, Size, ETag}]`,
/// every page of ListParts.
async fn list_parts(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<Vec<PartJson>>, ApiError> {
    let Path(upload_id) = path?;
    let Query(query) = query?;
    let key = require_key(query.key)?;
    check_upload_id(&upload_id)?;
    let parts = state.store.list_parts(&key, &upload_id).await?;
    Ok(Json(
        parts
            .into_iter()
            .map(|p| PartJson {
                part_number: p.part_number,
                size: p.size,
                etag: p.etag,
            })
            .collect(),
    ))
}

/// `POST /api/s3/multipart/{uploadId}/complete?key=K` with
/// `{parts: [{PartNumber, ETag}]}` → `{location, key, bucket}`.
///
/// `parts: []` stores an empty object (for a 0-byte file, which Garage
/// cannot take through multipart), if the store holds no part of the upload.
async fn complete_upload(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<KeyQuery>, QueryRejection>,
    body: Result<Json<CompleteBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(upload_id) = path?;
    let Query(query) = query?;
    let key = require_key(query.key)?;
    check_upload_id(&upload_id)?;
    let Json(body) = body?;
    if body.parts.is_empty() {
        complete_empty(&state, &key, &upload_id).await?;
    } else {
        let parts = sorted_parts(&body.parts)?;
        state
            .store
            .complete_multipart_upload(&key, &upload_id, &parts)
            .await?;
    }
    state.created.forget(&upload_id);
    Ok(Json(json!({
        "location": state.store.object_location(&key),
        "key": key,
        "bucket": state.store.bucket_name(),
    })))
}

/// Completes an upload of a 0-byte file: stores an empty object with the
/// headers the upload was created with, then aborts the multipart upload.
async fn complete_empty(state: &AppState, key: &str, upload_id: &str) -> Result<(), ApiError> {
    let stored = state.store.list_parts(key, upload_id).await?;
    if !stored.is_empty() {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            format!(
                "`parts` is empty but the store holds {} part(s) of this upload: list them all",
                stored.len()
            ),
        ));
    }
    let headers = state.created.get(upload_id);
    state.store.put_empty_object(key, &headers).await?;
    match state.store.abort_multipart_upload(key, upload_id).await {
        Err(e) if !e.is_no_such_upload() => {
            eprintln!("warning: empty object stored but its multipart upload was not aborted: {e}");
        }
        _ => {}
    }
    Ok(())
}

/// The parts of a complete request as `(part number, ETag)`, checked and
/// sorted by part number.
fn sorted_parts(parts: &[CompletePart]) -> Result<Vec<(u16, &str)>, ApiError> {
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
        sorted.push((number, part.etag.as_str()));
    }
    sorted.sort_by_key(|(number, _)| *number);
    if let Some(pair) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ApiError::bad_request(
            "InvalidPartOrder",
            format!("part {} is listed more than once", pair[0].0),
        ));
    }
    Ok(sorted)
}

/// `DELETE /api/s3/multipart/{uploadId}?key=K` → `{}`.
async fn abort_upload(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(upload_id) = path?;
    let Query(query) = query?;
    let key = require_key(query.key)?;
    check_upload_id(&upload_id)?;
    state.store.abort_multipart_upload(&key, &upload_id).await?;
    state.created.forget(&upload_id);
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u64, etag: &str) -> CompletePart {
        CompletePart {
            part_number: n,
            etag: etag.to_owned(),
        }
    }

    #[test]
    fn complete_parts_are_sorted_and_checked() {
        let parts = [part(3, "\"c\""), part(1, "\"a\""), part(2, "\"b\"")];
        assert_eq!(
            sorted_parts(&parts).unwrap(),
            [(1, "\"a\""), (2, "\"b\""), (3, "\"c\"")]
        );
        assert!(sorted_parts(&[part(0, "a")]).is_err());
        assert!(sorted_parts(&[part(10_001, "a")]).is_err());
        assert!(sorted_parts(&[part(70_000, "a")]).is_err());
        assert!(sorted_parts(&[part(1, "")]).is_err());
        assert!(sorted_parts(&[part(1, "a"), part(1, "b")]).is_err());
    }

    #[test]
    fn keys_are_required() {
        assert!(require_key(None).is_err());
        assert!(require_key(Some(String::new())).is_err());
        assert!(require_key(Some("k".repeat(1025))).is_err());
        assert!(require_key(Some("uploads/a/b c".into())).is_err());
        let key = "uploads/a/0123456789abcdef0123456789abcdef/b c";
        assert_eq!(require_key(Some(key.into())).unwrap(), key);
    }
}
