//! The JavaScript API: the `Upload` class.
//!
//! ```js
//! import init, { Upload } from "resupload";
//! await init();
//! const upload = new Upload(file, { endpoint: "/api/s3", onProgress: p => bar.value = p.sentBytes / p.totalBytes });
//! try {
//!   const { key } = await upload.start();
//! } catch (e) {
//!   if (e.code === "PAUSED") { /* start() again later */ } else { throw e; }
//! }
//! ```

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{select, Either};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::Blob;

use super::convert::completed_to_js;
use super::events::JsEvents;
use super::headers::BackendHeaders;
use super::options::{parse, ParsedOptions};
use super::source::{self, Source};
use super::{handles, js_error, run};
use crate::driver::FileInfo;
use crate::error::{Error, ErrorKind};
use crate::options::UploadOptions;

#[wasm_bindgen(module = "/src/web/guard.js")]
extern "C" {
    /// `run`, or a rejection with INTERNAL_ERROR once the module traps.
    fn guard(run: &Promise) -> Promise;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Progress of the whole upload. `sentBytes` never goes backwards, across a pause and
 *  `start()` again too; it begins again only after `onRestart`. */
export interface UploadProgress { sentBytes: number; confirmedBytes: number; totalBytes: number; }
/** A part the store confirmed. */
export interface PartComplete { partNumber: number; size: number; etag: string; }
/** A stored upload was found and continued, the parts the server holds not sent again: in
 *  this browser's records ("local"), or by the backend, which answered the create with it
 *  ("backend": begun on another device, every part the server holds verified against its
 *  SHA-256 before it is skipped). A stored upload another device completed with this file's
 *  bytes is told with every part skipped, before its result. */
export interface ResumeInfo { uploadId: string; skippedParts: number; skippedBytes: number; source: "local" | "backend"; }
/** What `start()` resolves to. `checksumSha256` is the object's composite SHA-256
 *  ("base64-N"), computed here and confirmed by the store, when parts carried checksums. */
export interface UploadResult { key: string; uploadId: string; location: string; checksumSha256?: string; }
/** A regenerable streaming source: bytes produced on demand, the same bytes for the same range
 *  every time (data generated in the page, an export being built). `read` may return the bytes
 *  or a promise of them, exactly `length` of them. */
export interface UploadSource {
  /** Total size in bytes. */
  size: number;
  /** Identifies the content across page loads (a source has no file date): the same id must
   *  always produce the same bytes; part of the state key. */
  id: string;
  /** The object's file name; default the id. */
  name?: string;
  /** The content type; default "". */
  type?: string;
  read(offset: number, length: number): Uint8Array | ArrayBuffer | Blob | Promise<Uint8Array | ArrayBuffer | Blob>;
}
/** Options of `new Upload(file, options)`. */
export interface UploadOptions {
  /** Base URL of the signing backend (Uppy Companion's S3 routes), such as "/api/s3". */
  endpoint: string;
  /** Part size in bytes, 5 MiB to 5 GiB; default 8 MiB; raised so no file needs over 10,000 parts. */
  partSize?: number;
  /**
   * Parts in flight at once, 1 to 64. Unset: 4 at the start, and more (up to `maxConcurrency`)
   * while more still raise the measured rate. Set: exactly this many (with `maxConcurrency`
   * also set: where growing starts).
   */
  concurrency?: number;
  /** The most parts in flight the upload grows to, 1 to 64; default 8 (or `concurrency` when set). */
  maxConcurrency?: number;
  /** Part of the state key: keeps users and apps apart in one browser; default "". */
  namespace?: string;
  /** Stored with the object; string values. */
  metadata?: Record<string, string>;
  /** Milliseconds to wait before each retry of a failed request; default [0, 1000, 3000, 5000]. */
  retryDelays?: number[];
  /** The largest object the store accepts; default S3's 53,687,091,200,000 bytes. */
  maxObjectSize?: number;
  /** Sent with every request to the signing backend (never to the store), such as
   *  `{ authorization: "Bearer …" }`: a plain object of strings (not a Headers or a Map), or
   *  a function giving one (or a promise of one), called before each request with
   *  `{ refresh: false, endpoint }` and, after a 401, with `{ refresh: true, endpoint }`, when
   *  the request is retried once: refresh the token then. `endpoint` is the backend asked
   *  (`clearPending` asks each stored upload's own). A function that throws, rejects, gives
   *  no such object or takes over 30 s fails the run with HEADERS_FAILED. */
  headers?: Record<string, string> | ((context: { refresh: boolean; endpoint: string }) => Record<string, string> | Promise<Record<string, string>>);
  onProgress?: (progress: UploadProgress) => void;
  onPartComplete?: (part: PartComplete) => void;
  onResume?: (info: ResumeInfo) => void;
  /** Something went wrong that does not stop the upload, told once per code and upload:
   *  STORAGE_UNAVAILABLE (IndexedDB cannot be opened), STORAGE_FULL (a write hit the quota),
   *  STORAGE_FAILED (another IndexedDB failure): the upload goes on with its state in memory;
   *  CHECKSUM_UNSUPPORTED: the backend cannot sign checksums, the upload goes on without;
   *  CHECKSUM_UNVERIFIED: the object's checksum could not be compared at completion;
   *  LOCK_UNAVAILABLE: the browser cannot lock the upload across tabs, it goes on unlocked;
   *  STAGING_SKIPPED / STAGING_FAILED: no staged copy (no room, no origin-private file system,
   *  or the copy failed), so after a restart the file must be picked again;
   *  FILES_UNREADABLE (an UploadQueue's, at each add() that meets it): files or folders the
   *  browser would not read were left out, the others added;
   *  CANCELLED_STORED (an UploadQueue's, for each such file): a multipart file cancelled after
   *  the store had completed its upload; the object is stored, under the warning's `key`. */
  onWarning?: (warning: UploadWarning) => void;
  /** The stored upload could not be continued, so the file uploads afresh; reason "expired"
   *  (the server expired or lost it) or "file-changed" (new content under the same metadata). */
  onRestart?: (restart: { reason: "expired" | "file-changed" }) => void;
  /** A resumed upload is within `expiryWarning` of its expiry on the server. */
  onExpiringSoon?: (info: { uploadId: string; expiresAt: number }) => void;
  /** Telemetry: a confirmed part's time in resupload's own bookkeeping: `ms`, its two state
   *  writes to IndexedDB (before it is sent, once it is confirmed), each awaited; `blockingMs`,
   *  how long its sending slot waited for it (the first write and the URL's signing run while
   *  the part waits for a slot, the second write after the slot is handed on). */
  onPartBookkeeping?: (info: { partNumber: number; ms: number; blockingMs: number }) => void;
  /** How long the server keeps an unfinished upload, in ms; default 7 days (a common lifecycle
   *  rule). Older records are not resumed, and are removed when any upload starts. */
  expiresAfter?: number;
  /** How long before expiry a resume calls onExpiringSoon, in ms; default 24 hours. */
  expiryWarning?: number;
  /** A part request with no progress for this long (ms) is aborted and retried; default 30 s. */
  stallTimeout?: number;
  /** "opfs": copy the file into the origin-private file system while it uploads, so that after
   *  a restart it continues from the copy without being picked again (`Upload.resumePending`);
   *  the copy is deleted when the upload completes or is aborted. Where it does not fit or the
   *  browser has no such file system, a STAGING_SKIPPED warning (STAGING_FAILED where the copy
   *  fails). Default "none". */
  stage?: "none" | "opfs";
  /** Another tab uploading the same file: "fail" (default) rejects with UPLOAD_LOCKED,
   *  "wait" starts once that tab stops (and resumes what it sent). */
  lock?: "fail" | "wait";
  /** Per-part SHA-256 checksums, signed into each part URL and checked by the store:
   *  "sha256" requires them (CHECKSUM_UNSUPPORTED if the backend cannot sign them), "none"
   *  sends none (for a plain Uppy Companion). Default: "sha256" when the backend supports it,
   *  else none, with a CHECKSUM_UNSUPPORTED warning. */
  checksum?: "sha256" | "none";
  /** On resume, re-hash the parts the server holds and compare them with its checksums; a
   *  difference means the file changed under the same name, size and date: the old upload is
   *  aborted and a fresh one starts (onRestart reason "file-changed"). Runs beside the upload.
   *  Default true. Streaming sources always verify. */
  verifyOnResume?: boolean;
}
/** A problem that does not stop the upload (what each code means: `onWarning`). */
export interface UploadWarning {
  code: "STORAGE_UNAVAILABLE" | "STORAGE_FULL" | "STORAGE_FAILED" | "CHECKSUM_UNSUPPORTED" | "CHECKSUM_UNVERIFIED"
    | "LOCK_UNAVAILABLE" | "STAGING_SKIPPED" | "STAGING_FAILED" | "FILES_UNREADABLE"
    | "CANCELLED_STORED";
  message: string;
  /** CANCELLED_STORED: the key the store holds the cancelled file's object under. */
  key?: string;
}
/** Where to look for stored uploads (`headers`: for `clearPending`'s aborts, as in UploadOptions). */
export interface LookupOptions { endpoint?: string; namespace?: string; expiresAfter?: number; headers?: UploadOptions["headers"]; }
/** An unfinished upload stored in this browser. */
export interface PendingUpload {
  id: string; endpoint: string; namespace: string; uploadId: string; key: string;
  fileName: string; fileSize: number; lastModified: number; fileType: string;
  partSize: number; createdAt: number; partsDone: number; partsTotal: number; bytesDone: number;
  /** Whether `Upload.resumePending(entry)` can continue it without the file being picked:
   *  it was started from a file handle, or with `stage: "opfs"` and its copy is complete. */
  canResumeWithoutPicking: boolean;
  /** What it continues from without picking: the picked file's handle, or its staged copy. */
  resumeFrom: "handle" | "copy" | null;
  /** Whether a run is uploading it now: another tab's, or this page's and not paused. Resuming
   *  it then fails with UPLOAD_LOCKED (or, with `lock: "wait"`, waits for that run to stop),
   *  and `clearPending` leaves it out. As of the call: list again to see it change. */
  running: boolean;
}
/** The stable code of a `ResuploadError` (the README's table of errors says what to do). */
export type ResuploadErrorCode = "INVALID_OPTION" | "NOT_A_FILE" | "FILE_TOO_LARGE" | "NETWORK"
  | "HTTP_STATUS" | "BAD_RESPONSE" | "MISSING_ETAG" | "NO_SUCH_UPLOAD" | "STORAGE" | "PAUSED"
  | "ABORTED" | "ALREADY_RUNNING" | "ALREADY_COMPLETED" | "UPLOAD_LOCKED" | "CHECKSUM_UNSUPPORTED"
  | "CHECKSUM_MISMATCH" | "READ_FAILED" | "UNSUPPORTED_BROWSER" | "INTERNAL_ERROR"
  | "PERMISSION_DENIED" | "FILE_MISSING" | "FILE_CHANGED" | "NO_HANDLE" | "HEADERS_FAILED"
  | "NOT_IN_BUILD";
/** Every error thrown or rejected by resupload. */
export interface ResuploadError extends Error {
  name: "ResuploadError";
  /** Stable code: switch on it, never on the message. */
  code: ResuploadErrorCode;
  /** The HTTP status, for HTTP_STATUS. */
  status?: number;
  /** For CHECKSUM_MISMATCH: the key the store holds the bad object under, to delete. */
  key?: string;
}
"#;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    Completed,
}

/// What `new Upload(x)` was given, made ready to run.
pub(super) enum Input {
    /// A file, a Blob, a streaming source or a staged copy, with what the
    /// driver needs to know of it.
    Ready(Source, FileInfo),
    /// A `FileSystemFileHandle`, read when the upload starts.
    Handle(JsValue),
}

/// One upload's state, shared by its methods and its run.
pub(super) struct Inner {
    pub(super) input: RefCell<Input>,
    /// The picked file's handle, kept beside the record so the upload
    /// continues without picking (`Upload.resumePending`).
    pub(super) handle: Option<JsValue>,
    /// Whether the bytes come from the upload's own staged copy.
    pub(super) from_copy: bool,
    pub(super) options: UploadOptions,
    pub(super) events: JsEvents,
    /// The `headers` option: sent with every request to the backend.
    pub(super) headers: BackendHeaders,
    phase: Cell<Phase>,
    /// The claimed run: its number, and the sender whose drop stops it.
    stop: RefCell<Option<(u64, oneshot::Sender<()>)>>,
    next_run: Cell<u64>,
    aborting: Cell<bool>,
    /// The promise of the `abort()` under way: another call while it is
    /// answers it too (a double-clicked Cancel), rather than a second
    /// abort that would wait for the first one's lock.
    abort_under_way: RefCell<Option<Promise>>,
    /// Whether a run of this upload made a whole staged copy of its file
    /// (the file it holds, of the same size and date, read again from its
    /// handle at each run): only such a copy is kept by a later run.
    pub(super) staged_here: Cell<bool>,
    /// Told when the running run has ended.
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

/// Waits until no run of this upload is running (a paused run winds down
/// on the next turn of the event loop).
async fn stopped(inner: &Inner) {
    if inner.phase.get() == Phase::Running {
        let (tx, rx) = oneshot::channel();
        inner.waiters.borrow_mut().push(tx);
        let _ = rx.await;
    }
}

/// Ends run `id`'s claim on the upload (its stop signal), unless a later
/// `start()` has claimed it since.
fn release_claim(inner: &Inner, id: u64) {
    let mut stop = inner.stop.borrow_mut();
    if stop.as_ref().is_some_and(|(current, _)| *current == id) {
        stop.take();
    }
}

/// One resumable upload of one file.
#[wasm_bindgen]
pub struct Upload {
    inner: Rc<Inner>,
}

/// Whether the file fits the store's limits under these options.
pub(super) fn check_plan(file: &FileInfo, options: &UploadOptions) -> Result<(), Error> {
    crate::core::plan::PartPlan::new(
        file.identity.size,
        options.part_size,
        options.max_object_size,
    )
    .map(|_| ())
}

pub(super) fn reject(error: Error) -> Promise {
    Promise::reject(&js_error::to_js(&error))
}

/// A promise of `future`, for a method of the API: it settles with the
/// future's outcome, or rejects with `INTERNAL_ERROR` when the module traps
/// first (guard.js): a trap unwinds the task, which then never settles,
/// and no method's promise (a lookup's, a queue's, a run's) may wait
/// without an end. Every method goes through this one `future_to_promise`
/// of a boxed future: each would otherwise build its own copy of the
/// promise plumbing.
pub(super) fn promise(future: impl Future<Output = Settled> + 'static) -> Promise {
    let future: Pin<Box<dyn Future<Output = Settled>>> = Box::pin(future);
    guard(&future_to_promise(future))
}

/// What a method's promise settles with.
pub(super) type Settled = Result<JsValue, JsValue>;

/// A promise's outcome: `ok` of the value, or a `ResuploadError`.
pub(super) fn settle<T>(
    result: Result<T, Error>,
    ok: impl FnOnce(T) -> JsValue,
) -> Result<JsValue, JsValue> {
    result.map(ok).map_err(|e| js_error::to_js(&e))
}

#[wasm_bindgen]
impl Upload {
    /// Prepares an upload of `file` (a `File`, a `Blob`, a
    /// `FileSystemFileHandle`, or a streaming source
    /// `{ size, id, name, read(offset, length) }`). Throws a
    /// `ResuploadError` (code `NOT_A_FILE`, `INVALID_OPTION` or
    /// `FILE_TOO_LARGE`) for bad input, `UNSUPPORTED_BROWSER` where a
    /// feature it needs is missing; nothing is sent until `start()`. A
    /// handle's file is read when the upload starts, and the handle is kept
    /// so that the upload continues after a restart without picking.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "File | Blob | FileSystemFileHandle | UploadSource")]
        file: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UploadOptions")] options: JsValue,
    ) -> Result<Upload, JsValue> {
        Self::build(&file, &options).map_err(|e| js_error::to_js(&e))
    }

    fn build(file: &JsValue, options: &JsValue) -> Result<Upload, Error> {
        if let Some(feature) = super::support::missing_feature() {
            return Err(ErrorKind::UnsupportedBrowser { feature }.into());
        }
        let parsed = parse(options)?;
        parsed.options.validate()?;
        if handles::is_handle(file) {
            let input = Input::Handle(file.clone());
            return Ok(Upload::of(input, Some(file.clone()), false, parsed));
        }
        let (source, file) = source::from_js(file)?;
        check_plan(&file, &parsed.options)?;
        Ok(Upload::of(Input::Ready(source, file), None, false, parsed))
    }

    /// An upload of `input`, ready to start.
    pub(super) fn of(
        input: Input,
        handle: Option<JsValue>,
        from_copy: bool,
        parsed: ParsedOptions,
    ) -> Upload {
        let mut events = parsed.events;
        // An upload alone on the link notes the rate it measured.
        events.link_key = Some(parsed.options.endpoint_base().to_owned());
        Upload {
            inner: Rc::new(Inner {
                input: RefCell::new(input),
                handle,
                from_copy,
                options: parsed.options,
                events,
                headers: parsed.headers,
                phase: Cell::new(Phase::Idle),
                stop: RefCell::new(None),
                next_run: Cell::new(0),
                aborting: Cell::new(false),
                abort_under_way: RefCell::new(None),
                staged_here: Cell::new(false),
                waiters: RefCell::new(Vec::new()),
            }),
        }
    }

    /// Uploads the file, resuming a stored upload of it when there is one.
    /// Resolves to `{ key, uploadId, location, checksumSha256 }`; rejects
    /// with a `ResuploadError` (`PAUSED` after `pause()`, `ABORTED` after
    /// `abort()`, `ALREADY_COMPLETED` once the object is stored).
    #[wasm_bindgen(unchecked_return_type = "Promise<UploadResult>")]
    pub fn start(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        if inner.phase.get() == Phase::Completed {
            return reject(ErrorKind::AlreadyCompleted.into());
        }
        if inner.stop.borrow().is_some() {
            return reject(ErrorKind::AlreadyRunning.into());
        }
        if inner.aborting.get() {
            return reject(ErrorKind::Aborted.into());
        }
        // Claim the run now, so a second start() in the same turn is refused;
        // a paused run that has not wound down yet is waited for first.
        let id = inner.next_run.get() + 1;
        inner.next_run.set(id);
        let (stop, stopping) = oneshot::channel::<()>();
        *inner.stop.borrow_mut() = Some((id, stop));
        let task = async move {
            stopped(&inner).await;
            if inner.phase.get() == Phase::Completed {
                // The paused run had stored the object, and ended with it.
                release_claim(&inner, id);
                return settle(Err::<(), _>(ErrorKind::AlreadyCompleted.into()), |_| {
                    JsValue::UNDEFINED
                });
            }
            inner.phase.set(Phase::Running);
            // Not the last run's: a run stopped before it begins is dropped.
            inner.events.stored.set(false);
            // The stop signal is polled first: a run paused before it began
            // never begins. Either way the run is dropped here, which
            // aborts its requests; unless the object is stored already.
            let run = match select(stopping, std::pin::pin!(run::run(Rc::clone(&inner)))).await {
                Either::Left((_, run)) if inner.events.stored.get() => Some(run.await),
                Either::Left(_) => None,
                Either::Right((result, _)) => Some(result),
            };
            release_claim(&inner, id);
            let result = match run {
                Some(result) => result,
                None if inner.aborting.get() => Err(ErrorKind::Aborted.into()),
                None => Err(ErrorKind::Paused.into()),
            };
            inner.phase.set(if result.is_ok() {
                Phase::Completed
            } else {
                Phase::Idle
            });
            for waiter in inner.waiters.borrow_mut().drain(..) {
                let _ = waiter.send(());
            }
            settle(result, |done| completed_to_js(&done))
        };
        promise(task)
    }

    /// Stops the requests in flight. The pending `start()` promise rejects
    /// with code `PAUSED` (or resolves, when the object was stored before
    /// the pause came); call `start()` again to continue (at once is fine:
    /// it waits for the paused run to wind down, and rejects with
    /// `ALREADY_COMPLETED` when that run stored the object).
    pub fn pause(&self) {
        // Dropping the sender stops the run.
        let claimed = self.inner.stop.borrow_mut().take();
        drop(claimed);
    }

    /// Stops the upload, aborts it on the server and deletes its record
    /// (and its staged copy). Rejects with `ALREADY_COMPLETED` after
    /// completion (or when the store completed it before the abort came),
    /// and with `UPLOAD_LOCKED` while another tab uploads the file (its
    /// upload is left to that tab). After an abort that failed, `start()`
    /// may go on with the upload; after one that succeeded, it rejects with
    /// `ABORTED`. Called again while an abort is under way, it answers
    /// that abort's promise.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn abort(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        if inner.phase.get() == Phase::Completed {
            return reject(ErrorKind::AlreadyCompleted.into());
        }
        if let Some(first) = inner.abort_under_way.borrow().as_ref() {
            return first.clone();
        }
        inner.aborting.set(true);
        self.pause();
        let aborting = promise(async move {
            stopped(&inner).await;
            let aborted = match inner.phase.get() {
                // The run had stored the object when the abort came.
                Phase::Completed => Err(ErrorKind::AlreadyCompleted.into()),
                _ => run::abort(&inner).await,
            };
            // Nothing was aborted: the record and the server's upload stand.
            inner.aborting.set(aborted.is_ok());
            inner.abort_under_way.take();
            settle(aborted, |_| JsValue::UNDEFINED)
        });
        *self.inner.abort_under_way.borrow_mut() = Some(aborting.clone());
        aborting
    }
}

/// The SHA-256 of a `Blob`, streamed through sha2 in bounded chunks on
/// this thread: for the hash benchmark (the hash worker calls the module's
/// plain sha2 exports). Not part of the supported API.
#[doc(hidden)]
#[wasm_bindgen(js_name = "__hashBlob", unchecked_return_type = "Promise<Uint8Array>")]
pub fn hash_blob(blob: Blob) -> Promise {
    promise(async move {
        super::hash::sha256_chunked(&blob, false)
            .await
            .map(|digest| js_sys::Uint8Array::from(&digest.0[..]).into())
            .map_err(|e| js_error::to_js(&e))
    })
}

/// The SHA-256 of bytes already in memory (for the hash benchmark). Not part
/// of the supported API.
#[doc(hidden)]
#[wasm_bindgen(js_name = "__hashBytes")]
pub fn hash_bytes(bytes: &[u8]) -> Vec<u8> {
    crate::core::checksum::Sha256Digest::of(bytes).0.to_vec()
}
