//! The static lookups of `Upload` in a build without them (the default
//! `resupload` entry, built without the cargo feature `pending`): each
//! rejects with `NOT_IN_BUILD`, whose message says which entry has it. The
//! real ones are in [`lookups`](super) of the `resupload/pending` and
//! `resupload/queue` builds; leaving them out keeps a page that only
//! uploads 9 KB gzip smaller (BENCHMARKS.md).

use crate::error::ErrorKind;
use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::api::{reject, Upload};

fn not_in_build(call: &'static str) -> Promise {
    reject(ErrorKind::NotInBuild { call }.into())
}

#[wasm_bindgen]
impl Upload {
    /// Not in this build: rejects with `NOT_IN_BUILD`. Import `Upload` from
    /// `resupload/pending` (or `resupload/queue`) for the stored upload of
    /// `file`.
    #[wasm_bindgen(js_name = findPrevious, unchecked_return_type = "Promise<never>")]
    pub fn find_previous(
        #[wasm_bindgen(js_name = file, unchecked_param_type = "unknown")] _file: JsValue,
        #[wasm_bindgen(js_name = options, unchecked_optional_param_type = "unknown")]
        _options: JsValue,
    ) -> Promise {
        not_in_build("Upload.findPrevious")
    }

    /// Not in this build: rejects with `NOT_IN_BUILD`. Import `Upload` from
    /// `resupload/pending` (or `resupload/queue`) to list the unfinished
    /// uploads stored in this browser.
    #[wasm_bindgen(js_name = listPending, unchecked_return_type = "Promise<never>")]
    pub fn list_pending(
        #[wasm_bindgen(js_name = options, unchecked_optional_param_type = "unknown")]
        _options: JsValue,
    ) -> Promise {
        not_in_build("Upload.listPending")
    }

    /// Not in this build: rejects with `NOT_IN_BUILD`. Import `Upload` from
    /// `resupload/pending` (or `resupload/queue`) to forget the unfinished
    /// uploads stored in this browser.
    #[wasm_bindgen(js_name = clearPending, unchecked_return_type = "Promise<never>")]
    pub fn clear_pending(
        #[wasm_bindgen(js_name = options, unchecked_optional_param_type = "unknown")]
        _options: JsValue,
    ) -> Promise {
        not_in_build("Upload.clearPending")
    }

    /// Not in this build: rejects with `NOT_IN_BUILD`. Import `Upload` from
    /// `resupload/pending` (or `resupload/queue`) to continue an upload
    /// without picking its file.
    #[wasm_bindgen(js_name = resumePending, unchecked_return_type = "Promise<never>")]
    pub fn resume_pending(
        #[wasm_bindgen(js_name = entry, unchecked_param_type = "unknown")] _entry: JsValue,
        #[wasm_bindgen(js_name = options, unchecked_optional_param_type = "unknown")]
        _options: JsValue,
    ) -> Promise {
        not_in_build("Upload.resumePending")
    }
}
