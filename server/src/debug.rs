//! Routes for end-to-end tests, served only with `--debug-routes`
//! (relative to `/api`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::db::{now_ms, UploadState};
use crate::error::ApiError;
use crate::janitor;
use crate::named_upload::KeyQuery;
use crate::routes::SharedState;
use crate::s3::StoreError;

/// The debug routes, relative to `/api`.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/debug/object", get(object_digest))
        .route("/debug/uploads", get(list_uploads))
        .route("/debug/abort-all", post(abort_all))
        .route("/debug/rows", get(list_rows))
        .route("/debug/janitor", post(run_janitor))
}

/// `GET /api/debug/rows` → `{rows: [{uploadId, owner, key, name, size,
/// sampleSha256, partSize, checksumAlgorithm, createdAt, state}]}`: the
/// uploads table, oldest first.
async fn list_rows(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let rows: Vec<Value> = state
        .db
        .all()
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "uploadId": r.upload_id, "owner": r.owner, "key": r.key, "name": r.name,
                "size": r.size, "sampleSha256": r.sample_sha256, "partSize": r.part_size,
                "checksumAlgorithm": r.checksum_algorithm, "createdAt": r.created_at_ms,
                "state": r.state.as_str(),
            })
        })
        .collect();
    Ok(Json(json!({ "rows": rows })))
}

/// `POST /api/debug/janitor` → `{expired, finishedRemoved, orphansAborted}`:
/// one janitor sweep, now.
async fn run_janitor(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let sweep = janitor::sweep(&state).await.map_err(ApiError::Internal)?;
    Ok(Json(json!(sweep)))
}

/// `GET /api/debug/object?key=K` → `{size, sha256, contentType, metadata}`,
/// hashing the object as it streams from the store (`metadata` holds the
/// `x-amz-meta-*` headers, names without the prefix, values as stored), or
/// 404 when there is no object at that key.
async fn object_digest(
    State(state): State<SharedState>,
    query: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let key = query
        .key()
        .ok_or_else(|| ApiError::bad_request("MissingKey", "pass the object key as ?key="))?;
    let mut response = match state.store.get_object(key).await {
        Ok(response) => response,
        // No object there: 404, as the tests read it.
        Err(StoreError::Status { status: 404, .. }) => {
            return Err(ApiError::NotFound(format!("no object at {key}")))
        }
        Err(e) => return Err(e.into()),
    };
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let metadata: Map<String, Value> = response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((
                name.to_owned(),
                Value::String(value.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| StoreError::Unreachable(format!("GetObject body: {e}")))?
    {
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let sha256: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Json(json!({
        "size": size,
        "sha256": sha256,
        "contentType": content_type,
        "metadata": metadata,
    })))
}

/// `GET /api/debug/uploads` → `{uploads: [{key, uploadId}]}`: every one
/// in the bucket, under this server's key prefix or not.
async fn list_uploads(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let uploads = state.store.list_multipart_uploads("").await?;
    let uploads: Vec<Value> = uploads
        .into_iter()
        .map(|u| json!({ "key": u.key, "uploadId": u.upload_id }))
        .collect();
    Ok(Json(json!({ "uploads": uploads })))
}

/// `POST /api/debug/abort-all` → `{aborted: N}`: aborts every multipart
/// upload in progress in the bucket.
async fn abort_all(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let uploads = state.store.list_multipart_uploads("").await?;
    let mut aborted = 0u64;
    for upload in uploads {
        match state
            .store
            .abort_multipart_upload(&upload.key, &upload.upload_id)
            .await
        {
            Ok(()) => aborted += 1,
            // Finished or aborted meanwhile: nothing left to do.
            Err(e) if e.is_no_such_upload() => {}
            Err(e) => return Err(e.into()),
        }
        state.cache.close(&upload.upload_id);
        state
            .db
            .finish(&upload.upload_id, UploadState::Aborted, now_ms())
            .await?;
    }
    Ok(Json(json!({ "aborted": aborted })))
}
