//! Which upload a request names: the upload id of its path and the object
//! key of its `?key=`, each checked before a handler sees them.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::Deserialize;

use crate::error::ApiError;
use crate::keys;

/// The longest object key or upload id accepted, in bytes.
const MAX_ID_BYTES: usize = 1024;

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

/// The upload a request names, for the routes whose one path parameter is
/// `{upload_id}` and that take `?key=` (not the part signer's, which has
/// two): an extractor that refuses, with the handler's error, a bad query,
/// a bad path, a key this server did not issue and a malformed upload id
/// (checked in that order). A route's own query fields are read after it:
/// a batch whose `partNumbers` is given twice and whose key is missing is
/// refused for the key.
///
/// ```ignore
/// async fn list_parts(caller: Caller, upload: NamedUpload) -> ... {
///     access::open_row(db, cache, &caller, &upload.id, &upload.key).await?;
/// }
/// ```
#[derive(Debug)]
pub struct NamedUpload {
    /// The upload id, from the path.
    pub id: String,
    /// The object key, from `?key=`.
    pub key: String,
}

impl<S: Send + Sync> FromRequestParts<S> for NamedUpload {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(query) = Query::<KeyQuery>::from_request_parts(parts, state).await?;
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        let key = require_key(query.key)?;
        check_upload_id(&id)?;
        Ok(Self { id, key })
    }
}

/// The object key of a request: present, not empty, at most 1024 bytes.
pub fn require_key(key: Option<String>) -> Result<String, ApiError> {
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
pub fn check_upload_id(upload_id: &str) -> Result<(), ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
