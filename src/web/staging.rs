//! Staged copies (`stage: "opfs"`): while a file uploads, it is copied into
//! the origin-private file system, and the copy's handle is kept with the
//! record, so that after a restart the upload continues from the copy
//! without the file being picked again, in every engine that has the
//! origin-private file system.
//!
//! The copy is made only when `navigator.storage.estimate()` says it fits,
//! in bounded chunks, beside the upload (the browser does the reading and
//! writing). It is deleted when the upload completes or is aborted, and a
//! copy whose record is gone (an orphan) is deleted by the next run or
//! `listPending` of the page, unless its upload is running in another tab.

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::deadline::within;
use super::fetch::AbortOnDrop;
use super::handles;
use super::idb::IdbStore;
use super::lock;
use crate::core::text::decimal;
use crate::ports::{RecordStore, Warning, WarningCode};

#[wasm_bindgen(module = "/src/web/file_access.js")]
extern "C" {
    #[wasm_bindgen(js_name = canStage)]
    fn can_stage() -> bool;
    #[wasm_bindgen(js_name = freeRoom)]
    fn free_room() -> Promise;
    #[wasm_bindgen(js_name = stageCopy)]
    fn stage_copy(name: &str, blob: &Blob, signal: &web_sys::AbortSignal) -> Promise;
    #[wasm_bindgen(js_name = removeCopy)]
    fn remove_copy(name: &str) -> Promise;
    #[wasm_bindgen(js_name = copyNames)]
    fn copy_names() -> Promise;
}

/// How long a look into the origin-private file system (its copies'
/// names, a copy's removal) may take before it is given up: these run
/// before and after every upload, staged or not, and must never hold it.
const LOOK_TIMEOUT_MS: u32 = 10_000;

/// Room kept free beside a copy, as a share of its size: the estimate is
/// rough, and the upload's own records need room too.
const HEADROOM: f64 = 0.1;

/// Copies `file` as the staged copy of record `id` and keeps its handle;
/// answers whether a whole copy is in place. A whole copy there already is
/// kept only when `ours` (this upload made it of this very `file`, and it
/// still has the file's size and content `sample`): a copy made again
/// would cost the file's size in writes at every `start()`. Any other copy
/// is deleted first: made before a reload, of a file picked then, it may
/// hold other bytes under the same name, size, date and sample, which only
/// reading it whole could tell.
/// Where there is no room or no origin-private file system, or the copy
/// fails, `warn` hears why and the upload goes on without a copy. Dropping
/// the future stops the copy.
pub async fn stage(
    store: &IdbStore,
    id: &str,
    file: &Blob,
    sample: Option<&str>,
    ours: bool,
    warn: &dyn Fn(Warning),
) -> bool {
    let size = super::blob::size(file);
    if !can_stage() {
        warn(skipped("this browser has no origin-private file system"));
        return false;
    }
    if ours && handles::staged_copy_matches(id, size, sample).await {
        // Kept again, in case that note was lost.
        return handles::keep_staged(store, id).await.is_ok();
    }
    forget(store, id).await;
    if let Err(no_room) = room_for(size).await {
        warn(no_room);
        return false;
    }
    let Ok(controller) = web_sys::AbortController::new() else {
        warn(skipped("this browser cannot stop a copy"));
        return false;
    };
    let signal = controller.signal();
    let _stop_on_drop = AbortOnDrop::new(controller);
    let failure = match JsFuture::from(stage_copy(id, file, &signal)).await {
        Ok(_) => handles::keep_staged(store, id)
            .await
            .err()
            .map(|e| e.message()),
        Err(e) => Some(copy_failure(&e)),
    };
    let Some(why) = failure else {
        return true;
    };
    remove(id).await;
    warn(Warning {
        code: WarningCode::StagingFailed,
        message: [
            "the staged copy of the file failed (",
            &why,
            "): after a restart the file must be picked again",
        ]
        .concat(),
    });
    false
}

/// `Ok` unless `navigator.storage.estimate()` says a copy of `size` bytes
/// (with [`HEADROOM`]) does not fit: then the warning that says so.
async fn room_for(size: u64) -> Result<(), Warning> {
    let room = JsFuture::from(free_room())
        .await
        .ok()
        .and_then(|r| r.as_f64());
    match room.filter(|room| *room < size as f64 * (1.0 + HEADROOM)) {
        None => Ok(()),
        Some(room) => Err(skipped(
            &[
                "the copy needs ",
                &decimal(size),
                " bytes and the origin has ",
                &decimal(room.max(0.0) as u64),
                " free",
            ]
            .concat(),
        )),
    }
}

/// Why a copy failed, in words: a full origin (`QuotaExceededError`, the
/// browser's own verdict, which its estimate may not have foreseen) is told
/// apart from any other failure.
fn copy_failure(e: &JsValue) -> String {
    let quota = e
        .dyn_ref::<web_sys::DomException>()
        .is_some_and(|e| e.name() == "QuotaExceededError");
    if quota {
        "the origin's storage is full".into()
    } else {
        super::js_error::describe(e)
    }
}

/// The `STAGING_SKIPPED` warning: no copy is made, for the reason `why`.
pub fn skipped(why: &str) -> Warning {
    Warning {
        code: WarningCode::StagingSkipped,
        message: [
            "no staged copy: ",
            why,
            "; the upload goes on, but after a restart the file must be picked again",
        ]
        .concat(),
    }
}

/// Deletes record `id`'s staged copy, if the record notes one (a picked
/// file's kept handle stays; a copy never noted is never resumed from, and
/// goes with its record). Best effort.
pub async fn forget(store: &IdbStore, id: &str) {
    if let Ok(Some((handles::Kind::Staged, _))) = handles::kept(store, id).await {
        let _ = store.delete_handle(id).await;
        remove(id).await;
    }
}

/// Deletes the staged copy of record `id`, if there is one (best effort).
pub async fn remove(id: &str) {
    let _ = within(LOOK_TIMEOUT_MS, JsFuture::from(remove_copy(id))).await;
}

/// Deletes what records no longer need: handles and staged copies whose
/// record is gone and whose upload does not run (in this page or another
/// tab). `known` are the ids of the records read before; `store` is asked
/// again for each one found orphaned ([`orphaned`]). Answers the ids of
/// the handle entries kept.
pub async fn collect_orphans(store: &IdbStore, known: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    for id in store.handle_ids().await.unwrap_or_default() {
        if orphaned(&id, known, store).await {
            let _ = store.delete_handle(&id).await;
        } else {
            kept.push(id);
        }
    }
    let Some(Ok(names)) = within(LOOK_TIMEOUT_MS, JsFuture::from(copy_names())).await else {
        return kept;
    };
    for name in names
        .unchecked_into::<Array>()
        .iter()
        .filter_map(|n| n.as_string())
    {
        if orphaned(&name, known, store).await {
            remove(&name).await;
        }
    }
    kept
}

/// Whether what record `id` kept (a handle, a copy) is orphaned: its
/// record is not among `known`, no run holds its lock, its record is still
/// not there when read again, and still no run holds the lock. `known` was
/// read before the walk: a run of another tab may have started, made its
/// record and stopped since (its lock free again), and what it kept is not
/// an orphan. The record is read from IndexedDB itself (`store`), where a
/// failed read is an error, and keeps what it kept: a fallback store
/// would answer "none" from memory. Left open, each as narrow as one
/// request: a run that starts after the first look, makes its record just
/// after the read and stops before the second look; one that starts
/// between the second look and the delete. Either loses its kept handle or
/// copy, and resumes by a pick.
async fn orphaned(id: &str, known: &[String], store: &IdbStore) -> bool {
    !known.iter().any(|k| k == id)
        && unclaimed(id).await
        && matches!(store.load(id).await, Ok(None))
        && unclaimed(id).await
}

/// Whether no run holds record `id`'s lock. A run holds it from before it
/// keeps the file's handle and makes its copy until it ends, and its record
/// is made only once the backend answered the create: until then, a handle
/// or copy without a record may be a live upload's.
async fn unclaimed(id: &str) -> bool {
    !lock::is_held(id).await
}
