//! The static calls of `Upload` over the unfinished uploads stored in this
//! browser: find one, list them, forget them, and continue one without
//! picking its file. They convert values and call [`crate::pending`] and
//! [`handles`].

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

use super::api::{promise, settle, Input, Upload};
use super::backend::HttpBackend;
use super::compose::page_store;
use super::convert::{pending_from_js, pending_to_js};
use super::handles::{self, Kind};
use super::headers::BackendHeaders;
use super::idb::IdbStore;
use super::lock::WebLocks;
use super::options::{option_value, parse, parse_lookup};
use super::source::{self, Source};
use super::timer::BrowserTimer;
use crate::core::retry::RetryPolicy;
use crate::driver::FileInfo;
use crate::error::{Error, ErrorKind, StorageFailure};
use crate::fallback::FallbackStore;
use crate::pending;
use crate::ports::{Backend, RecordStore, Timer, Warning};

#[wasm_bindgen]
impl Upload {
    /// The stored unfinished upload of `file` (a handle's file, when read
    /// access was granted already) under `{ endpoint, namespace }` (either
    /// left out, or no options: any), or `null`. Rejects with `STORAGE`
    /// where IndexedDB cannot be opened or read and this page's own runs
    /// hold no record of the file.
    #[wasm_bindgen(js_name = findPrevious, unchecked_return_type = "Promise<PendingUpload | null>")]
    pub fn find_previous(
        #[wasm_bindgen(unchecked_param_type = "File | Blob | FileSystemFileHandle | UploadSource")]
        file: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "LookupOptions")] options: JsValue,
    ) -> Promise {
        promise(async move {
            let found = async {
                let file = match handles::is_handle(&file) {
                    true => handles::file_of_handle(&file, false).await?,
                    false => file,
                };
                let (source, mut file) = source::from_js(&file)?;
                source.key_by_content(&mut file.identity).await;
                let lookup = parse_lookup(&options)?;
                let store = page_store(console_warning()).await;
                let Some(found) = pending::find(
                    &store,
                    &WebLocks,
                    BrowserTimer.now_ms(),
                    &lookup,
                    &file.identity,
                )
                .await?
                else {
                    // Found in this page's memory, it is answered; not
                    // found there, it may be in IndexedDB still.
                    read_whole(&store)?;
                    return Ok(None);
                };
                let kind = kept_kind(&found.id).await;
                Ok(Some((found, kind)))
            };
            settle(found.await, |found| {
                found.map_or(JsValue::NULL, |(p, kind)| pending_to_js(&p, kind))
            })
        })
    }

    /// Every unfinished upload stored in this browser for `{ namespace }`
    /// (all namespaces when none is given), oldest first, each saying
    /// whether it continues without picking its file and whether a run
    /// (of another tab, or of this page) is uploading it now. Records past
    /// `expiresAfter` (default 7 days) are removed on the way, and handles
    /// and staged copies no record needs. Rejects with `STORAGE` where
    /// IndexedDB cannot be opened or read.
    #[wasm_bindgen(js_name = listPending, unchecked_return_type = "Promise<PendingUpload[]>")]
    pub fn list_pending(
        #[wasm_bindgen(unchecked_optional_param_type = "LookupOptions")] options: JsValue,
    ) -> Promise {
        promise(async move {
            let listed = async {
                let lookup = parse_lookup(&options)?;
                let store = page_store(console_warning()).await;
                let listed =
                    pending::list(&store, &WebLocks, BrowserTimer.now_ms(), &lookup).await?;
                read_whole(&store)?;
                let kinds = match IdbStore::open().await {
                    Ok(side) => {
                        // Only from a whole list of ids (an error says it is not).
                        if let Ok(ids) = store.ids().await {
                            super::staging::collect_orphans(&side, &ids).await;
                        }
                        handles::kinds(&side).await.unwrap_or_default()
                    }
                    Err(_) => Vec::new(),
                };
                let kind_of = |id: &str| kinds.iter().find(|(k, _)| k == id).map(|(_, kind)| *kind);
                Ok(listed
                    .into_iter()
                    .map(|p| (kind_of(&p.id), p))
                    .collect::<Vec<_>>())
            };
            settle(listed.await, |listed| {
                let items = listed.iter().map(|(kind, p)| pending_to_js(p, *kind));
                items.collect::<Array>().into()
            })
        })
    }

    /// Forgets every unfinished upload stored in this browser for
    /// `{ namespace }` (all namespaces when none is given): each is aborted on
    /// its server (with retries; best effort), its record deleted, and its
    /// staged copy (with the `headers` option, if given, for a backend that
    /// wants credentials; a function is asked with each upload's
    /// `endpoint`). An upload running (in another tab, or in this
    /// page and not paused) is left to its run, and an `UploadQueue`'s
    /// files to their batch. Resolves to how many were forgotten. A backend
    /// refusing the credentials (401, or the `headers` function failing)
    /// rejects it with that error, forgetting nothing more; an upload it
    /// says is not the caller's (403) is kept. Rejects with `STORAGE`,
    /// before aborting anything, where IndexedDB cannot be opened or read.
    #[wasm_bindgen(js_name = clearPending, unchecked_return_type = "Promise<number>")]
    pub fn clear_pending(
        #[wasm_bindgen(unchecked_optional_param_type = "LookupOptions")] options: JsValue,
    ) -> Promise {
        promise(async move {
            let cleared = async {
                let lookup = parse_lookup(&options)?;
                let headers = BackendHeaders::parse(&option_value(&options, "headers")?)?;
                let store = page_store(console_warning()).await;
                // Before any abort: a clear of this page's memory alone
                // would leave every upload stored in IndexedDB, and say 0.
                let _ = store.ids().await;
                read_whole(&store)?;
                let retry = RetryPolicy::default();
                let backend_for = |endpoint: &str| -> Box<dyn Backend> {
                    Box::new(HttpBackend::new(endpoint).with_headers(headers.clone()))
                };
                let count = pending::clear(
                    &store,
                    &lookup,
                    &WebLocks,
                    &BrowserTimer,
                    &retry,
                    backend_for,
                )
                .await?;
                if let (Ok(ids), Ok(side)) = (store.ids().await, IdbStore::open().await) {
                    super::staging::collect_orphans(&side, &ids).await;
                }
                Ok(count)
            };
            settle(cleared.await, |count| JsValue::from_f64(f64::from(count)))
        })
    }

    /// Continues the unfinished upload `entry` (of `listPending`) without
    /// picking its file, from the file's kept handle or its staged copy:
    /// read permission is asked for first (call it from a click: the
    /// browser asks the user only during one), and the file is checked as
    /// a re-picked one is. Resolves to an `Upload` to `start()`, with
    /// `options`, if given (its endpoint and namespace default to the
    /// entry's).
    /// Rejects with `NO_HANDLE` (pick the file again), `PERMISSION_DENIED`,
    /// `FILE_MISSING` or `FILE_CHANGED`; `INVALID_OPTION` for an `entry`
    /// that is not one of `listPending`, and a storage error where
    /// IndexedDB cannot be opened.
    #[wasm_bindgen(js_name = resumePending, unchecked_return_type = "Promise<Upload>")]
    pub fn resume_pending(
        #[wasm_bindgen(unchecked_param_type = "PendingUpload")] entry: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Partial<UploadOptions>")] options: JsValue,
    ) -> Promise {
        promise(async move { settle(resume(&entry, &options).await, JsValue::from) })
    }
}

/// `STORAGE` when `store` could not read IndexedDB (it could not be
/// opened, or a read failed): a lookup answered from this page's memory
/// alone would say "none" of the uploads stored there, and a page could
/// not tell that from none.
fn read_whole(store: &FallbackStore) -> Result<(), Error> {
    match store.unread() {
        false => Ok(()),
        true => Err(ErrorKind::Storage {
            failure: StorageFailure::Unavailable,
            detail: "it could not be opened or read, so the uploads stored in this browser were \
                     not looked at; try again once it answers"
                .into(),
        }
        .into()),
    }
}

async fn resume(entry: &JsValue, options: &JsValue) -> Result<Upload, Error> {
    if let Some(feature) = super::support::missing_feature() {
        return Err(ErrorKind::UnsupportedBrowser { feature }.into());
    }
    let pending = pending_from_js(entry).ok_or_else(|| {
        Error::invalid_option(
            "entry",
            "give resumePending an entry of Upload.listPending() (an UploadQueue batch is resumed by its own run)",
        )
    })?;
    let store = IdbStore::open().await?;
    let (kind, handle) = handles::kept(&store, &pending.id)
        .await?
        .ok_or(ErrorKind::NoHandle)?;
    let (blob, identity) = handles::file_to_resume(kind, &handle, &pending).await?;
    let mut parsed = parse(&with_defaults(options, &pending))?;
    parsed.options.validate()?;
    let file = FileInfo {
        identity,
        file_type: pending.file_type.clone(),
        sample_sha256: None,
    };
    let input = Input::Ready(Source::File(blob), file);
    let handle = (kind == Kind::Picked).then_some(handle);
    parsed.options.stage_copy &= kind == Kind::Picked;
    Ok(Upload::of(input, handle, kind == Kind::Staged, parsed))
}

/// `options` with the entry's endpoint and namespace where it names none.
fn with_defaults(options: &JsValue, pending: &crate::core::record::PendingUpload) -> JsValue {
    let defaults = [
        ("endpoint", pending.endpoint.as_str()),
        ("namespace", pending.namespace.as_str()),
    ];
    super::js::with_defaults(options, &defaults)
}

/// What record `id` keeps to continue without picking, if anything.
async fn kept_kind(id: &str) -> Option<Kind> {
    let store = IdbStore::open().await.ok()?;
    handles::kept(&store, id).await.ok()?.map(|(kind, _)| kind)
}

/// Where storage warnings of the static calls go: they have no `onWarning`.
fn console_warning() -> Box<dyn Fn(Warning)> {
    Box::new(|warning| {
        web_sys::console::warn_1(&["resupload: ", &warning.message].concat().into());
    })
}
