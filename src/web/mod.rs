//! The browser adapters (wasm32 only): thin implementations of the
//! [ports](crate::ports) over Blob, XMLHttpRequest, fetch, IndexedDB and
//! timers, put together in [`compose`], and the `#[wasm_bindgen]` API in
//! [`api`].

pub mod api;
pub mod backend;
pub mod blob;
pub mod compose;
pub mod convert;
pub mod deadline;
pub mod events;
pub mod fetch;
pub mod fetch_sender;
pub mod form;
pub mod handles;
pub mod hash;
pub mod headers;
pub mod host_slots;
pub mod idb;
mod idb_done;
pub mod js;
pub mod js_error;
pub mod link_memory;
pub mod lock;
#[cfg(feature = "pending")]
pub mod lookups;
#[cfg(not(feature = "pending"))]
mod lookups_absent;
pub mod options;
#[cfg(feature = "queue")]
pub mod queue;
#[cfg(feature = "queue")]
mod queue_batches;
#[cfg(feature = "queue")]
mod queue_run;
mod run;
pub mod source;
pub mod staging;
pub mod support;
pub mod timer;
pub mod xhr_sender;
