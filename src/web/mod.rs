//! The browser adapters (wasm32 only): thin implementations of the
//! [ports](crate::ports) over Blob, XMLHttpRequest, fetch, IndexedDB and
//! timers, and the `#[wasm_bindgen]` API in [`api`].

pub mod api;
pub mod backend;
pub mod blob;
pub mod convert;
pub mod deadline;
pub mod events;
pub mod hash;
pub mod idb;
pub mod js_error;
pub mod lock;
pub mod options;
pub mod parts;
pub mod support;
pub mod timer;
pub mod xhr;
