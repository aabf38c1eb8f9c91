//! SHA-256 of a part's `Blob`, off the page's main thread.
//!
//! A page-wide dedicated worker (`hash_worker.js`, started by
//! `hash_client.js`) hashes each part: WebCrypto for a part up to 64 MiB,
//! else sha2 from this same wasm module, which the worker instantiates on
//! its own through the plain exports below. Where no worker runs (a CSP
//! without `worker-src 'self'`, or the worker fails or goes quiet), the page
//! hashes on its own thread, giving the event loop a turn after every chunk.
//! A part the worker could not read (gone, or slower than the page's own
//! bound: see `hash_worker.js`) the page reads itself, and keeps the worker.
//!
//! Bytes are read with `slice()` + `arrayBuffer()` in bounded chunks, never
//! with `Blob.stream()`: WebKit's stream throws NotReadableError on files of
//! 4 GiB or more (WebKit bug 272600).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Promise, Uint8Array};
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Blob};

use super::blob;
use super::fetch::AbortOnDrop;
use crate::core::checksum::Sha256Digest;
use crate::error::Error;

#[wasm_bindgen(module = "/src/web/hash_client.js")]
extern "C" {
    type HashWorker;
    #[wasm_bindgen(constructor, catch)]
    fn new(module: &JsValue) -> Result<HashWorker, JsValue>;
    /// `signal` (or `undefined`) gives the hash up when aborted.
    #[wasm_bindgen(method)]
    fn hash(this: &HashWorker, blob: &Blob, signal: &JsValue) -> Promise;
}

/// Bytes read (and copied into wasm memory) at a time on the page's thread.
const CHUNK_BYTES: u64 = 4 * 1024 * 1024;

/// The page's hash worker: not started yet, running, or unusable here.
enum WorkerState {
    Unstarted,
    Running(Rc<HashWorker>),
    Unavailable,
}

thread_local! {
    static WORKER: RefCell<WorkerState> = const { RefCell::new(WorkerState::Unstarted) };
}

fn in_worker() -> bool {
    js_sys::global()
        .dyn_ref::<web_sys::WorkerGlobalScope>()
        .is_some()
}

/// Starts the page's hash worker now (if it is not running yet), so that it
/// is ready by the time the first part is hashed: loading it takes a
/// moment the upload's start can hide.
pub fn warm_up() {
    let _ = page_worker();
}

/// The page's worker, started on first use; `None` where none can run.
fn page_worker() -> Option<Rc<HashWorker>> {
    WORKER.with(|state| {
        let mut state = state.borrow_mut();
        if let WorkerState::Unstarted = *state {
            *state = match in_worker() {
                // A worker hashes on its own thread already.
                true => WorkerState::Unavailable,
                false => match HashWorker::new(&wasm_bindgen::module()) {
                    Ok(worker) => WorkerState::Running(Rc::new(worker)),
                    Err(reason) => {
                        give_up_message(&reason);
                        WorkerState::Unavailable
                    }
                },
            };
        }
        match &*state {
            WorkerState::Running(worker) => Some(Rc::clone(worker)),
            _ => None,
        }
    })
}

fn give_up_on_worker(reason: &JsValue) {
    WORKER.with(|state| *state.borrow_mut() = WorkerState::Unavailable);
    give_up_message(reason);
}

fn give_up_message(reason: &JsValue) {
    web_sys::console::warn_2(
        &"resupload: hashing on the page's thread, the hash worker failed:".into(),
        reason,
    );
}

/// The SHA-256 of `body`: in the page's worker when one runs, else here,
/// yielding between chunks. Dropped before it ends (a pause), it gives the
/// worker's hash up.
pub async fn sha256(body: &Blob) -> Result<Sha256Digest, Error> {
    if let Some(worker) = page_worker() {
        let controller = AbortController::new().ok();
        let signal = controller
            .as_ref()
            .map_or(JsValue::UNDEFINED, |c| c.signal().into());
        let _give_up_when_dropped = controller.map(AbortOnDrop::new);
        match JsFuture::from(worker.hash(body, &signal)).await {
            Ok(digest) => {
                let bytes = Uint8Array::new(&digest).to_vec();
                if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
                    return Ok(Sha256Digest(raw));
                }
                give_up_on_worker(&"a digest that is not 32 bytes".into());
            }
            // The worker could not read the Blob: the page tries (and says
            // READ_FAILED if it cannot either), and keeps the worker.
            Err(reason) if super::js::string(&reason, "unreadable").is_some() => {}
            Err(reason) => give_up_on_worker(&reason),
        }
    }
    sha256_chunked(body, !in_worker()).await
}

/// Reads `body` in chunks of `CHUNK_BYTES` (`slice()` + `arrayBuffer()`)
/// through sha2; with `yield_between`, lets the event loop run after each.
pub async fn sha256_chunked(body: &Blob, yield_between: bool) -> Result<Sha256Digest, Error> {
    let size = blob::size(body);
    let mut hasher = Sha256::new();
    let mut buffer = Vec::new();
    let mut at = 0;
    while at < size {
        let end = size.min(at + CHUNK_BYTES);
        let chunk = blob::read_array(body, at..end).await?;
        buffer.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut buffer);
        hasher.update(&buffer);
        at = end;
        if yield_between {
            gloo_timers::future::TimeoutFuture::new(0).await;
        }
    }
    Ok(Sha256Digest(hasher.finalize().into()))
}

/// The hash worker's sha2: `hash_worker.js` instantiates this module with
/// inert imports and calls these plain exports (no wasm-bindgen glue runs
/// there). One hash at a time: begin, then (buffer, update) per chunk, then
/// finish.
mod worker_exports {
    use std::cell::RefCell;

    use sha2::{Digest, Sha256};

    struct WorkerHash {
        hasher: Sha256,
        buffer: Vec<u8>,
        digest: [u8; 32],
    }

    thread_local! {
        static STATE: RefCell<WorkerHash> = RefCell::new(WorkerHash {
            hasher: Sha256::new(),
            buffer: Vec::new(),
            digest: [0; 32],
        });
    }

    /// Starts a new hash.
    #[no_mangle]
    pub extern "C" fn resupload_sha256_begin() {
        STATE.with(|s| s.borrow_mut().hasher = Sha256::new());
    }

    /// Where the worker writes the next `len` bytes (valid until the next call).
    #[no_mangle]
    pub extern "C" fn resupload_sha256_buffer(len: usize) -> *mut u8 {
        STATE.with(|s| {
            let buffer = &mut s.borrow_mut().buffer;
            buffer.resize(len, 0);
            buffer.as_mut_ptr()
        })
    }

    /// Hashes the first `len` bytes of the buffer.
    #[no_mangle]
    pub extern "C" fn resupload_sha256_update(len: usize) {
        STATE.with(|s| {
            let state = &mut *s.borrow_mut();
            let len = len.min(state.buffer.len());
            state.hasher.update(&state.buffer[..len]);
        });
    }

    /// Ends the hash; answers where its 32 bytes are (valid until the next call).
    #[no_mangle]
    pub extern "C" fn resupload_sha256_finish() -> *const u8 {
        STATE.with(|s| {
            let state = &mut *s.borrow_mut();
            state.digest = state.hasher.finalize_reset().into();
            state.digest.as_ptr()
        })
    }
}
