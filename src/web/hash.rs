//! SHA-256 of a part's `Blob`, off the page's main thread.
//!
//! A page-wide dedicated worker (`hash_worker.js`) runs this same wasm module
//! and streams each blob through sha2 in [`CHUNK_BYTES`] chunks, so memory
//! stays bounded by the parts in flight and the page keeps drawing. Where a
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

use super::blob;
use crate::core::checksum::Sha256Digest;
use crate::error::Error;

/// The bytes read from a blob at a time while hashing.
pub const CHUNK_BYTES: u64 = 2 * 1024 * 1024;

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

/// Streams `body` through SHA-256, [`CHUNK_BYTES`] at a time, reading the
/// next chunk while hashing this one; with `yield_between`, lets the event
/// loop run after each chunk.
pub async fn sha256_streamed(body: &Blob, yield_between: bool) -> Result<Sha256Digest, Error> {
    let total = blob::size(body);
    let mut hasher = Sha256::new();
    let mut buffer = Vec::new();
    let read = |start: u64| -> Result<Option<JsFuture>, Error> {
        if start >= total {
            return Ok(None);
        }
        let chunk = blob::slice(body, start..(start + CHUNK_BYTES).min(total))?;
        Ok(Some(JsFuture::from(chunk.array_buffer())))
    };
    let mut offset = 0;
    let mut next = read(0)?;
    while let Some(pending) = next.take() {
        let bytes = Uint8Array::new(&pending.await.map_err(read_failed)?);
        offset += CHUNK_BYTES;
        next = read(offset)?;
        buffer.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut buffer);
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
