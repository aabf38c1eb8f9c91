//! SHA-256 of a part's `Blob`, off the page's main thread.
//!
//! A page-wide dedicated worker (`hash_worker.js`) runs this same wasm module
//! and streams each blob through sha2 as `Blob.stream()` delivers it, so
//! memory stays bounded by the parts in flight and the page keeps drawing. Where a
//! worker cannot start (a bundler that moved the files, a strict CSP), the
//! page hashes on its own thread, giving the event loop a turn after every
//! chunk.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Promise, Uint8Array};
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use crate::core::checksum::Sha256Digest;
use crate::error::Error;

#[wasm_bindgen(module = "/src/web/hash_worker.js")]
extern "C" {
    type HashWorker;
    #[wasm_bindgen(constructor, catch)]
    fn new(module: &JsValue) -> Result<HashWorker, JsValue>;
    #[wasm_bindgen(method)]
    fn hash(this: &HashWorker, blob: &Blob) -> Promise;
}

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
/// yielding between chunks.
pub async fn sha256(body: &Blob) -> Result<Sha256Digest, Error> {
    if let Some(worker) = page_worker() {
        match JsFuture::from(worker.hash(body)).await {
            Ok(digest) => {
                let bytes = Uint8Array::new(&digest).to_vec();
                if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
                    return Ok(Sha256Digest(raw));
                }
                give_up_on_worker(&"a digest that is not 32 bytes".into());
            }
            Err(reason) => give_up_on_worker(&reason),
        }
    }
    sha256_streamed(body, !in_worker()).await
}

/// Streams `body` through SHA-256 as `Blob.stream()` delivers it (chunks
/// of a MiB or two: reading through the stream ran 3-8× faster here than
/// slicing the blob into 2 MiB reads); with `yield_between`, lets the event
/// loop run after each chunk.
pub async fn sha256_streamed(body: &Blob, yield_between: bool) -> Result<Sha256Digest, Error> {
    let mut hasher = Sha256::new();
    let mut buffer = Vec::new();
    let reader: web_sys::ReadableStreamDefaultReader = body.stream().get_reader().unchecked_into();
    loop {
        let step = JsFuture::from(reader.read()).await.map_err(read_failed)?;
        if js_sys::Reflect::get(&step, &"done".into())
            .map_err(read_failed)?
            .is_truthy()
        {
            break;
        }
        let chunk: Uint8Array = js_sys::Reflect::get(&step, &"value".into())
            .map_err(read_failed)?
            .dyn_into()
            .map_err(read_failed)?;
        buffer.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut buffer);
        hasher.update(&buffer);
        if yield_between {
            gloo_timers::future::TimeoutFuture::new(0).await;
        }
    }
    Ok(Sha256Digest(hasher.finalize().into()))
}

fn read_failed(e: JsValue) -> Error {
    Error::ReadFailed {
        detail: super::js_error::describe(&e),
    }
}
