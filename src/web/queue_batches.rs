//! An upload queue's batch in IndexedDB (object store `batches`), so a
//! half-done folder can be listed after a reload and, where the folder came
//! as a handle (`showDirectoryPicker()`, a dropped folder in Chromium),
//! resumed with one click:
//! `{ id, namespace, endpoint, name, files, bytes, createdAt, handle? }`.
//! Written when a queue starts (and again as files are added while it
//! runs), replacing the batches of the same folder before it changed
//! ([`IdbStore::take_over`]), deleted when all its files have ended, and
//! collected past its expiry (by a listing, and at each queue run's
//! start: [`IdbStore::collect_expired`]). Which files are stored is what
//! the done markers say (`idb_done.rs`).

use std::collections::HashSet;

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::IdbTransactionMode;

use super::idb::{committed, settled, storage, IdbStore, BATCHES, STORE_TIMEOUT_MS};
use super::js::{present, string, Builder, Fields};
use super::queue::UploadQueue;
use crate::error::{Error, ErrorKind};
use crate::queue::{DoneMarker, DoneStore};

/// A queue's batch, as kept.
#[derive(Debug, Clone)]
pub(super) struct Batch {
    pub id: String,
    pub namespace: String,
    pub endpoint: String,
    /// The folder's name, or "N files".
    pub name: String,
    pub files: usize,
    pub bytes: u64,
    pub created_at: f64,
    /// The folder's `FileSystemDirectoryHandle`, when it came as one.
    pub handle: Option<JsValue>,
}

impl Batch {
    /// The fields kept and listed alike.
    fn fields(&self) -> Builder {
        Builder::new()
            .str("id", &self.id)
            .str("namespace", &self.namespace)
            .str("endpoint", &self.endpoint)
            .str("name", &self.name)
            .num("files", self.files as f64)
            .num("bytes", self.bytes as f64)
            .num("createdAt", self.created_at)
    }

    fn to_js(&self) -> JsValue {
        self.fields()
            .set("handle", self.handle.as_ref().unwrap_or(&JsValue::NULL))
            .done()
    }

    pub fn from_js(value: &JsValue) -> Option<Batch> {
        let f = Fields::of(value);
        let handle = f.raw("handle");
        f.checked(Batch {
            id: f.string("id"),
            namespace: f.string("namespace"),
            endpoint: f.string("endpoint"),
            name: f.string("name"),
            files: f.whole("files") as usize,
            bytes: f.whole("bytes"),
            created_at: f.number("createdAt"),
            handle: present(&handle).then_some(handle),
        })
    }

    /// What `UploadQueue.listPending` gives: the batch, how many of its
    /// files are stored, whether it continues without picking, and
    /// whether a queue's run holds it (`running`).
    pub fn pending_to_js(&self, markers: &[DoneMarker], running: bool) -> JsValue {
        let done = markers.iter().filter(|m| m.batch == self.id).count();
        self.fields()
            .num("filesDone", done as f64)
            .set("canResumeWithoutPicking", &self.handle.is_some().into())
            .set("running", &running.into())
            .done()
    }
}

impl IdbStore {
    /// Keeps `batch` (its creation time kept if it was kept before, less
    /// than `expires_after_ms` ago: an older one, whose done markers a run
    /// collects as expired, is begun afresh, and is not collected as
    /// expired while it runs); answers it as kept.
    pub(super) async fn put_batch(
        &self,
        batch: &Batch,
        expires_after_ms: f64,
    ) -> Result<Batch, Error> {
        let mut batch = batch.clone();
        if let Some(before) = self.batch(&batch.id).await? {
            if batch.created_at - before.created_at < expires_after_ms {
                batch.created_at = before.created_at;
            }
        }
        self.write_batch(&batch).await?;
        Ok(batch)
    }

    /// Writes `batch` as it is, over the one of its id.
    pub(super) async fn write_batch(&self, batch: &Batch) -> Result<(), Error> {
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        tx.object_store(BATCHES)
            .and_then(|batches| batches.put_with_key(&batch.to_js(), &JsValue::from_str(&batch.id)))
            .map_err(storage)?;
        committed(&tx).await
    }

    /// The batch `id`, if kept.
    pub(super) async fn batch(&self, id: &str) -> Result<Option<Batch>, Error> {
        let tx = self.transaction(IdbTransactionMode::Readonly)?;
        let request = tx
            .object_store(BATCHES)
            .and_then(|batches| batches.get(&JsValue::from_str(id)))
            .map_err(storage)?;
        Ok(Batch::from_js(&settled(&request, STORE_TIMEOUT_MS).await?))
    }

    /// Every kept batch.
    pub(super) async fn batches(&self) -> Result<Vec<Batch>, Error> {
        let tx = self.transaction(IdbTransactionMode::Readonly)?;
        let request = tx
            .object_store(BATCHES)
            .and_then(|batches| batches.get_all())
            .map_err(storage)?;
        let all: Array = settled(&request, STORE_TIMEOUT_MS).await?.unchecked_into();
        Ok(all.iter().filter_map(|b| Batch::from_js(&b)).collect())
    }

    /// Takes over the batches that `batch` replaces: the same folder,
    /// changed since (a file added, removed or changed gives another batch
    /// key), is known by the done markers of the files of `batch` (`files`,
    /// their record keys, which hold the namespace and the endpoint) that
    /// another batch stored. When every stored file of the old batch is
    /// one of `files`, its markers carry over to `batch`, so the files they
    /// name are still skipped and counted as its own, and the old batch is
    /// forgotten: it could never be resumed, and would stay listed until
    /// it expired. An old batch with stored files `batch` does not have
    /// (a part of a folder added, or a stored file since removed) is left
    /// as it is: forgetting it would forget those files were stored, and
    /// they would be sent again with the whole folder. A batch a run holds
    /// (another tab's) is left to it.
    pub(super) async fn take_over(
        &self,
        batch: &str,
        files: &HashSet<String>,
    ) -> Result<(), Error> {
        let markers = self.markers().await?;
        let mut replaced: Vec<&str> = markers
            .iter()
            .filter(|m| m.batch != batch && files.contains(&m.id))
            .map(|m| m.batch.as_str())
            .collect();
        replaced.sort_unstable();
        replaced.dedup();
        for old in replaced {
            let mut stored = markers.iter().filter(|m| m.batch == old);
            if !stored.all(|m| files.contains(&m.id)) || super::lock::is_held(old).await {
                continue;
            }
            let carried: Vec<DoneMarker> = markers
                .iter()
                .filter(|m| m.batch == old)
                .map(|m| DoneMarker {
                    batch: batch.to_owned(),
                    ..m.clone()
                })
                .collect();
            self.mark_all(&carried).await?;
            self.forget_batch(old).await?;
        }
        Ok(())
    }

    /// [`take_over`](Self::take_over) for the files `joined` that joined
    /// the run of `batch` (`None`: any of the queue's): only a batch that
    /// one of their markers names can be taken over now (one skipped
    /// before for a stored file the queue lacked gets it from them), so
    /// all the markers are read, and `files` (all the queue's) asked, only
    /// when one does: an add costs its own files, not every file the run
    /// stored.
    pub(super) async fn take_over_joined(
        &self,
        batch: &str,
        joined: Option<&[String]>,
        files: impl FnOnce() -> HashSet<String>,
    ) -> Result<(), Error> {
        if let Some(joined) = joined {
            let theirs = self.markers_of(joined).await?;
            if theirs.iter().all(|m| m.batch == batch) {
                return Ok(());
            }
        }
        self.take_over(batch, &files()).await
    }

    /// Collects `batch` if it is past `expires_after_ms` at `now` and no
    /// run holds it (a queue with a longer `expiresAfter`, or a run going
    /// on past it, is left its batch and the done markers it writes):
    /// forgets it with its markers. Answers whether it did.
    async fn collect_if_expired(
        &self,
        batch: &Batch,
        now: f64,
        expires_after_ms: f64,
    ) -> Result<bool, Error> {
        if now - batch.created_at <= expires_after_ms || super::lock::is_held(&batch.id).await {
            return Ok(false);
        }
        self.forget_batch(&batch.id).await?;
        Ok(true)
    }

    /// Collects the kept batches of `own`'s namespace and endpoint past
    /// `expires_after_ms` but `own` (the run's, dated afresh by
    /// [`Self::put_batch`]), as a listing does, so that an app that never
    /// lists them is not left every abandoned batch and its folder handle;
    /// then the done markers of no kept batch past `expires_after_ms` (left
    /// by a batch forgotten part-way; younger ones may be a run's whose
    /// batch could not be written, which skip its files after a reload). Another namespace's or endpoint's batches are not this
    /// queue's to judge (another user, another `expiresAfter`). One read of
    /// the batch store; the locks are asked of the expired batches only.
    pub(super) async fn collect_expired(
        &self,
        own: &Batch,
        expires_after_ms: f64,
    ) -> Result<(), Error> {
        let now = js_sys::Date::now();
        let mut kept = HashSet::new();
        for batch in self.batches().await? {
            let ours = batch.namespace == own.namespace && batch.endpoint == own.endpoint;
            if batch.id == own.id
                || !ours
                || !self
                    .collect_if_expired(&batch, now, expires_after_ms)
                    .await?
            {
                kept.insert(batch.id);
            }
        }
        let orphans: Vec<String> = self
            .markers()
            .await?
            .into_iter()
            .filter(|m| !kept.contains(&m.batch) && now - m.stored_at > expires_after_ms)
            .map(|m| m.id)
            .collect();
        if orphans.is_empty() {
            return Ok(());
        }
        self.forget(&orphans).await
    }

    /// Forgets those of batches `ids` that hold no stored file: a queue's
    /// earlier file sets (files were added since), which the batch it runs
    /// now supersedes. One with stored files is left to [`take_over`](Self::take_over),
    /// and one a run holds (another tab resumed it) to that run.
    pub(super) async fn forget_unstored(&self, ids: &[String]) -> Result<(), Error> {
        let markers = self.markers().await?;
        for id in ids {
            let stored = markers.iter().any(|m| &m.batch == id);
            if !stored && !super::lock::is_held(id).await {
                self.forget_batch(id).await?;
            }
        }
        Ok(())
    }

    /// Forgets batch `id` and its done markers.
    pub(super) async fn forget_batch(&self, id: &str) -> Result<(), Error> {
        let markers = self.markers().await?;
        let ids: Vec<String> = markers
            .into_iter()
            .filter(|m| m.batch == id)
            .map(|m| m.id)
            .collect();
        self.forget(&ids).await?;
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        tx.object_store(BATCHES)
            .and_then(|batches| batches.delete(&JsValue::from_str(id)))
            .map_err(storage)?;
        committed(&tx).await
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
impl UploadQueue {
    /// The half-done batches kept in this browser for `{ namespace }` (all
    /// when none is given): `{ id, name, files, filesDone, bytes, createdAt,
    /// canResumeWithoutPicking, running }`, oldest first. Batches past `expiresAfter`
    /// (default 7 days) are forgotten. Rejects with `STORAGE` where
    /// IndexedDB cannot be opened (no batch could be looked at).
    #[wasm_bindgen(js_name = listPending, unchecked_return_type = "Promise<PendingQueue[]>")]
    pub fn list_pending(
        #[wasm_bindgen(unchecked_optional_param_type = "LookupOptions")] options: JsValue,
    ) -> js_sys::Promise {
        super::api::promise(async move {
            let listed = list(&options).await;
            super::api::settle(listed, JsValue::from)
        })
    }

    /// A queue over the folder of batch `entry` (of `listPending`), from
    /// its kept folder handle: read permission is asked for first (call it
    /// from a click), and the folder walked again; `start()` it, and the
    /// files stored before are skipped. Rejects with `NO_HANDLE` (pick the
    /// folder again), `PERMISSION_DENIED` or `FILE_MISSING`;
    /// `INVALID_OPTION` for an `entry` that is not one of `listPending` or
    /// a bad option; otherwise as `new UploadQueue` and `add()` do.
    #[wasm_bindgen(js_name = resumePending, unchecked_return_type = "Promise<UploadQueue>")]
    pub fn resume_pending(
        #[wasm_bindgen(unchecked_param_type = "PendingQueue")] entry: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Partial<UploadQueueOptions>")]
        options: JsValue,
    ) -> js_sys::Promise {
        super::api::promise(async move {
            let (queue, folder) = queue_of(&entry, &options)
                .await
                .map_err(|e| super::js_error::to_js(&e))?;
            // The walk's own error (FILE_MISSING, PERMISSION_DENIED,
            // READ_FAILED), as `add()` gives it.
            wasm_bindgen_futures::JsFuture::from(queue.add(folder)).await?;
            Ok(queue.into())
        })
    }
}

async fn list(options: &JsValue) -> Result<Array, Error> {
    let lookup = super::options::parse_lookup(options)?;
    // Without IndexedDB no batch can be listed: STORAGE, not a "none" the
    // page could not tell from none (as `Upload.listPending`).
    let store = IdbStore::open().await?;
    let now = js_sys::Date::now();
    let markers = store.markers().await?;
    let mut batches = store.batches().await?;
    batches.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
    let listed = Array::new();
    for batch in batches {
        // Only the batches the listing covers are judged by its expiresAfter.
        if !lookup.covers_place(&batch.namespace, &batch.endpoint)
            || store
                .collect_if_expired(&batch, now, lookup.expires_after_ms)
                .await?
        {
            continue;
        }
        let running = super::lock::is_held(&batch.id).await;
        listed.push(&batch.pending_to_js(&markers, running));
    }
    Ok(listed)
}

/// A queue with `options` for the batch of `entry`, and the batch's folder
/// handle to walk, once read permission is granted.
async fn queue_of(entry: &JsValue, options: &JsValue) -> Result<(UploadQueue, JsValue), Error> {
    let id = string(entry, "id").ok_or_else(|| {
        Error::invalid_option(
            "entry",
            "give resumePending an entry of UploadQueue.listPending()",
        )
    })?;
    let store = IdbStore::open().await?;
    let batch = store.batch(&id).await?.ok_or(ErrorKind::NoHandle)?;
    let handle = batch.handle.clone().ok_or(ErrorKind::NoHandle)?;
    super::handles::permitted(&handle, true).await?;
    let defaults = [
        ("endpoint", batch.endpoint.as_str()),
        ("namespace", batch.namespace.as_str()),
    ];
    let queue = UploadQueue::build(&super::js::with_defaults(options, &defaults))?;
    Ok((queue, handle))
}
