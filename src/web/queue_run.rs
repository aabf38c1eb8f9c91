//! One run of an `UploadQueue` in the page: the browser's ports shared by
//! every file (one backend, one sender, one record store, one budget of
//! requests in flight), and each file uploaded through a [`Driver`] of its
//! own: whole in one request when it is small, as a multipart upload
//! (resumable from its record) when it is not.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::Blob;

use super::backend::HttpBackend;
use super::compose::{page_store, queue_senders};
use super::events::{call, call_with, JsEvents};
use super::headers::BackendHeaders;
use super::idb::IdbStore;
use super::lock::{self, WebLocks};
use super::source::Source;
use super::timer::BrowserTimer;
use crate::driver::{Completed, Driver, FileInfo};
use crate::error::{Error, ErrorKind};
use crate::fallback::FallbackStore;
use crate::memory::MemoryStore;
use crate::options::UploadOptions;
use crate::ports::{
    Events, ExpiringSoon, PartCompleted, PartSender, PortFuture, Progress, RestartReason, Resumed,
    Warning, WarningCode, WholePorts, WholeSender,
};
use crate::queue::signing::BatchSigner;
use crate::queue::{DoneStore, FileOutcome, FileRunner, QueueEvents, QueueProgress};
use crate::slots::RampedSlots;

/// One file of a queue, as added.
#[derive(Debug, Clone)]
pub(super) struct QueuedFile {
    /// The file.
    pub blob: Blob,
    /// What the driver knows of it (its folder path included).
    pub info: FileInfo,
}

/// The ports every file of a run shares.
pub(super) struct QueuePorts {
    pub backend: HttpBackend,
    sender: Rc<dyn PartSender<Blob>>,
    /// Sends the small files whole (the same adapter as `sender`).
    whole: Rc<dyn WholeSender<Blob>>,
    store: FallbackStore,
    timer: BrowserTimer,
    /// The queue's one budget of requests in flight, grown from the
    /// measured link unless `concurrency` was given.
    budget: RampedSlots,
    /// Where done markers live: IndexedDB, or the page's memory.
    pub done: Box<dyn DoneStore>,
}

impl QueuePorts {
    /// The ports of a run under `options`; `events` hears of storage
    /// trouble.
    pub async fn open(
        options: &UploadOptions,
        headers: &BackendHeaders,
        events: &JsEvents,
    ) -> Self {
        let warn_events = events.clone();
        let done: Box<dyn DoneStore> = match IdbStore::open().await {
            Ok(store) => Box::new(store),
            Err(_) => Box::new(MemoryStore::new()),
        };
        let (sender, whole) = queue_senders(options.stall_timeout_ms);
        QueuePorts {
            backend: HttpBackend::new(options.endpoint_base())
                .with_timeout(options.stall_timeout_ms)
                .with_headers(headers.clone()),
            sender,
            whole,
            store: page_store(Box::new(move |w| warn_events.warn(w))).await,
            timer: BrowserTimer,
            budget: RampedSlots::new(options.concurrency, options.max_concurrency),
            done,
        }
    }
}

/// Uploads the files of a queue over shared ports.
pub(super) struct WebRunner<'a> {
    pub ports: &'a QueuePorts,
    /// The backend, its small files signed in batches.
    pub signer: BatchSigner<'a>,
    pub files: &'a RefCell<Vec<QueuedFile>>,
    pub options: &'a UploadOptions,
    /// Files up to this size go whole, in one request.
    pub single_limit: u64,
    /// The queue's callbacks (warnings reach `onWarning`).
    pub events: &'a JsEvents,
}

impl WebRunner<'_> {
    fn file(&self, index: usize) -> QueuedFile {
        self.files.borrow()[index].clone()
    }

    fn driver<'d>(
        &'d self,
        source: &'d Source,
        events: &'d dyn Events,
        options: &'d UploadOptions,
    ) -> Driver<'d, Blob> {
        Driver {
            backend: &self.ports.backend,
            source,
            sender: self.ports.sender.as_ref(),
            store: &self.ports.store,
            claims: &WebLocks,
            timer: &self.ports.timer,
            events,
            options,
            budget: Some(&self.ports.budget),
        }
    }

    async fn upload(
        &self,
        index: usize,
        progress: &dyn Fn(Progress),
        stored: &dyn Fn(&str),
    ) -> Result<Box<Completed>, Error> {
        let QueuedFile { blob, mut info } = self.file(index);
        let source = Source::File(blob.clone());
        let events = FileEvents {
            progress,
            stored,
            queue: self.events,
        };
        if info.identity.size <= self.single_limit {
            let whole = WholePorts {
                signer: &self.signer,
                sender: self.ports.whole.as_ref(),
            };
            return self
                .driver(&source, &events, self.options)
                .put_whole(&info, &whole)
                .await;
        }
        // A resumed multipart upload checks its content sample; a fresh
        // one's part size follows the link an `Upload` measured last.
        info.sample_sha256 = super::blob::sample_sha256(&blob).await.ok();
        let link = super::link_memory::recall(self.options.endpoint_base());
        let options = self.options.for_link(&info.identity, link);
        let driver = self.driver(&source, &events, &options);
        // As an `Upload`'s run: one upload of a file at a time across tabs.
        let wait = options.wait_for_lock;
        let _lock =
            lock::hold_record(&driver.record_id(&info), wait, &|w| self.events.warn(w)).await?;
        driver.run(&info).await
    }

    async fn discard_file(&self, index: usize) -> Result<(), Error> {
        let QueuedFile { blob, info } = self.file(index);
        if info.identity.size <= self.single_limit {
            return Ok(());
        }
        let source = Source::File(blob);
        let events = FileEvents {
            progress: &|_| {},
            stored: &|_| {},
            queue: self.events,
        };
        let driver = self.driver(&source, &events, self.options);
        let id = driver.record_id(&info);
        // A run of another tab holds it: that run's upload is left to it.
        let Ok(_lock) = lock::hold_released(&id).await else {
            return Ok(());
        };
        match driver.abort(&info).await {
            // The store completed it before the cancel came (the complete
            // was under way): the page was told "cancelled", so it hears
            // where the object is, once (the record goes: no later run is
            // to complete it again for a cancelled file). The abort left
            // the record, which names the key.
            Err(e) if matches!(e.kind(), ErrorKind::AlreadyCompleted) => {
                let key = driver.store.load(&id).await.ok().flatten().map(|r| r.key);
                let warning = cancelled_stored(&info, key.as_deref());
                self.events.warn_of(warning, key.as_deref());
                driver.store.remove(&id).await
            }
            other => other.map(|_| ()),
        }
    }
}

/// The warning of a file cancelled after the store had completed its
/// upload under `key`.
fn cancelled_stored(info: &FileInfo, key: Option<&str>) -> Warning {
    let path = info.identity.relative_path.as_deref();
    let name = path.unwrap_or(&info.identity.name);
    Warning {
        code: WarningCode::CancelledStored,
        message: [
            name,
            " was cancelled, but the store had completed its upload already: the object is stored as ",
            key.unwrap_or("(its key could not be read)"),
            "; delete it if it is not wanted",
        ]
        .concat(),
    }
}

impl FileRunner for WebRunner<'_> {
    fn run<'a>(
        &'a self,
        index: usize,
        progress: &'a dyn Fn(Progress),
        stored: &'a dyn Fn(&str),
    ) -> PortFuture<'a, Box<Completed>> {
        Box::pin(self.upload(index, progress, stored))
    }

    fn discard(&self, index: usize) -> PortFuture<'_, ()> {
        Box::pin(self.discard_file(index))
    }
}

/// One file's events: its progress goes to the queue's totals, its
/// object's key once stored to the queue's state, its warnings to the
/// queue's `onWarning` (once per code for the queue).
struct FileEvents<'a> {
    progress: &'a dyn Fn(Progress),
    stored: &'a dyn Fn(&str),
    queue: &'a JsEvents,
}

impl Events for FileEvents<'_> {
    fn progress(&self, progress: Progress) {
        (self.progress)(progress);
    }
    fn part_completed(&self, _part: PartCompleted) {}
    fn resumed(&self, _resumed: Resumed) {}
    fn restarted(&self, _reason: RestartReason) {}
    fn expiring_soon(&self, _soon: ExpiringSoon) {}
    fn warning(&self, warning: Warning) {
        self.queue.warn(warning);
    }
    fn object_stored(&self, key: &str) {
        (self.stored)(key);
    }
}

/// The queue's `onProgress` and `onFile`.
pub(super) struct QueueCallbacks<'a> {
    pub events: &'a JsEvents,
    pub on_file: Option<js_sys::Function>,
    pub files: &'a RefCell<Vec<QueuedFile>>,
}

impl QueueEvents for QueueCallbacks<'_> {
    fn progress(&self, p: QueueProgress) {
        call(&self.events.on_progress, |o| {
            let files = super::js::Builder::new()
                .num("total", p.files_total as f64)
                .num("done", p.files_done as f64)
                .num("failed", p.files_failed as f64)
                .done();
            let bytes = super::js::Builder::new()
                .num("sent", p.bytes_sent as f64)
                .num("confirmed", p.bytes_confirmed as f64)
                .num("total", p.bytes_total as f64)
                .done();
            let eta = p
                .eta_seconds
                .map_or(wasm_bindgen::JsValue::NULL, Into::into);
            o.set("files", &files)
                .set("bytes", &bytes)
                .num("bytesPerSecond", p.bytes_per_second)
                .set("etaSeconds", &eta)
        });
    }

    fn file_ended(&self, index: usize, outcome: &FileOutcome) {
        if self.on_file.is_some() {
            let report = super::queue::file_report(&self.files.borrow()[index], index, outcome);
            call_with(&self.on_file, &report);
        }
    }

    fn warning(&self, warning: Warning) {
        self.events.warn(warning);
    }
}
