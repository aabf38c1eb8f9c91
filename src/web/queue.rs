//! `UploadQueue`: many files (a folder of 10,000) under one budget of
//! requests in flight, resumable after a reload.
//!
//! ```js
//! const queue = new UploadQueue({ endpoint: "/api/s3", concurrency: 6 });
//! await queue.add(input.files);        // Files, a FileList, file or folder handles, dropped folders
//! queue.onProgress = …                  // or in the options: onProgress, onFile, onWarning
//! const { done, failed } = await queue.start();
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{select, Either};
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::api::{promise, settle};
use super::events::JsEvents;
use super::headers::BackendHeaders;
use super::idb::IdbStore;
use super::js::Builder;
use super::lock;
use super::options::{callback, parse, whole_option};
use super::queue_batches::Batch;
use super::queue_run::{QueueCallbacks, QueuePorts, QueuedFile, WebRunner};
use crate::core::fingerprint::FileIdentity;
use crate::core::plan::MAX_PART_SIZE;
use crate::core::text::{decimal, split_at_byte};
use crate::driver::FileInfo;
use crate::error::{Error, ErrorKind};
use crate::options::UploadOptions;
use crate::ports::{Warning, WarningCode};
use crate::queue::keeper::{Added, Keeper};
use crate::queue::signing::BatchSigner;
use crate::queue::{batch_id, FileOutcome, FileRunner, Queue, QueueEntry, QueueEvents, QueueState};

#[wasm_bindgen(module = "/src/web/queue_files.js")]
extern "C" {
    #[wasm_bindgen(js_name = collectFiles)]
    fn collect_files(input: &JsValue) -> Promise;
}

// The queue's types, in the declarations of the `resupload/queue` build
// only (the default build has no `UploadQueue`).
#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options of `new UploadQueue(options)`: those of `new Upload` (`concurrency` is the whole
 *  queue's budget of requests in flight; unset, 4 and grown from the link up to
 *  `maxConcurrency`) but those no queue reads (`stage`: no staged copies; `onPartComplete`,
 *  `onResume`, `onRestart`, `onExpiringSoon` and `expiryWarning`, `onPartBookkeeping`: a
 *  queue tells of its files through `onFile`), plus: */
export interface UploadQueueOptions extends Omit<UploadOptions, "onProgress" | "onPartComplete" | "onResume" | "onRestart" | "onExpiringSoon" | "expiryWarning" | "onPartBookkeeping" | "stage"> {
  /** Files up to this many bytes go whole in one request (no multipart round trips); default the
   *  part size (8 MiB): a file of one part gains nothing from a multipart upload. At most 5 GiB. */
  singleRequestLimit?: number;
  /** The whole queue's progress, at most every 100 ms while bytes move. */
  onProgress?: (progress: UploadQueueProgress) => void;
  /** One file ended: stored (`key`; `skipped` when an earlier run stored it), failed (`error`) or
   *  cancelled. */
  onFile?: (file: UploadQueueFile) => void;
}
/** A queue's progress. `bytes.sent` never goes back while the totals stay. */
export interface UploadQueueProgress {
  files: { total: number; done: number; failed: number };
  bytes: { sent: number; confirmed: number; total: number };
  /** Over the last seconds; 0 until measured. */
  bytesPerSecond: number;
  /** At that rate; null until there is one. */
  etaSeconds: number | null;
}
/** One file of a queue. `relativePath` is its path in the folder it was added from (its name
 *  when it came alone). `file` is what was added: a File, or a Blob (named "blob"). */
export interface UploadQueueFile {
  index: number; name: string; relativePath: string; file: File | Blob;
  key?: string; skipped?: boolean; cancelled?: boolean; error?: ResuploadError;
}
/** A half-done queue kept in this browser (`UploadQueue.listPending`). */
export interface PendingQueue {
  id: string; namespace: string; endpoint: string;
  /** The folder's name, or "N files". */
  name: string;
  files: number; filesDone: number; bytes: number; createdAt: number;
  /** Whether `UploadQueue.resumePending(entry)` continues it without picking: it was added as
   *  one folder handle (`showDirectoryPicker()`, a dropped folder in Chromium). */
  canResumeWithoutPicking: boolean;
  /** Whether a queue's run is sending it now: another tab's, or this page's and not paused.
   *  Its `start()` then fails with UPLOAD_LOCKED (or, with `lock: "wait"`, waits). */
  running: boolean;
}
/** What `queue.start()` resolves to once every file has ended. */
export interface UploadQueueResult { done: UploadQueueFile[]; failed: UploadQueueFile[]; cancelled: UploadQueueFile[]; }
"#;

/// How long added files are read before the event loop gets a turn (and
/// the page a frame), so adding 10,000 files never holds the page for
/// long. A time, not a count: reading a File's size costs about 90 µs in
/// WebKit (a thousand times Chromium's), so 500 files at a time held the
/// page for 170-240 ms there.
const ADD_SLICE_MS: f64 = 10.0;

/// What a queue keeps between calls.
struct QueueInner {
    files: RefCell<Vec<QueuedFile>>,
    /// The record keys of the files, to add none twice.
    ids: RefCell<HashSet<String>>,
    entries: RefCell<Vec<QueueEntry>>,
    state: QueueState,
    options: UploadOptions,
    single_limit: u64,
    events: JsEvents,
    on_file: Option<Function>,
    headers: BackendHeaders,
    /// The folder's handle, when the files came as one folder handle (a
    /// batch with it resumes after a reload without picking).
    folder: RefCell<Option<JsValue>>,
    /// The ids of the batches this queue wrote (one per file set it ran:
    /// `add` between runs makes another), forgotten once every file ended.
    batches: RefCell<Vec<String>>,
    /// The running run's stop signal (dropping it pauses), and the run's
    /// number.
    stop: RefCell<Option<(u64, oneshot::Sender<()>)>>,
    cancelling: Cell<bool>,
    /// How many runs began (each run's number).
    runs: Cell<u64>,
    /// When the last run gave its batch lock back (ms since the epoch).
    lock_given_back_at: Cell<f64>,
    /// The batch of the run going on, as kept in IndexedDB: files added
    /// while it runs are written into it ([`keep_added`]).
    running_batch: RefCell<Option<RunningBatch>>,
    /// Its writes, one at a time ([`keep_added`]).
    keeper: Keeper,
}

/// The batch run `run` keeps.
struct RunningBatch {
    run: u64,
    batch: Batch,
    /// The locks of the file sets files joined the run as (the batch's
    /// own is the run's): a second tab's queue of the same files finds
    /// them held.
    joined: Vec<lock::LockGuard>,
}

/// Forgets run `run`'s batch (see [`QueueInner::running_batch`]) when the
/// run ends or is dropped (a pause), unless another run's took its place.
struct ForgetRunning<'a>(&'a QueueInner, u64);

impl Drop for ForgetRunning<'_> {
    fn drop(&mut self) {
        let mut running = self.0.running_batch.borrow_mut();
        if running.as_ref().is_some_and(|r| r.run == self.1) {
            *running = None;
        }
    }
}

/// Many files under one budget of requests in flight. Files start in the
/// order added, several at once; a small file goes whole in one request,
/// a large one as a resumable multipart upload whose parts share the
/// budget. After a reload, adding the same files again skips the ones
/// stored and resumes the ones partly sent.
#[wasm_bindgen]
pub struct UploadQueue {
    inner: Rc<QueueInner>,
}

#[wasm_bindgen]
impl UploadQueue {
    /// A queue with the options of `new Upload` (`concurrency` is the
    /// whole queue's budget of requests in flight) but `stage`,
    /// `expiryWarning` and the callbacks of one upload, plus
    /// `singleRequestLimit` (bytes; files up to it go in one request;
    /// default the part size), and the callbacks `onProgress`, `onFile` and
    /// `onWarning`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "UploadQueueOptions")] options: JsValue,
    ) -> Result<UploadQueue, JsValue> {
        Self::build(&options).map_err(|e| super::js_error::to_js(&e))
    }

    /// `new UploadQueue(options)`, with the error as it is.
    pub(super) fn build(options: &JsValue) -> Result<UploadQueue, Error> {
        if let Some(feature) = super::support::missing_feature() {
            return Err(ErrorKind::UnsupportedBrowser { feature }.into());
        }
        let mut parsed = parse(options)?;
        parsed.options.validate()?;
        parsed.options.in_queue = true;
        let single_limit =
            whole_option(options, "singleRequestLimit")?.unwrap_or(parsed.options.part_size);
        if single_limit > MAX_PART_SIZE {
            let reason = "must be at most 5 GiB (5368709120 bytes), S3's largest single PUT";
            return Err(Error::invalid_option("singleRequestLimit", reason));
        }
        Ok(UploadQueue {
            inner: Rc::new(QueueInner {
                files: RefCell::new(Vec::new()),
                ids: RefCell::new(HashSet::new()),
                entries: RefCell::new(Vec::new()),
                state: QueueState::new(),
                on_file: callback(options, "onFile")?,
                options: parsed.options,
                single_limit,
                events: parsed.events,
                headers: parsed.headers,
                folder: RefCell::new(None),
                batches: RefCell::new(Vec::new()),
                stop: RefCell::new(None),
                cancelling: Cell::new(false),
                runs: Cell::new(0),
                lock_given_back_at: Cell::new(f64::NEG_INFINITY),
                running_batch: RefCell::new(None),
                keeper: Keeper::default(),
            }),
        })
    }

    /// Adds files: a `File`, a `FileList` (a `webkitdirectory` input keeps
    /// each file's folder path), an array, a `FileSystemFileHandle`, a
    /// `FileSystemDirectoryHandle` or a dropped folder's entry (walked
    /// whole). A file already in the queue is not added twice. Resolves to
    /// how many were added; they join a running queue. Files and folders
    /// the browser will not read are left out (a `FILES_UNREADABLE`
    /// warning); when none could be read, rejects with the first one's
    /// error (`FILE_MISSING`, `PERMISSION_DENIED` or `READ_FAILED`).
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn add(&self, files: JsValue) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(async move {
            let collected = JsFuture::from(collect_files(&files))
                .await
                .map_err(|e| Error::invalid_option("files", super::js_error::describe(&e)));
            let was_empty = inner.files.borrow().is_empty();
            let added = match collected {
                Ok(pair) => add_readable(&inner, pair.unchecked_into()).await,
                Err(e) => Err(e),
            };
            if let Some(ids) = added.as_ref().ok().filter(|ids| !ids.is_empty()) {
                // Only a queue of one folder handle resumes from it: files
                // from elsewhere end that; the same folder dropped again
                // (a new file in it) does not, nor an add of nothing new.
                let folder = match was_empty {
                    true => is_folder_handle(&files).then_some(files),
                    false if is_kept_folder(&inner, &files).await => inner.folder.borrow().clone(),
                    false => None,
                };
                *inner.folder.borrow_mut() = folder;
                keep_added(&inner, Added::Files(ids.clone())).await;
            }
            settle(added, |ids| JsValue::from_f64(ids.len() as f64))
        })
    }

    /// Uploads every file not yet stored (failed ones again). Resolves,
    /// when every file is stored, failed or cancelled, to `{ done, failed,
    /// cancelled }`: failures are listed, never thrown away. Rejects with
    /// `PAUSED` after `pause()`, `ABORTED` after `cancel()`, and
    /// `UPLOAD_LOCKED` while another tab runs a queue of the same files
    /// (with `lock: "wait"`, it starts when that run ends). When 3 files in
    /// a row failed for a reason that is not theirs (the backend or the
    /// store unreachable after every retry, a 401 or 403, the `headers`
    /// function failing, an answer that is not the protocol's), none
    /// stored in between, the queue stops starting files: once the running
    /// ones have ended, it rejects with that error (`NETWORK`,
    /// `HTTP_STATUS`, `HEADERS_FAILED`, …); the files not started still
    /// wait, and `start()` again goes on from there.
    #[wasm_bindgen(unchecked_return_type = "Promise<UploadQueueResult>")]
    pub fn start(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        if inner.stop.borrow().is_some() {
            return Promise::reject(&super::js_error::to_js(&ErrorKind::AlreadyRunning.into()));
        }
        let (stop, stopping) = oneshot::channel::<()>();
        let number = inner.runs.get() + 1;
        inner.runs.set(number);
        *inner.stop.borrow_mut() = Some((number, stop));
        promise(async move {
            let ran = match select(stopping, std::pin::pin!(run(&inner, number))).await {
                Either::Left(_) if inner.cancelling.get() => Err(ErrorKind::Aborted.into()),
                Either::Left(_) => Err(ErrorKind::Paused.into()),
                Either::Right((ran, _)) => ran,
            };
            // Only its own: after `pause(); start()` in one turn, the signal
            // there is the next run's.
            let mut stop = inner.stop.borrow_mut();
            if stop.as_ref().is_some_and(|(n, _)| *n == number) {
                *stop = None;
            }
            drop(stop);
            // Cancelled as the run stopped (a pause): no run tells of them.
            tell_cancelled(&inner, &inner.state.take_cancelled());
            settle(ran, |()| result_of(&inner))
        })
    }

    /// `start()` again after `pause()`.
    #[wasm_bindgen(unchecked_return_type = "Promise<UploadQueueResult>")]
    pub fn resume(&self) -> Promise {
        self.start()
    }

    /// Stops every request in flight; the pending `start()` rejects with
    /// `PAUSED`, and `resume()` continues.
    pub fn pause(&self) {
        drop(self.inner.stop.borrow_mut().take());
    }

    /// Cancels one file (the `File` as added, or its index), or with no
    /// argument the whole queue: a running upload stops at once, and what
    /// it left on the server is aborted. Resolves to whether anything was
    /// cancelled (`false` for a file already stored, or a file or an index
    /// not in the queue).
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn cancel(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "File | Blob | number")] file: JsValue,
    ) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(async move {
            let cancelled = match file.is_undefined() || file.is_null() {
                true => cancel_all(&inner).await,
                false => cancel_one(&inner, index_of(&inner, &file)).await,
            };
            settle(cancelled, JsValue::from_bool)
        })
    }

    /// How many files the queue holds.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.inner.files.borrow().len()
    }

    /// The files, in the order added (an index here is the file's index
    /// in `onFile` and `cancel`).
    #[wasm_bindgen(getter, unchecked_return_type = "(File | Blob)[]")]
    pub fn files(&self) -> Array {
        self.inner
            .files
            .borrow()
            .iter()
            .map(|f| JsValue::from(f.blob.clone()))
            .collect()
    }
}

/// Adds the files a walk read (`[files, unreadable]`, see
/// `collectFiles`). Those it could not read are told in one
/// `FILES_UNREADABLE` warning, and the rest are added; when it read none,
/// the first one's error (`FILE_MISSING`, `PERMISSION_DENIED` or
/// `READ_FAILED`) rejects the call.
async fn add_readable(inner: &QueueInner, walked: Array) -> Result<Vec<String>, Error> {
    let (files, unreadable): (Array, Array) = (walked.get(0).into(), walked.get(1).into());
    let first = unreadable.get(0);
    if files.length() == 0 && !first.is_undefined() {
        return Err(super::handles::file_error(&Array::from(&first).get(1)));
    }
    if unreadable.length() > 0 {
        inner.events.warn(unreadable_warning(&unreadable));
    }
    add_all(inner, files).await
}

/// The warning of the files and folders a walk could not read: how many,
/// and the first few of them with why.
fn unreadable_warning(unreadable: &Array) -> Warning {
    let mut message = [
        &decimal(unreadable.length().into()),
        " files or folders could not be read and were not added (",
    ]
    .concat();
    for (i, pair) in unreadable.iter().take(3).enumerate() {
        let pair = Array::from(&pair);
        let path = pair.get(0).as_string().unwrap_or_default();
        let why = super::handles::file_error(&pair.get(1)).message();
        message.push_str(&[if i > 0 { "; " } else { "" }, &path, ": ", &why].concat());
    }
    message.push_str("): add them again once they can be read");
    Warning {
        code: WarningCode::FilesUnreadable,
        message,
    }
}

/// Adds the collected `[file, relativePath]` pairs, a slice of time per
/// turn of the event loop; answers the record keys of those that were new.
async fn add_all(inner: &QueueInner, list: Array) -> Result<Vec<String>, Error> {
    let mut added = Vec::new();
    let mut slice_began = js_sys::Date::now();
    for pair in list.iter() {
        if js_sys::Date::now() - slice_began >= ADD_SLICE_MS {
            gloo_timers::future::TimeoutFuture::new(0).await;
            slice_began = js_sys::Date::now();
        }
        let pair: Array = pair.unchecked_into();
        let mut file = queued(pair.get(0).unchecked_into(), pair.get(1).as_string());
        key_blob_by_content(&mut file).await;
        let id = inner.options.record_id(&file.info.identity);
        if !inner.ids.borrow_mut().insert(id.clone()) {
            continue;
        }
        let size = file.info.identity.size;
        inner.entries.borrow_mut().push(QueueEntry {
            id: id.clone(),
            size,
        });
        inner.files.borrow_mut().push(file);
        inner.state.add(1);
        added.push(id);
    }
    Ok(added)
}

/// Keys a plain `Blob` (not a `File`) by its content sample, as `Upload`
/// does (`Source::key_by_content`): it has no name or date, so two Blobs of
/// one size were one file (the second not added, or after a reload
/// skipped as the first's stored object).
async fn key_blob_by_content(file: &mut QueuedFile) {
    if super::blob::as_file(&file.blob).is_none() {
        file.info.identity.content_sample = super::blob::sample_sha256(&file.blob).await.ok();
    }
}

/// A file as the queue keeps it.
fn queued(blob: Blob, path: Option<String>) -> QueuedFile {
    let file = super::blob::as_file(&blob);
    QueuedFile {
        info: FileInfo {
            identity: FileIdentity {
                name: file.map_or_else(|| "blob".into(), |f| f.name()),
                size: super::blob::size(&blob),
                last_modified: file.map_or(0.0, |f| f.last_modified()),
                source_id: None,
                relative_path: path.filter(|p| !p.is_empty()),
                content_sample: None,
            },
            file_type: blob.type_(),
            sample_sha256: None,
        },
        blob,
    }
}

/// Run `run` over the queue's files.
async fn run(inner: &QueueInner, run: u64) -> Result<(), Error> {
    inner.cancelling.set(false);
    inner.state.prepare_run();
    let batch = batch_of(inner);
    let _lock = hold_batch(inner, &batch.id).await?;
    if !inner.batches.borrow().contains(&batch.id) {
        inner.batches.borrow_mut().push(batch.id.clone());
    }
    let _forget = ForgetRunning(inner, run);
    if let Ok(store) = IdbStore::open().await {
        // Best effort: without it the folder is not listed after a reload.
        if let Ok(kept) = store
            .put_batch(&batch, inner.options.expires_after_ms)
            .await
        {
            // Best effort: without it an older batch of the folder stays
            // listed, and its files are skipped all the same.
            let files = inner.ids.borrow().clone();
            let _ = store.take_over(&kept.id, &files).await;
            // This queue's earlier file sets that stored nothing: else
            // listed beside this one after a reload, until they expire.
            let earlier: Vec<String> = inner
                .batches
                .borrow()
                .iter()
                .filter(|id| **id != kept.id)
                .cloned()
                .collect();
            let _ = store.forget_unstored(&earlier).await;
            // Best effort too: what is left is collected by the next run.
            let _ = store
                .collect_expired(&kept, inner.options.expires_after_ms)
                .await;
            *inner.running_batch.borrow_mut() = Some(RunningBatch {
                run,
                batch: kept,
                joined: Vec::new(),
            });
            // Files added while it was written.
            keep_added(inner, Added::Every).await;
        }
    }
    loop {
        let ran = run_batch(inner, &batch.id).await;
        if inner.state.all_ended() {
            // Files added from now on are not written into it.
            inner.running_batch.take();
            forget_batches(inner).await;
        }
        // Files added while the batches were forgotten join this run too.
        if ran.is_err() || !inner.state.has_waiting() {
            return ran;
        }
    }
}

/// A run's lock of its batch. Dropped (the run ended or was paused), it
/// notes when, for a run started right after (see [`hold_batch`]).
struct BatchLock<'a> {
    inner: &'a QueueInner,
    _guard: Option<lock::LockGuard>,
}

impl Drop for BatchLock<'_> {
    fn drop(&mut self) {
        self.inner.lock_given_back_at.set(js_sys::Date::now());
    }
}

/// Takes the lock of batch `id` for a run: one run of a batch at a time
/// across tabs (two would both send its small files, which hold no lock
/// of their own). The lock manager frees the lock of a run stopped just
/// before (`pause(); start()`) a task or two later: that is waited for.
async fn hold_batch<'a>(inner: &'a QueueInner, id: &str) -> Result<BatchLock<'a>, Error> {
    let wait = inner.options.wait_for_lock;
    let given_back = js_sys::Date::now() - inner.lock_given_back_at.get();
    let guard = match lock::hold_record(id, wait, &|w| inner.events.warn(w)).await {
        Err(e)
            if matches!(e.kind(), ErrorKind::Locked)
                && given_back < f64::from(lock::RELEASE_MS) =>
        {
            lock::hold_released(id).await
        }
        held => held,
    };
    let guard = guard.map_err(|e| match e.kind() {
        ErrorKind::Locked => ErrorKind::BatchLocked.into(),
        _ => e,
    })?;
    Ok(BatchLock {
        inner,
        _guard: guard,
    })
}

/// Writes the files added while a run goes on into the batch it keeps
/// (best effort), so that after a reload the batch counts them: their
/// done markers carry its id. The batch is as [`batch_of`] makes it, but
/// for its id: the run's markers keep theirs. An older batch of files
/// added (a half-done folder dropped in again) is taken over, as at the
/// run's start: its markers are the run's, forgotten with its own when
/// it ends, and it is no longer listed to be resumed again in full.
/// `added`: the files added (their record keys), or every file. Adds
/// made while one is kept are kept together next ([`Keeper`]).
async fn keep_added(inner: &QueueInner, added: Added) {
    if inner.running_batch.borrow().is_none() {
        return;
    }
    inner
        .keeper
        .keep(added, |added| keep_batch(inner, added))
        .await;
}

/// Writes the running batch with the queue's files now (see
/// [`keep_added`]).
async fn keep_batch(inner: &QueueInner, added: Added) {
    let Ok(store) = IdbStore::open().await else {
        return;
    };
    // Made just before its write transaction, and transactions commit in
    // the order made: the last write has the latest files.
    let (updated, now_id) = {
        let mut running = inner.running_batch.borrow_mut();
        let Some(kept) = running.as_mut().map(|r| &mut r.batch) else {
            return;
        };
        let now = batch_of(inner);
        if (now.files, now.bytes) == (kept.files, kept.bytes) {
            return;
        }
        (kept.name, kept.files, kept.bytes, kept.handle) =
            (now.name, now.files, now.bytes, now.handle);
        (kept.clone(), now.id)
    };
    let _ = store.write_batch(&updated).await;
    // The files as they are now are this run's too: a second tab's start()
    // of them finds their lock held (none is waited for: one held already
    // is another tab's run of them, which goes on as this one does).
    if let Ok(Some(guard)) = lock::hold_record(&now_id, false, &|_| {}).await {
        if let Some(running) = inner.running_batch.borrow_mut().as_mut() {
            running.joined.push(guard);
        }
    }
    let all = || inner.ids.borrow().clone();
    let _ = store
        .take_over_joined(&updated.id, added.files(), all)
        .await;
}

/// Forgets the queue's batches and their done markers: every batch its
/// runs wrote, and the batch its files make now unless a run in another
/// tab holds it (a queue resumed, or its folder added again, and cancelled
/// before it ran here). Another batch's markers stay with it. Best effort:
/// a failure is warned of, and what is left is collected past its expiry.
async fn forget_batches(inner: &QueueInner) {
    let mut ids = inner.batches.take();
    let now = batch_of(inner).id;
    if !ids.contains(&now) && !super::lock::is_held(&now).await {
        ids.push(now);
    }
    let Ok(store) = IdbStore::open().await else {
        return;
    };
    for id in &ids {
        if let Err(error) = store.forget_batch(id).await {
            let then = "a batch and its done markers are left behind, until they expire";
            inner
                .events
                .warn(crate::ports::Warning::storage(&error, then));
        }
    }
}

/// The batch of `inner`'s files now.
fn batch_of(inner: &QueueInner) -> Batch {
    let files = inner.files.borrow();
    let bytes = files.iter().map(|f| f.info.identity.size).sum();
    let folder = inner.folder.borrow().clone();
    let name = folder
        .as_ref()
        .and_then(|handle| super::js::string(handle, "name"))
        .or_else(|| common_folder(&files))
        .unwrap_or_else(|| [&decimal(files.len() as u64), " files"].concat());
    let (namespace, endpoint) = (&inner.options.namespace, inner.options.endpoint_base());
    let members: Vec<(&str, u64)> = files
        .iter()
        .map(|f| {
            let identity = &f.info.identity;
            let path = identity.relative_path.as_deref().unwrap_or(&identity.name);
            (path, identity.size)
        })
        .collect();
    Batch {
        id: batch_id(namespace, endpoint, &name, &members),
        namespace: namespace.clone(),
        endpoint: endpoint.to_owned(),
        name,
        files: files.len(),
        bytes,
        created_at: js_sys::Date::now(),
        handle: folder,
    }
}

/// The first folder of every file's path, when they all share one.
fn common_folder(files: &[QueuedFile]) -> Option<String> {
    let first = |f: &QueuedFile| {
        let path = f.info.identity.relative_path.as_deref()?;
        split_at_byte(path, b'/').map(|(top, _)| top.to_owned())
    };
    let top = first(files.first()?)?;
    files
        .iter()
        .all(|f| first(f).as_ref() == Some(&top))
        .then_some(top)
}

/// Whether `added` is the folder handle the queue was made of
/// (`isSameEntry`, within 10 s: a look at the file system).
async fn is_kept_folder(inner: &QueueInner, added: &JsValue) -> bool {
    let Some(kept) = inner.folder.borrow().clone() else {
        return false;
    };
    let Some(same) = super::js::field(&kept, "isSameEntry")
        .dyn_into::<js_sys::Function>()
        .ok()
    else {
        return false;
    };
    let Ok(answer) = same.call1(&kept, added) else {
        return false;
    };
    let answer = JsFuture::from(Promise::resolve(&answer));
    matches!(super::deadline::within(10_000, answer).await, Some(Ok(v)) if v.as_bool() == Some(true))
}

/// Whether `value` is a `FileSystemDirectoryHandle`.
fn is_folder_handle(value: &JsValue) -> bool {
    super::js::string(value, "kind").as_deref() == Some("directory")
        && super::js::field(value, "values").is_function()
}

/// Runs the queue's files as batch `batch`.
async fn run_batch(inner: &QueueInner, batch: &str) -> Result<(), Error> {
    let ports = QueuePorts::open(&inner.options, &inner.headers, &inner.events).await;
    let runner = runner(inner, &ports);
    let callbacks = callbacks(inner);
    let queue = Queue {
        entries: &inner.entries,
        state: &inner.state,
        runner: &runner,
        done: ports.done.as_ref(),
        timer: &super::timer::BrowserTimer,
        events: &callbacks,
        // Twice the budget (as grown at the most): while some files send,
        // the next ones are read, hashed and signed (together), so no slot
        // waits for a round trip.
        files_at_once: 2 * inner.options.concurrency.max(inner.options.max_concurrency) as usize,
        batch,
    };
    // A failed file is in the result's `failed`; the run fails only when
    // it stopped, files failing in a row for a reason not theirs.
    queue.run().await
}

/// Cancels file `index`, and aborts what it left on the server here, not
/// in the run: a `pause()` right after would drop the run's own cleanup.
async fn cancel_one(inner: &QueueInner, index: Option<usize>) -> Result<bool, Error> {
    let Some(index) = index.filter(|&i| inner.state.cancel(i)) else {
        return Ok(false);
    };
    // No run goes on (paused, between runs, or waiting for another tab's
    // run of the batch to end): none will tell the page.
    if !inner.state.run_active() {
        let mut cancelled = inner.state.take_cancelled();
        if !cancelled.contains(&index) {
            cancelled.push(index);
        }
        tell_cancelled(inner, &cancelled);
    }
    let ports = QueuePorts::open(&inner.options, &inner.headers, &inner.events).await;
    let _ = runner(inner, &ports).discard(index).await;
    // Its last file ended between runs: the queue is done, as a run that
    // ended it would find it (else its batch stays listed, half done, and
    // resuming it sends the cancelled files).
    if inner.stop.borrow().is_none() && inner.state.all_ended() {
        forget_batches(inner).await;
    }
    Ok(true)
}

/// Stops the queue, cancels every file not yet ended, and aborts what the
/// cancelled multipart uploads left on the server.
async fn cancel_all(inner: &QueueInner) -> Result<bool, Error> {
    inner.cancelling.set(true);
    drop(inner.stop.borrow_mut().take());
    let count = inner.files.borrow().len();
    let cancelled: Vec<usize> = (0..count).filter(|&i| inner.state.cancel(i)).collect();
    // The run is stopped: it tells the page of none of them, nor of a file
    // whose object the store holds while its run tidied up (not
    // cancelled: stored), which is told here as stored.
    inner.state.take_cancelled();
    tell_cancelled(inner, &cancelled);
    for index in 0..count {
        if let Some(key) = inner.state.take_stored_unended(index) {
            let outcome = inner.state.set(index, FileOutcome::Skipped { key });
            callbacks(inner).file_ended(index, &outcome);
        }
    }
    let ports = QueuePorts::open(&inner.options, &inner.headers, &inner.events).await;
    let runner = runner(inner, &ports);
    for &index in &cancelled {
        let _ = runner.discard(index).await;
    }
    forget_batches(inner).await;
    Ok(!cancelled.is_empty())
}

/// Tells the page (`onFile`) that files `cancelled` were cancelled.
fn tell_cancelled(inner: &QueueInner, cancelled: &[usize]) {
    let callbacks = callbacks(inner);
    for &index in cancelled {
        callbacks.file_ended(index, &FileOutcome::Cancelled);
    }
}

/// What tells the page of `inner`'s files.
fn callbacks(inner: &QueueInner) -> QueueCallbacks<'_> {
    QueueCallbacks {
        events: &inner.events,
        on_file: inner.on_file.clone(),
        files: &inner.files,
    }
}

/// The runner of `inner`'s files over `ports`.
fn runner<'a>(inner: &'a QueueInner, ports: &'a QueuePorts) -> WebRunner<'a> {
    WebRunner {
        ports,
        signer: BatchSigner::new(
            &ports.backend,
            &super::timer::BrowserTimer,
            inner.options.concurrency as usize,
        ),
        files: &inner.files,
        options: &inner.options,
        single_limit: inner.single_limit,
        events: &inner.events,
    }
}

/// The index of `file` (a `File` as added, or an index): `None` when
/// it is no file of the queue (a negative, fractional or too large index).
fn index_of(inner: &QueueInner, file: &JsValue) -> Option<usize> {
    if file.as_f64().is_some() {
        let index = super::js::as_whole(file).and_then(|n| usize::try_from(n).ok());
        return index.filter(|&i| i < inner.files.borrow().len());
    }
    let files = inner.files.borrow();
    files
        .iter()
        .position(|f| JsValue::from(f.blob.clone()) == *file)
}

/// `{ done, failed, cancelled }` of the queue's files now.
fn result_of(inner: &QueueInner) -> JsValue {
    let (done, failed, cancelled) = (Array::new(), Array::new(), Array::new());
    let files = inner.files.borrow();
    for (index, outcome) in inner.state.outcomes().iter().enumerate() {
        let report = file_report(&files[index], index, outcome);
        match outcome {
            FileOutcome::Done(_) | FileOutcome::Skipped { .. } => done.push(&report),
            FileOutcome::Failed(_) => failed.push(&report),
            FileOutcome::Cancelled => cancelled.push(&report),
            FileOutcome::Waiting | FileOutcome::Running => 0,
        };
    }
    Builder::new()
        .set("done", &done)
        .set("failed", &failed)
        .set("cancelled", &cancelled)
        .done()
}

/// What the page hears of one file: `{ index, name, relativePath, file,
/// key?, skipped?, error? }`.
pub(super) fn file_report(file: &QueuedFile, index: usize, outcome: &FileOutcome) -> JsValue {
    let identity = &file.info.identity;
    let report = Builder::new()
        .num("index", index as f64)
        .str("name", &identity.name)
        .str(
            "relativePath",
            identity.relative_path.as_deref().unwrap_or(&identity.name),
        )
        .set("file", &file.blob);
    let report = match outcome {
        FileOutcome::Done(done) => report.str("key", &done.key),
        FileOutcome::Skipped { key } => report.str("key", key).set("skipped", &true.into()),
        FileOutcome::Failed(error) => report.set("error", &super::js_error::to_js(error)),
        FileOutcome::Cancelled => report.set("cancelled", &true.into()),
        FileOutcome::Waiting | FileOutcome::Running => report,
    };
    report.done()
}
