//! # resupload: resumable S3 multipart uploads from the browser
//!
//! From the top: a web page hands a `File` to `Upload` (`web/api.rs`: the
//! JavaScript class), which cuts it into parts with `Blob.slice`, sends them in
//! parallel to presigned S3 URLs obtained from a small signing backend (Uppy
//! Companion's S3 routes), retries what fails, and keeps its state in
//! IndexedDB. When the page is reloaded and the same file is offered again,
//! the upload resumes: the server's part list says which parts it holds, and
//! only the others are sent.
//!
//! ```js
//! import init, { Upload } from "resupload";
//! await init();
//! const upload = new Upload(file, { endpoint: "/api/s3", onProgress: p => console.log(p) });
//! const { key } = await upload.start();
//! ```
//!
//! The crate is layered so that the logic is testable without a browser:
//! - [`core`]: pure data in, decisions out (part planning, records,
//!   reconciliation, retries, fingerprints);
//! - [`ports`]: the small traits the logic runs on ([`memory`] has a real
//!   in-memory record store, [`fallback`] one that falls back to it);
//! - [`driver`]: one upload's run over the ports, in phases;
//! - [`pending`]: the stored unfinished uploads (find, list, forget);
//! - [`http`]: what a failed HTTP answer means, decided once;
//! - `web` (wasm32 only): the browser adapters and the `#[wasm_bindgen]` API.
#![deny(missing_docs)]

pub mod core;
pub mod driver;
pub mod error;
pub mod fallback;
pub mod http;
pub mod memory;
pub mod options;
pub mod pending;
pub mod ports;
pub mod queue;
pub mod slots;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use driver::{Completed, Driver, FileInfo};
pub use error::{Error, Operation};
pub use options::UploadOptions;

/// The allocator of the wasm module: talc, made for WebAssembly, in place of
/// Rust's default dlmalloc, which takes 2.1 KB more of the gzipped module
/// (BENCHMARKS.md). It grows the module's memory as dlmalloc does.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
