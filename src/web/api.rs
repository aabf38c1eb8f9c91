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
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::Blob;

use super::backend::HttpBackend;
use super::compose::{page_store, WebPorts};
use super::convert::{completed_to_js, pending_to_js};
use super::events::JsEvents;
use super::js_error;
use super::lock::Lock;
use super::options::{parse, parse_lookup};
use super::source::{self, Source};
use super::timer::BrowserTimer;
use crate::core::retry::RetryPolicy;
use crate::driver::{Completed, Driver, FileInfo};
use crate::error::Error;
use crate::options::{ChecksumMode, UploadOptions};
use crate::pending;
use crate::ports::{Timer, Warning, WarningCode};

#[wasm_bindgen(module = "/src/web/guard.js")]
extern "C" {
    /// `run`, or a rejection with INTERNAL_ERROR when the module traps first
    /// (then `on_trap` is called).
    fn guard(run: &Promise, on_trap: &JsValue) -> Promise;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Progress of the whole upload. `sentBytes` never goes backwards. */
export interface UploadProgress { sentBytes: number; confirmedBytes: number; totalBytes: number; }
/** A part the store confirmed. */
export interface PartComplete { partNumber: number; size: number; etag: string; }
/** A stored upload was found and reconciled with the server's part list. */
export interface ResumeInfo { uploadId: string; skippedParts: number; skippedBytes: number; }
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
  /** Parts in flight at once, 1 to 64; default 4. */
  concurrency?: number;
  /** Part of the state key: keeps users and apps apart in one browser; default "". */
  namespace?: string;
  /** Stored with the object; string values. */
  metadata?: Record<string, string>;
  /** Milliseconds to wait before each retry of a failed request; default [0, 1000, 3000, 5000]. */
  retryDelays?: number[];
  /** The largest object the store accepts; default S3's 53,687,091,200,000 bytes. */
  maxObjectSize?: number;
  onProgress?: (progress: UploadProgress) => void;
  onPartComplete?: (part: PartComplete) => void;
  onResume?: (info: ResumeInfo) => void;
  /** Something went wrong that does not stop the upload, told once per code and upload:
   *  STORAGE_UNAVAILABLE (IndexedDB cannot be opened), STORAGE_FULL (a write hit the quota),
   *  STORAGE_FAILED (another IndexedDB failure): the upload goes on with its state in memory;
   *  CHECKSUM_UNSUPPORTED: the backend cannot sign checksums, the upload goes on without;
   *  CHECKSUM_UNVERIFIED: the object's checksum could not be compared at completion;
   *  LOCK_UNAVAILABLE: the browser cannot lock the upload across tabs, it goes on unlocked. */
  onWarning?: (warning: UploadWarning) => void;
  /** The stored upload could not be continued, so the file uploads afresh; reason "expired"
   *  (the server expired or lost it) or "file-changed" (new content under the same metadata). */
  onRestart?: (restart: { reason: string }) => void;
  /** A resumed upload is within `expiryWarning` of its expiry on the server. */
  onExpiringSoon?: (info: { uploadId: string; expiresAt: number }) => void;
  /** Telemetry: a confirmed part's time in resupload's own bookkeeping: `ms`, its two state
   *  writes to IndexedDB (before it is sent, once it is confirmed), each awaited; `blockingMs`,
   *  how much of that its request waited for (the first write runs beside the URL's signing,
   *  the second after the part's sending slot is handed on). */
  onPartBookkeeping?: (info: { partNumber: number; ms: number; blockingMs: number }) => void;
  /** How long the server keeps an unfinished upload, in ms; default 7 days (a common lifecycle
   *  rule). Older records are not resumed, and are removed when any upload starts. */
  expiresAfter?: number;
  /** How long before expiry a resume calls onExpiringSoon, in ms; default 24 hours. */
  expiryWarning?: number;
  /** A part request with no progress for this long (ms) is aborted and retried; default 30 s. */
  stallTimeout?: number;
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
/** A problem that does not stop the upload. */
export interface UploadWarning { code: string; message: string; }
/** Where to look for stored uploads. */
export interface LookupOptions { endpoint?: string; namespace?: string; expiresAfter?: number; }
/** An unfinished upload stored in this browser. */
export interface PendingUpload {
  id: string; endpoint: string; namespace: string; uploadId: string; key: string;
  fileName: string; fileSize: number; lastModified: number; fileType: string;
  partSize: number; createdAt: number; partsDone: number; partsTotal: number; bytesDone: number;
}
/** Every error thrown or rejected by resupload. */
export interface ResuploadError extends Error {
  name: "ResuploadError";
  /** Stable code: INVALID_OPTION, NOT_A_FILE, FILE_TOO_LARGE, NETWORK, HTTP_STATUS, BAD_RESPONSE,
   *  MISSING_ETAG, NO_SUCH_UPLOAD, STORAGE, PAUSED, ABORTED, ALREADY_RUNNING, ALREADY_COMPLETED,
   *  UPLOAD_LOCKED, CHECKSUM_UNSUPPORTED, CHECKSUM_MISMATCH, READ_FAILED, UNSUPPORTED_BROWSER,
   *  INTERNAL_ERROR. */
  code: string;
  /** The HTTP status, for HTTP_STATUS. */
  status?: number;
}
"#;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    Completed,
}

struct Inner {
    source: Source,
    file: FileInfo,
    options: UploadOptions,
    events: JsEvents,
    phase: Cell<Phase>,
    /// The claimed run: its number, and the sender whose drop stops it.
    stop: RefCell<Option<(u64, oneshot::Sender<()>)>>,
    next_run: Cell<u64>,
    aborting: Cell<bool>,
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

/// One resumable upload of one file.
#[wasm_bindgen]
pub struct Upload {
    inner: Rc<Inner>,
}

fn reject(error: Error) -> Promise {
    Promise::reject(&js_error::to_js(&error))
}

/// A promise of `future`. Every method goes through this one
/// `future_to_promise` of a boxed future: each would otherwise build its own
/// copy of the promise plumbing.
fn promise(future: impl Future<Output = Settled> + 'static) -> Promise {
    let future: Pin<Box<dyn Future<Output = Settled>>> = Box::pin(future);
    future_to_promise(future)
}

/// What a method's promise settles with.
type Settled = Result<JsValue, JsValue>;

/// A promise's outcome: `ok` of the value, or a `ResuploadError`.
fn settle<T>(result: Result<T, Error>, ok: impl FnOnce(T) -> JsValue) -> Result<JsValue, JsValue> {
    result.map(ok).map_err(|e| js_error::to_js(&e))
}

#[wasm_bindgen]
impl Upload {
    /// Prepares an upload of `file` (a `File`, a `Blob`, or a streaming
    /// source `{ size, id, name, read(offset, length) }`). Throws a
    /// `ResuploadError` (code `NOT_A_FILE`, `INVALID_OPTION` or
    /// `FILE_TOO_LARGE`) for bad input; nothing is sent until `start()`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "File | Blob | UploadSource")] file: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UploadOptions")] options: JsValue,
    ) -> Result<Upload, JsValue> {
        Self::build(&file, &options).map_err(|e| js_error::to_js(&e))
    }

    fn build(file: &JsValue, options: &JsValue) -> Result<Upload, Error> {
        if let Some(feature) = super::support::missing_feature() {
            return Err(Error::UnsupportedBrowser { feature });
        }
        let (source, file) = source::from_js(file)?;
        let parsed = parse(options)?;
        parsed.options.validate()?;
        crate::core::plan::PartPlan::new(
            file.identity.size,
            parsed.options.part_size,
            parsed.options.max_object_size,
        )?;
        Ok(Upload {
            inner: Rc::new(Inner {
                source,
                file,
                options: parsed.options,
                events: parsed.events,
                phase: Cell::new(Phase::Idle),
                stop: RefCell::new(None),
                next_run: Cell::new(0),
                aborting: Cell::new(false),
                waiters: RefCell::new(Vec::new()),
            }),
        })
    }

    /// Uploads the file, resuming a stored upload of it when there is one.
    /// Resolves to `{ key, uploadId, location }`; rejects with a
    /// `ResuploadError` (`PAUSED` after `pause()`, `ABORTED` after `abort()`).
    #[wasm_bindgen(unchecked_return_type = "Promise<UploadResult>")]
    pub fn start(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        if inner.phase.get() == Phase::Completed {
            return reject(Error::AlreadyCompleted);
        }
        if inner.stop.borrow().is_some() {
            return reject(Error::AlreadyRunning);
        }
        if inner.aborting.get() {
            return reject(Error::Aborted);
        }
        // Claim the run now, so a second start() in the same turn is refused;
        // a paused run that has not wound down yet is waited for first.
        let id = inner.next_run.get() + 1;
        inner.next_run.set(id);
        let (stop, stopping) = oneshot::channel::<()>();
        *inner.stop.borrow_mut() = Some((id, stop));
        // After a trap the run's task never settles: the guard ends it.
        let on_trap = Closure::once_into_js({
            let inner = Rc::clone(&inner);
            move || drop(inner.stop.borrow_mut().take())
        });
        let run_promise = promise(async move {
            stopped(&inner).await;
            inner.phase.set(Phase::Running);
            // The stop signal is polled first: a run paused before it began
            // never begins. Either way the run is dropped here, which
            // aborts its requests.
            let run = match select(stopping, std::pin::pin!(run(Rc::clone(&inner)))).await {
                Either::Left(_) => None,
                Either::Right((result, _)) => Some(result),
            };
            {
                let mut stop = inner.stop.borrow_mut();
                if stop.as_ref().is_some_and(|(current, _)| *current == id) {
                    stop.take();
                }
            }
            let result = match run {
                Some(result) => result,
                None if inner.aborting.get() => Err(Error::Aborted),
                None => Err(Error::Paused),
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
        });
        guard(&run_promise, &on_trap)
    }

    /// Stops the requests in flight. The pending `start()` promise rejects
    /// with code `PAUSED`; call `start()` again to continue (at once is
    /// fine: it waits for the paused run to wind down).
    pub fn pause(&self) {
        // Dropping the sender stops the run.
        let claimed = self.inner.stop.borrow_mut().take();
        drop(claimed);
    }

    /// Stops the upload, aborts it on the server and deletes its record.
    /// Rejects with `ALREADY_COMPLETED` after completion.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn abort(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        if inner.phase.get() == Phase::Completed {
            return reject(Error::AlreadyCompleted);
        }
        inner.aborting.set(true);
        self.pause();
        promise(async move {
            stopped(&inner).await;
            let ports = open_ports(&inner).await;
            let aborted = driver(&ports, &inner).abort(&inner.file).await;
            settle(aborted, |_| JsValue::UNDEFINED)
        })
    }

    /// The stored unfinished upload of `file` under `{ endpoint, namespace }`,
    /// or `null`.
    #[wasm_bindgen(js_name = findPrevious, unchecked_return_type = "Promise<PendingUpload | null>")]
    pub fn find_previous(
        #[wasm_bindgen(unchecked_param_type = "File | Blob | UploadSource")] file: JsValue,
        #[wasm_bindgen(unchecked_param_type = "LookupOptions")] options: JsValue,
    ) -> Promise {
        promise(async move {
            let found = async {
                let (_, file) = source::from_js(&file)?;
                let lookup = parse_lookup(&options)?;
                let mut under = UploadOptions::new(lookup.endpoint.unwrap_or_default());
                under.namespace = lookup.namespace.unwrap_or_default();
                let store = page_store(console_warning()).await;
                pending::find(&store, &under, &file.identity).await
            };
            settle(found.await, |found| {
                found.map_or(JsValue::NULL, |pending| pending_to_js(&pending))
            })
        })
    }

    /// Every unfinished upload stored in this browser for `{ namespace }`
    /// (all namespaces when none is given), oldest first. Records past
    /// `expiresAfter` (default 7 days) are removed on the way.
    #[wasm_bindgen(js_name = listPending, unchecked_return_type = "Promise<PendingUpload[]>")]
    pub fn list_pending(
        #[wasm_bindgen(unchecked_param_type = "LookupOptions | undefined")] options: JsValue,
    ) -> Promise {
        promise(async move {
            let listed = async {
                let lookup = parse_lookup(&options)?;
                let store = page_store(console_warning()).await;
                pending::list(&store, BrowserTimer.now_ms(), &lookup).await
            };
            settle(listed.await, |listed| {
                listed.iter().map(pending_to_js).collect::<Array>().into()
            })
        })
    }

    /// Forgets every unfinished upload stored in this browser for
    /// `{ namespace }` (all namespaces when none is given): each is aborted on
    /// its server (with retries; best effort) and its record deleted.
    /// Resolves to how many there were.
    #[wasm_bindgen(js_name = clearPending, unchecked_return_type = "Promise<number>")]
    pub fn clear_pending(
        #[wasm_bindgen(unchecked_param_type = "LookupOptions | undefined")] options: JsValue,
    ) -> Promise {
        promise(async move {
            let cleared = async {
                let lookup = parse_lookup(&options)?;
                let store = page_store(console_warning()).await;
                let retry = RetryPolicy::default();
                pending::clear(&store, &lookup, &BrowserTimer, &retry, HttpBackend::new).await
            };
            settle(cleared.await, |count| JsValue::from_f64(f64::from(count)))
        })
    }
}

async fn run(inner: Rc<Inner>) -> Result<Completed, Error> {
    if inner.options.checksum != ChecksumMode::None || inner.file.identity.is_stream() {
        // Parts will likely be hashed: load the worker while the record is read.
        super::hash::warm_up();
    }
    // The content sample is read while the store opens. A file that cannot
    // be read at all fails later, at its first part.
    let sample = async {
        match &inner.source {
            Source::File(blob) => super::blob::sample_sha256(blob).await.ok(),
            Source::Stream { .. } => None,
        }
    };
    let (ports, sample) = futures::future::join(open_ports(&inner), sample).await;
    let driver = driver(&ports, &inner);
    // One upload of this file at a time across tabs, for the whole run.
    let lock_name = ["resupload:", &driver.record_id(&inner.file)].concat();
    let _lock = match super::lock::acquire(&lock_name, inner.options.wait_for_lock).await? {
        Lock::Held(guard) => Some(guard),
        Lock::Unavailable(why) => {
            inner.events.warn(Warning {
                code: WarningCode::LockUnavailable,
                message: [why, ": another tab could upload this file at the same time"].concat(),
            });
            None
        }
    };
    let mut file = inner.file.clone();
    file.sample_sha256 = sample;
    driver.run(&file).await
}

/// The browser's ports for a run of this upload.
async fn open_ports(inner: &Inner) -> WebPorts {
    let events = inner.events.clone();
    let warn = Box::new(move |warning| events.warn(warning));
    let listens = inner.events.on_progress.is_some();
    WebPorts::open(inner.source.clone(), &inner.options, listens, warn).await
}

fn driver<'a>(ports: &'a WebPorts, inner: &'a Inner) -> Driver<'a, Blob> {
    ports.driver(&inner.events, &inner.options)
}

/// Where storage warnings of the static calls go: they have no `onWarning`.
fn console_warning() -> Box<dyn Fn(Warning)> {
    Box::new(|warning| {
        web_sys::console::warn_1(&["resupload: ", &warning.message].concat().into());
    })
}

/// The SHA-256 of a `Blob`, streamed through sha2 in bounded chunks: what
/// the hash worker runs (and what the hash benchmark measures). Not part of
/// the supported API.
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
