//! The one place the browser's ports are put together.
//!
//! | port | adapter | file |
//! | --- | --- | --- |
//! | backend | fetch to Companion's S3 routes | `backend.rs` |
//! | part source | `Blob.slice` of a file, or a streaming source's `read` | `source.rs` |
//! | part sender | XMLHttpRequest, or fetch where there is none | `xhr_sender.rs`, `fetch_sender.rs` |
//! | whole-file signer and sender (an upload queue's small files) | the backend's `/params`, and the part sender's adapters | `backend.rs`, `xhr_sender.rs`, `fetch_sender.rs` |
//! | record store | IndexedDB, falling back to the page's memory | `idb.rs`, `../fallback.rs` |
//! | timer | `setTimeout`, `performance.now()` (or `Date.now()` where it strays), the `online` event | `timer.rs` |
//!
//! A new adapter is one file implementing its port, chosen here.

use std::rc::Rc;

use web_sys::Blob;

use super::backend::HttpBackend;
use super::fetch_sender::FetchSender;
use super::headers::BackendHeaders;
use super::idb::IdbStore;
use super::lock::WebLocks;
use super::source::Source;
use super::timer::BrowserTimer;
use super::xhr_sender::XhrSender;
use crate::driver::Driver;
use crate::fallback::FallbackStore;
use crate::memory::MemoryStore;
use crate::options::UploadOptions;
use crate::ports::{Events, PartSender, RecordStore, Warning, WholeSender};

thread_local! {
    /// Where records live when IndexedDB cannot be used: shared by every
    /// upload of the page, so pause and resume still work.
    static MEMORY: Rc<MemoryStore> = Rc::new(MemoryStore::new());
}

/// The page's record store: IndexedDB, falling back to the page's memory
/// when it fails; `warn` hears of the fall.
pub async fn page_store(warn: Box<dyn Fn(Warning)>) -> FallbackStore {
    let memory = MEMORY.with(Rc::clone);
    let idb = IdbStore::open().await;
    FallbackStore::new(
        idb.map(|s| Box::new(s) as Box<dyn RecordStore>),
        memory,
        warn,
    )
}

/// The part sender of a run: XMLHttpRequest wherever there is one, fetch
/// where there is none (a context `new Upload` and `resumePending` refuse,
/// a service worker, with `UNSUPPORTED_BROWSER`, for the sake of the
/// progress below). XMLHttpRequest reports upload
/// progress, and with its listener off while parts go fast it sends as
/// fast as fetch (bench: throughput); and Firefox aborts a page's
/// XMLHttpRequests when it reloads, but lets a fetch PUT run on (seen in
/// engines.test.mjs: the held part stayed open after the reload).
pub fn sender(stall_timeout_ms: u32) -> Box<dyn PartSender<Blob>> {
    match has_xhr() {
        true => Box::new(XhrSender::new(stall_timeout_ms)),
        false => Box::new(FetchSender::new(stall_timeout_ms)),
    }
}

/// An upload queue's senders of parts and of whole small files: one
/// adapter, chosen as [`sender`] chooses it, behind both ports, so that a
/// whole file's request follows what the parts measured (whether to listen
/// to progress).
pub fn queue_senders(
    stall_timeout_ms: u32,
) -> (Rc<dyn PartSender<Blob>>, Rc<dyn WholeSender<Blob>>) {
    match has_xhr() {
        true => {
            let xhr = Rc::new(XhrSender::new(stall_timeout_ms));
            (xhr.clone(), xhr)
        }
        false => {
            let fetch = Rc::new(FetchSender::new(stall_timeout_ms));
            (fetch.clone(), fetch)
        }
    }
}

fn has_xhr() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &"XMLHttpRequest".into()).unwrap_or(false)
}

/// The browser's ports for one run.
pub struct WebPorts {
    backend: HttpBackend,
    source: Source,
    sender: Box<dyn PartSender<Blob>>,
    store: FallbackStore,
    timer: BrowserTimer,
}

impl WebPorts {
    /// Whether IndexedDB could not be opened or read: a record not found
    /// may be there still.
    pub fn records_unread(&self) -> bool {
        self.store.unread()
    }

    /// The ports of a run of `source` under `options`, the backend's
    /// requests carrying `headers`; `warn` hears of storage trouble.
    /// Boxed: 68 bytes on wasm32 that the run's futures hold across their
    /// awaits.
    pub async fn open(
        source: Source,
        options: &UploadOptions,
        headers: &BackendHeaders,
        warn: Box<dyn Fn(Warning)>,
    ) -> Box<Self> {
        let store = page_store(warn).await;
        Box::new(WebPorts {
            backend: HttpBackend::new(options.endpoint_base())
                .with_timeout(options.stall_timeout_ms)
                .with_headers(headers.clone()),
            source,
            sender: sender(options.stall_timeout_ms),
            store,
            timer: BrowserTimer,
        })
    }
}

impl WebPorts {
    /// A driver over these ports.
    pub fn driver<'a>(
        &'a self,
        events: &'a dyn Events,
        options: &'a UploadOptions,
    ) -> Driver<'a, Blob> {
        Driver {
            backend: &self.backend,
            source: &self.source,
            sender: self.sender.as_ref(),
            store: &self.store,
            claims: &WebLocks,
            timer: &self.timer,
            events,
            options,
            budget: None,
        }
    }
}
