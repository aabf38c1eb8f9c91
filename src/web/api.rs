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
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{AbortHandle, Abortable};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{Blob, File};

use super::backend::HttpBackend;
use super::events::{to_js, JsEvents};
use super::idb::IdbStore;
use super::js_error;
use super::options::{parse, parse_expires_after, parse_lookup};
use super::timer::BrowserTimer;
use super::xhr::XhrSender;
use crate::core::fingerprint::FileIdentity;
use crate::core::record::PendingUpload;
use crate::driver::{Driver, FileInfo};
use crate::error::Error;
use crate::fallback::FallbackStore;
use crate::options::UploadOptions;
use crate::ports::{Backend, MemoryStore, RecordStore, Warning};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Progress of the whole upload. `sentBytes` never goes backwards. */
export interface UploadProgress { sentBytes: number; confirmedBytes: number; totalBytes: number; }
/** A part the store confirmed. */
export interface PartComplete { partNumber: number; size: number; etag: string; }
/** A stored upload was found and reconciled with the server's part list. */
export interface ResumeInfo { uploadId: string; skippedParts: number; skippedBytes: number; }
/** What `start()` resolves to. */
export interface UploadResult { key: string; uploadId: string; location: string; }
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
  /** Something went wrong that does not stop the upload, told once per upload:
   *  STORAGE_UNAVAILABLE (IndexedDB cannot be opened), STORAGE_FULL (a write hit the quota),
   *  STORAGE_FAILED (another IndexedDB failure). The upload goes on with its state in memory. */
  onWarning?: (warning: UploadWarning) => void;
  /** The stored upload could not be continued (the server expired or lost it), so the file
   *  uploads afresh; reason "expired". */
  onRestart?: (restart: { reason: string }) => void;
  /** A resumed upload is within `expiryWarning` of its expiry on the server. */
  onExpiringSoon?: (info: { uploadId: string; expiresAt: number }) => void;
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
   *  UPLOAD_LOCKED. */
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
    blob: Blob,
    file: FileInfo,
    options: UploadOptions,
    events: JsEvents,
    phase: Cell<Phase>,
    /// The claimed run (its number and the handle that stops it).
    stop: RefCell<Option<(u64, AbortHandle)>>,
    next_run: Cell<u64>,
    aborting: Cell<bool>,
    /// Whether `onWarning` was called already.
    warned: Rc<Cell<bool>>,
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

fn file_info(value: &JsValue) -> Result<(Blob, FileInfo), Error> {
    if let Some(file) = value.dyn_ref::<File>() {
        let blob: &Blob = file.as_ref();
        return Ok((
            blob.clone(),
            FileInfo {
                identity: FileIdentity {
                    name: file.name(),
                    size: super::blob::size(blob),
                    last_modified: file.last_modified(),
                },
                file_type: blob.type_(),
                sample_sha256: None,
            },
        ));
    }
    if let Some(blob) = value.dyn_ref::<Blob>() {
        return Ok((
            blob.clone(),
            FileInfo {
                identity: FileIdentity {
                    name: "blob".into(),
                    size: super::blob::size(blob),
                    last_modified: 0.0,
                },
                file_type: blob.type_(),
                sample_sha256: None,
            },
        ));
    }
    Err(Error::NotAFile)
}

fn reject(error: Error) -> Promise {
    Promise::reject(&js_error::to_js(&error))
}

fn to_js_result<T: serde::Serialize>(result: Result<T, Error>) -> Result<JsValue, JsValue> {
    result
        .map(|value| to_js(&value))
        .map_err(|e| js_error::to_js(&e))
}

#[wasm_bindgen]
impl Upload {
    /// Prepares an upload of `file` (a `File` or `Blob`). Throws a
    /// `ResuploadError` (code `NOT_A_FILE`, `INVALID_OPTION` or
    /// `FILE_TOO_LARGE`) for bad input; nothing is sent until `start()`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        file: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UploadOptions")] options: JsValue,
    ) -> Result<Upload, JsValue> {
        Self::build(&file, &options).map_err(|e| js_error::to_js(&e))
    }

    fn build(file: &JsValue, options: &JsValue) -> Result<Upload, Error> {
        let (blob, file) = file_info(file)?;
        let parsed = parse(options)?;
        parsed.options.validate()?;
        crate::core::plan::PartPlan::new(
            file.identity.size,
            parsed.options.part_size,
            parsed.options.max_object_size,
        )?;
        Ok(Upload {
            inner: Rc::new(Inner {
                blob,
                file,
                options: parsed.options,
                events: parsed.events,
                phase: Cell::new(Phase::Idle),
                stop: RefCell::new(None),
                next_run: Cell::new(0),
                aborting: Cell::new(false),
                waiters: RefCell::new(Vec::new()),
                warned: Rc::new(Cell::new(false)),
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
        let (handle, registration) = AbortHandle::new_pair();
        *inner.stop.borrow_mut() = Some((id, handle));
        future_to_promise(async move {
            stopped(&inner).await;
            inner.phase.set(Phase::Running);
            let run = Abortable::new(run(Rc::clone(&inner)), registration).await;
            {
                let mut stop = inner.stop.borrow_mut();
                if stop.as_ref().is_some_and(|(current, _)| *current == id) {
                    stop.take();
                }
            }
            let result = match run {
                Ok(result) => result,
                Err(_) if inner.aborting.get() => Err(Error::Aborted),
                Err(_) => Err(Error::Paused),
            };
            inner.phase.set(if result.is_ok() {
                Phase::Completed
            } else {
                Phase::Idle
            });
            for waiter in inner.waiters.borrow_mut().drain(..) {
                let _ = waiter.send(());
            }
            to_js_result(result)
        })
    }

    /// Stops the requests in flight. The pending `start()` promise rejects
    /// with code `PAUSED`; call `start()` again to continue (at once is
    /// fine: it waits for the paused run to wind down).
    pub fn pause(&self) {
        let claimed = self.inner.stop.borrow_mut().take();
        if let Some((_, handle)) = claimed {
            handle.abort();
        }
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
        future_to_promise(async move {
            stopped(&inner).await;
            let result = async {
                let ports = WebPorts::open(&inner).await?;
                ports.driver(&inner).abort(&inner.file).await.map(|_| ())
            }
            .await;
            result
                .map(|()| JsValue::UNDEFINED)
                .map_err(|e| js_error::to_js(&e))
        })
    }

    /// The stored unfinished upload of `file` under `{ endpoint, namespace }`,
    /// or `null`.
    #[wasm_bindgen(js_name = findPrevious, unchecked_return_type = "Promise<PendingUpload | null>")]
    pub fn find_previous(
        file: JsValue,
        #[wasm_bindgen(unchecked_param_type = "LookupOptions")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            let found = async {
                let (_, file) = file_info(&file)?;
                let (namespace, endpoint) = parse_lookup(&options)?;
                let mut opts = UploadOptions::new(endpoint.unwrap_or_default());
                opts.namespace = namespace.unwrap_or_default();
                let id = crate::core::fingerprint::fingerprint(
                    &opts.namespace,
                    opts.endpoint_base(),
                    &file.identity,
                );
                let store = page_store(Box::new(|_| {})).await;
                Ok::<_, Error>(store.load(&id).await?.map(|r| r.summary()))
            }
            .await;
            to_js_result(found)
        })
    }

    /// Every unfinished upload stored in this browser for `{ namespace }`
    /// (all namespaces when none is given), oldest first. Records past
    /// `expiresAfter` (default 7 days) are removed on the way.
    #[wasm_bindgen(js_name = listPending, unchecked_return_type = "Promise<PendingUpload[]>")]
    pub fn list_pending(
        #[wasm_bindgen(unchecked_param_type = "LookupOptions | undefined")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            let listed = async {
                let (namespace, endpoint) = parse_lookup(&options)?;
                let expires_after = parse_expires_after(&options)?;
                let store = page_store(Box::new(|_| {})).await;
                let now = js_sys::Date::now();
                let mut live = Vec::new();
                for record in store.list().await? {
                    // Past expiry the server has dropped it: collect it.
                    if now >= record.created_at + expires_after {
                        store.remove(&record.id).await?;
                    } else {
                        live.push(record);
                    }
                }
                let mut pending: Vec<PendingUpload> = live
                    .into_iter()
                    .filter(|r| namespace.as_ref().is_none_or(|n| &r.namespace == n))
                    .filter(|r| {
                        endpoint
                            .as_ref()
                            .is_none_or(|e| r.endpoint == e.trim_end_matches('/'))
                    })
                    .map(|r| r.summary())
                    .collect();
                pending.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
                Ok::<_, Error>(pending)
            }
            .await;
            to_js_result(listed)
        })
    }

    /// Forgets every unfinished upload stored in this browser for
    /// `{ namespace }` (all namespaces when none is given): each is aborted on
    /// its server (best effort) and its record deleted. Resolves to how many
    /// there were.
    #[wasm_bindgen(js_name = clearPending, unchecked_return_type = "Promise<number>")]
    pub fn clear_pending(
        #[wasm_bindgen(unchecked_param_type = "LookupOptions | undefined")] options: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            let cleared = async {
                let (namespace, _) = parse_lookup(&options)?;
                let store = page_store(Box::new(|_| {})).await;
                let mut count = 0u32;
                for record in store.list().await? {
                    if namespace.as_ref().is_some_and(|n| &record.namespace != n) {
                        continue;
                    }
                    let backend = HttpBackend::new(&record.endpoint);
                    let _ = backend.abort(&record.upload_id, &record.key).await;
                    store.remove(&record.id).await?;
                    count += 1;
                }
                Ok::<_, Error>(count)
            }
            .await;
            to_js_result(cleared)
        })
    }
}

async fn run(inner: Rc<Inner>) -> Result<crate::driver::Completed, Error> {
    let ports = WebPorts::open(&inner).await?;
    let driver = ports.driver(&inner);
    // One upload of this file at a time across tabs, for the whole run.
    let lock_name = format!("resupload:{}", driver.record_id(&inner.file));
    let _lock = super::lock::acquire(&lock_name, inner.options.wait_for_lock).await?;
    let mut file = inner.file.clone();
    // A file that cannot be read at all fails later, at its first part.
    file.sample_sha256 = super::blob::sample_sha256(&inner.blob).await.ok();
    driver.run(&file).await
}

thread_local! {
    /// Where records live when IndexedDB cannot be used: shared by every
    /// upload of the page, so pause and resume still work.
    static MEMORY: Rc<MemoryStore> = Rc::new(MemoryStore::new());
}

/// IndexedDB, falling back to the page's memory when it fails.
async fn page_store(notify: Box<dyn Fn(Warning)>) -> FallbackStore<IdbStore> {
    let memory = MEMORY.with(Rc::clone);
    FallbackStore::new(IdbStore::open().await, memory, notify)
}

/// Calls the upload's `onWarning` for its first warning only.
fn warn_once(inner: &Inner) -> Box<dyn Fn(Warning)> {
    let events = inner.events.clone();
    let warned = Rc::clone(&inner.warned);
    Box::new(move |warning| {
        if !warned.replace(true) {
            events.warning(&warning);
        }
    })
}

/// The browser adapters one run works over.
struct WebPorts {
    store: FallbackStore<IdbStore>,
    backend: HttpBackend,
    sender: XhrSender,
}

impl WebPorts {
    async fn open(inner: &Inner) -> Result<Self, Error> {
        Ok(WebPorts {
            store: page_store(warn_once(inner)).await,
            backend: HttpBackend::new(inner.options.endpoint_base())
                .with_timeout(inner.options.stall_timeout_ms),
            sender: XhrSender::new(inner.blob.clone(), inner.options.stall_timeout_ms),
        })
    }

    fn driver<'a>(
        &'a self,
        inner: &'a Inner,
    ) -> Driver<'a, HttpBackend, XhrSender, FallbackStore<IdbStore>, BrowserTimer> {
        Driver {
            backend: &self.backend,
            sender: &self.sender,
            store: &self.store,
            timer: &BrowserTimer,
            events: &inner.events,
            options: &inner.options,
        }
    }
}
