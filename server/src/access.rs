//! Who may touch an upload: every route checks the caller against the
//! upload's row (owner and key) before anything is signed or sent to the
//! store.
//!
//! Signing a part is the hot route, so it reads a small in-process cache
//! of (upload id → owner, key, open) filled at create and from the table;
//! the other routes read the table itself. An upload completed or aborted
//! through another server instance may still look open here: its parts
//! are signed, and the store answers their PUTs with NoSuchUpload.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::auth::Caller;
use crate::db::{Db, UploadRow, UploadState};
use crate::error::ApiError;

/// The most uploads the cache holds; past it, it starts over.
pub const CACHE_CAPACITY: usize = 100_000;

/// What the sign route needs to know about an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Who created it.
    pub owner: Arc<str>,
    /// Its object key.
    pub key: Arc<str>,
    /// Not yet completed or aborted (as far as this server knows).
    pub open: bool,
}

impl From<&UploadRow> for Known {
    fn from(row: &UploadRow) -> Self {
        Self {
            owner: row.owner.as_str().into(),
            key: row.key.as_str().into(),
            open: row.state == UploadState::Open,
        }
    }
}

/// Upload id → [`Known`], bounded.
#[derive(Debug, Default)]
pub struct UploadCache {
    map: RwLock<HashMap<String, Known>>,
}

impl UploadCache {
    /// What is known of `upload_id`, if cached.
    pub fn get(&self, upload_id: &str) -> Option<Known> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(upload_id).cloned()
    }

    /// Caches `known` for `upload_id`. An upload noted closed stays closed:
    /// uploads never open again, and a route that read the row as open
    /// before another finished it must not put its stale snapshot over the
    /// other's [`close`](Self::close).
    pub fn put(&self, upload_id: &str, mut known: Known) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CACHE_CAPACITY && !map.contains_key(upload_id) {
            map.clear();
        }
        known.open &= map.get(upload_id).is_none_or(|cached| cached.open);
        map.insert(upload_id.to_owned(), known);
    }

    /// Notes that `upload_id` is completed or aborted.
    pub fn close(&self, upload_id: &str) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = map.get_mut(upload_id) {
            known.open = false;
        }
    }
}

/// The 404 for an upload id that names no open upload, as the store says it.
pub fn no_such_upload() -> ApiError {
    ApiError::NoSuchUpload(
        "no open upload has that id (completed, aborted, expired or never created)".to_owned(),
    )
}

/// Checks that `caller` may act on an upload with `owner` and `key` through
/// `requested_key`: its own upload (any caller when auth is off), under its
/// own key. Ownership is checked before state, so a foreign upload's state
/// is never revealed.
///
/// # Errors
/// 403 `AccessDenied` for another owner's upload or another key; 404
/// `NoSuchUpload` for an upload that is no longer open.
pub fn check(caller: &Caller, known: &Known, requested_key: &str) -> Result<(), ApiError> {
    check_owner(caller, known, requested_key)?;
    if !known.open {
        return Err(no_such_upload());
    }
    Ok(())
}

/// The first half of [`check`]: `caller` owns the upload (or auth is off)
/// and `requested_key` is its key, whatever its state.
///
/// # Errors
/// 403 `AccessDenied` for another owner's upload or another key.
fn check_owner(caller: &Caller, known: &Known, requested_key: &str) -> Result<(), ApiError> {
    if let Caller::Owner(owner) = caller {
        if **owner != *known.owner {
            return Err(ApiError::Forbidden(
                "that upload belongs to someone else".to_owned(),
            ));
        }
    }
    if *known.key != *requested_key {
        return Err(ApiError::Forbidden(
            "that key is not the key of that upload".to_owned(),
        ));
    }
    Ok(())
}

/// The open upload `upload_id` for the sign routes: from the cache, else
/// from the table (then cached).
///
/// # Errors
/// See [`check`]; 404 for an unknown upload; the database failing.
pub async fn may_sign(
    db: &Db,
    cache: &UploadCache,
    caller: &Caller,
    upload_id: &str,
    key: &str,
) -> Result<(), ApiError> {
    let known = match cache.get(upload_id) {
        Some(known) => known,
        None => {
            let row = db.get(upload_id).await?.ok_or_else(no_such_upload)?;
            let known = Known::from(&row);
            cache.put(upload_id, known.clone());
            known
        }
    };
    check(caller, &known, key)
}

/// The open upload `upload_id`'s row, read from the table, for the routes
/// that change it (list, abort).
///
/// # Errors
/// See [`may_sign`].
pub async fn open_row(
    db: &Db,
    cache: &UploadCache,
    caller: &Caller,
    upload_id: &str,
    key: &str,
) -> Result<UploadRow, ApiError> {
    let row = owned_row(db, cache, caller, upload_id, key).await?;
    if row.state != UploadState::Open {
        return Err(no_such_upload());
    }
    Ok(row)
}

/// The row of `upload_id` in whatever state, read from the table, once
/// `caller` may touch it (owner and key, as [`check`]): for complete, which
/// answers an upload it completed before as it did then.
///
/// # Errors
/// 404 for an unknown upload; 403 as [`check`]; the database failing.
pub async fn owned_row(
    db: &Db,
    cache: &UploadCache,
    caller: &Caller,
    upload_id: &str,
    key: &str,
) -> Result<UploadRow, ApiError> {
    let row = db.get(upload_id).await?.ok_or_else(no_such_upload)?;
    let known = Known::from(&row);
    cache.put(upload_id, known.clone());
    check_owner(caller, &known, key)?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(owner: &str, key: &str, open: bool) -> Known {
        Known {
            owner: owner.into(),
            key: key.into(),
            open,
        }
    }

    fn status(result: Result<(), ApiError>) -> u16 {
        match result {
            Ok(()) => 200,
            Err(e) => e.parts().0.as_u16(),
        }
    }

    #[test]
    fn owners_keys_and_states_are_checked_in_that_order() {
        let alice = Caller::Owner("user:alice".into());
        let bob = Caller::Owner("user:bob".into());
        let open = known("user:alice", "k1", true);
        let closed = known("user:alice", "k1", false);
        assert_eq!(status(check(&alice, &open, "k1")), 200);
        assert_eq!(status(check(&bob, &open, "k1")), 403);
        assert_eq!(status(check(&alice, &open, "k2")), 403);
        assert_eq!(status(check(&alice, &closed, "k1")), 404);
        assert_eq!(
            status(check(&bob, &closed, "k1")),
            403,
            "a foreign upload's state stays hidden"
        );
        // Auth off: anyone, but only with the upload's own key.
        assert_eq!(status(check(&Caller::Anyone, &open, "k1")), 200);
        assert_eq!(status(check(&Caller::Anyone, &open, "k2")), 403);
    }

    #[test]
    fn the_cache_notes_closing_and_stays_bounded() {
        let cache = UploadCache::default();
        cache.put("u1", known("a", "k", true));
        cache.close("u1");
        assert!(!cache.get("u1").unwrap().open);
        cache.close("unknown");
        assert_eq!(cache.get("unknown"), None);
        // A stale snapshot (read as open before the close) does not reopen it.
        cache.put("u1", known("a", "k", true));
        assert!(!cache.get("u1").unwrap().open);
        for i in 0..CACHE_CAPACITY + 1 {
            cache.put(&format!("x{i}"), known("a", "k", true));
        }
        assert!(cache.map.read().unwrap().len() <= CACHE_CAPACITY);
    }
}
