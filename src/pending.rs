//! The unfinished uploads stored in this browser: find the one of a file,
//! list them, forget them. What `Upload.findPrevious`, `Upload.listPending`
//! and `Upload.clearPending` run, with the same record key and the same
//! expiry rule as an upload's run.
//!
//! ```
//! use resupload::memory::{MemoryClaims, MemoryStore};
//! use resupload::pending::{list, Lookup};
//! let (store, claims) = (MemoryStore::new(), MemoryClaims::default());
//! let listed = futures::executor::block_on(list(&store, &claims, 0.0, &Lookup::everything()));
//! assert_eq!(listed.unwrap(), vec![]);
//! ```

use std::ops::Deref;

use crate::core::fingerprint::{fingerprint, FileIdentity};
use crate::core::record::{PendingUpload, UploadRecord};
use crate::core::retry::RetryPolicy;
use crate::driver::is_live;
use crate::driver::retry::{with_retries, NoWaitForNetwork};
use crate::error::{Error, ErrorKind};
use crate::options::{endpoint_base, DEFAULT_EXPIRES_AFTER_MS};
use crate::ports::{Backend, Claiming, Claims, RecordStore, Timer};

/// Which stored uploads a call looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    /// Only this namespace's (all when `None`).
    pub namespace: Option<String>,
    /// Only this backend's (all when `None`).
    pub endpoint: Option<String>,
    /// How long the server keeps an unfinished upload (ms): older records
    /// are removed on the way.
    pub expires_after_ms: f64,
}

impl Lookup {
    /// Every stored upload, with the default expiry.
    pub fn everything() -> Self {
        Lookup {
            namespace: None,
            endpoint: None,
            expires_after_ms: DEFAULT_EXPIRES_AFTER_MS,
        }
    }

    fn covers(&self, record: &UploadRecord) -> bool {
        self.covers_place(&record.namespace, &record.endpoint)
    }

    /// Whether the lookup covers what was stored under `namespace` and
    /// `endpoint` (as records and batches keep it).
    pub fn covers_place(&self, namespace: &str, endpoint: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| namespace == n)
            && self
                .endpoint
                .as_deref()
                .is_none_or(|e| endpoint == endpoint_base(e))
    }
}

/// Whether a sweep that looks at `namespace` (all when `None`) removes
/// `record`: it is past its expiry, so the server has dropped its upload.
/// The one rule of every sweep: a run's (its own namespace) and
/// [`list`]'s.
pub fn is_collectable(
    record: &UploadRecord,
    namespace: Option<&str>,
    now: f64,
    expires_after_ms: f64,
) -> bool {
    namespace.is_none_or(|n| record.namespace == n) && now >= record.created_at + expires_after_ms
}

/// The stored unfinished upload of `file` among those `lookup` covers, if
/// any, saying whether a run holds it (`claims`). A namespace or an
/// endpoint the lookup leaves open is any: a record is `file`'s when its
/// key is the one `file` has under the record's own namespace and
/// endpoint. With both given, the record is loaded by its key. A record
/// past the lookup's expiry at `now` is removed and not found, as in
/// [`list`], unless a run holds it.
pub async fn find(
    store: &impl RecordStore,
    claims: &dyn Claims,
    now: f64,
    lookup: &Lookup,
    file: &FileIdentity,
) -> Result<Option<PendingUpload>, Error> {
    let found = match (&lookup.namespace, &lookup.endpoint) {
        (Some(namespace), Some(endpoint)) => {
            let id = fingerprint(namespace, endpoint_base(endpoint), file);
            store.load(&id).await?
        }
        _ => store.list().await?.into_iter().find(|record| {
            lookup.covers(record)
                && record.id == fingerprint(&record.namespace, &record.endpoint, file)
        }),
    };
    let Some(record) = found.filter(|record| !record.queued) else {
        return Ok(None);
    };
    let summary = summary(&record, claims).await;
    if !summary.running && is_collectable(&record, None, now, lookup.expires_after_ms) {
        store.remove(&record.id).await?;
        return Ok(None);
    }
    Ok(Some(summary))
}

/// `record`'s summary, saying whether a run holds it.
async fn summary(record: &UploadRecord, claims: &dyn Claims) -> PendingUpload {
    PendingUpload {
        running: is_running(claims, &record.id).await,
        ..record.summary()
    }
}

/// Whether a run holds record `id`: one of this page's (known here even
/// where the browser cannot lock across tabs), or one `claims` knows of
/// (another tab's).
async fn is_running(claims: &dyn Claims, id: &str) -> bool {
    is_live(id) || claims.held(id).await
}

/// The stored unfinished uploads `lookup` covers, oldest first, each
/// saying whether a run holds it (`claims`). An upload queue's files are
/// listed with their batch, not here. Records past expiry (in the lookup's
/// namespace) are removed on the way, unless a run holds them.
pub async fn list(
    store: &impl RecordStore,
    claims: &dyn Claims,
    now: f64,
    lookup: &Lookup,
) -> Result<Vec<PendingUpload>, Error> {
    let namespace = lookup.namespace.as_deref();
    let mut pending = Vec::new();
    for record in store.list().await? {
        if is_collectable(&record, namespace, now, lookup.expires_after_ms)
            && !is_running(claims, &record.id).await
        {
            store.remove(&record.id).await?;
        } else if lookup.covers(&record) && !record.queued {
            pending.push(summary(&record, claims).await);
        }
    }
    oldest_first(&mut pending);
    Ok(pending)
}

/// Forgets every stored upload `lookup` covers: each is aborted on its
/// backend (`backend_for(endpoint)`), retried as `retry` says (offline,
/// without waiting for the network), then its record deleted; an abort
/// that still fails is left to the server's lifecycle rule. Except for a
/// refusal of the caller's credentials: a 401 or a failing `headers`
/// function ends the clear with that error, and a 403 (not the caller's
/// upload) keeps the record, as the server keeps the upload. An upload a
/// run holds (`claims`: a run of another tab, or of this page not paused)
/// is left to it, and so is an upload queue's file (listed with its batch,
/// and forgotten with it). Answers how many were forgotten.
pub async fn clear<'b, B: Deref<Target = dyn Backend + 'b>>(
    store: &impl RecordStore,
    lookup: &Lookup,
    claims: &impl Claiming,
    timer: &dyn Timer,
    retry: &RetryPolicy,
    backend_for: impl Fn(&str) -> B,
) -> Result<u32, Error> {
    let mut count = 0;
    for record in store.list().await? {
        if !lookup.covers(&record) || record.queued || is_running(claims, &record.id).await {
            continue;
        }
        // Held while it is aborted: a run of another tab starting on it
        // now would have its upload aborted, its new record deleted.
        let Some(_claim) = claims.claim(&record.id).await else {
            continue;
        };
        let backend = backend_for(&record.endpoint);
        let abort = || backend.abort(&record.upload_id, &record.key);
        match with_retries(&NoWaitForNetwork(timer), retry, abort, || false).await {
            Err(e)
                if e.status() == Some(401)
                    || matches!(e.kind(), ErrorKind::HeadersFailed { .. }) =>
            {
                return Err(e)
            }
            Err(e) if e.status() == Some(403) => continue,
            _ => store.remove(&record.id).await?,
        }
        count += 1;
    }
    Ok(count)
}

/// Sorts by creation time. An insertion sort: stable, and a few records at
/// most, in a fraction of `slice::sort`'s 4 KB of wasm.
fn oldest_first(pending: &mut [PendingUpload]) {
    for i in 1..pending.len() {
        let mut j = i;
        while j > 0 && pending[j - 1].created_at > pending[j].created_at {
            pending.swap(j - 1, j);
            j -= 1;
        }
    }
}
