//! Routes for end-to-end tests, served only with `--debug-routes`
//! (relative to `/api`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;
use crate::routes::{KeyQuery, SharedState};
use crate::s3::StoreError;

/// The debug routes, relative to `/api`.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/debug/object", get(object_digest))
        .route("/debug/uploads", get(list_uploads))
        .route("/debug/abort-all", post(abort_all))
}

/// `GET /api/debug/object?key=K` → `{size, sha256, contentType, metadata}`,
/// hashing the object as it streams from the store (`metadata` holds the
/// `x-amz-meta-*` headers, names without the prefix, values as stored).
async fn object_digest(
    State(state): State<SharedState>,
    query: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let key = query
        .key()
        .ok_or_else(|| ApiError::bad_request("MissingKey", "pass the object key as ?key="))?;
    let mut response = state.store.get_object(key).await?;
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

/// `GET /api/debug/uploads` → `{uploads: [{key, uploadId}]}`.
async fn list_uploads(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let uploads = state.store.list_multipart_uploads().await?;
    let uploads: Vec<Value> = uploads
        .into_iter()
        .map(|u| json!({ "key": u.key, "uploadId": u.upload_id }))
        .collect();
    Ok(Json(json!({ "uploads": uploads })))
}

/// `POST /api/debug/abort-all` → `{aborted: N}`: aborts every multipart
/// upload in progress in the bucket.
async fn abort_all(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let uploads = state.store.list_multipart_uploads().await?;
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
    }
    Ok(Json(json!({ "aborted": aborted })))
}
