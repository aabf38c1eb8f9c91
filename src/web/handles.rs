//! Files an upload continues from without the user picking them again: a
//! picked file's `FileSystemFileHandle` (Chromium gives them), or a copy
//! staged in the origin-private file system ([`staging`](super::staging),
//! every engine that has one). What is kept for a record lives in
//! IndexedDB's `handles` store, and goes with its record: `{ kind:
//! "picked", handle }`, or `{ kind: "staged" }` for a copy, which is found
//! again by its name (the record's id), not by a stored handle: Safari
//! cannot store a `FileSystemHandle` in IndexedDB (DataCloneError). No URL,
//! no secret.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::deadline::within;
use super::idb::IdbStore;
use super::js::{field, string, Builder};
use crate::core::fingerprint::{fingerprint, FileIdentity};
use crate::core::record::PendingUpload;
use crate::error::{Error, ErrorKind};

#[wasm_bindgen(module = "/src/web/file_access.js")]
extern "C" {
    #[wasm_bindgen(js_name = isFileHandle)]
    fn is_file_handle(value: &JsValue) -> bool;
    #[wasm_bindgen(js_name = readPermission)]
    fn read_permission(handle: &JsValue, ask: bool) -> Promise;
    #[wasm_bindgen(js_name = fileOf)]
    fn file_of(handle: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = stagedFile)]
    fn staged_file(name: &str) -> Promise;
}

/// How long the browser may take to answer for a handle (its permission
/// state, its file) before the file counts as unreadable.
const HANDLE_TIMEOUT_MS: u32 = 30_000;

/// How long a person may take to answer the browser's permission prompt
/// before the read counts as not granted: long enough to read it, come
/// back to the tab and decide, and still an end where no prompt shows.
const PROMPT_TIMEOUT_MS: u32 = 10 * 60_000;

/// What a record keeps to continue without picking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The picked file's own handle.
    Picked,
    /// A copy staged in the origin-private file system, named after the
    /// record.
    Staged,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Picked => "picked",
            Kind::Staged => "staged",
        }
    }

    /// How `listPending` names it (`resumeFrom`).
    pub fn resume_from(self) -> &'static str {
        match self {
            Kind::Picked => "handle",
            Kind::Staged => "copy",
        }
    }
}

/// Whether `value` is a `FileSystemFileHandle`.
pub fn is_handle(value: &JsValue) -> bool {
    is_file_handle(value)
}

/// Keeps the picked file's `handle` for record `id`.
pub async fn keep_picked(store: &IdbStore, id: &str, handle: &JsValue) -> Result<(), Error> {
    let entry = Builder::new()
        .str("kind", Kind::Picked.as_str())
        .set("handle", handle)
        .done();
    store.put_handle(id, &entry).await
}

/// Notes that record `id` has a finished staged copy (named `id`).
pub async fn keep_staged(store: &IdbStore, id: &str) -> Result<(), Error> {
    let entry = Builder::new().str("kind", Kind::Staged.as_str()).done();
    store.put_handle(id, &entry).await
}

/// What is kept for record `id`, if anything: its kind, and for a picked
/// file its handle (`undefined` for a staged copy).
pub async fn kept(store: &IdbStore, id: &str) -> Result<Option<(Kind, JsValue)>, Error> {
    let Some(entry) = store.get_handle(id).await? else {
        return Ok(None);
    };
    let kind = match string(&entry, "kind").as_deref() {
        Some("picked") => Kind::Picked,
        Some("staged") => Kind::Staged,
        _ => return Ok(None),
    };
    Ok(Some((kind, field(&entry, "handle"))))
}

/// Whether record `id` has a staged copy of the file whose size and
/// content sample (`sample`, the file's) are `size` and `sample`: the same
/// test a resume puts a file to. No sample (the file could not be read)
/// never matches.
pub async fn staged_copy_matches(id: &str, size: u64, sample: Option<&str>) -> bool {
    let (Some(sample), Ok(copy)) = (sample, answer(staged_file(id)).await) else {
        return false;
    };
    let copy: &web_sys::Blob = copy.unchecked_ref();
    super::blob::size(copy) == size
        && super::blob::sample_sha256(copy).await.ok().as_deref() == Some(sample)
}

/// The kinds kept, by record id (for `listPending`).
pub async fn kinds(store: &IdbStore) -> Result<Vec<(String, Kind)>, Error> {
    let mut out = Vec::new();
    for id in store.handle_ids().await? {
        if let Some((kind, _)) = kept(store, &id).await? {
            out.push((id, kind));
        }
    }
    Ok(out)
}

/// The file to continue `pending` from: for a picked file, read
/// permission asked for (a prompt needs a user gesture) and the file read
/// through `handle`; for a staged copy, the copy named after the record.
/// Either is checked against the stored upload. A picked file must have
/// the record's name, size and date ([`ErrorKind::FileChanged`] otherwise); a
/// staged copy has the size, and takes the record's identity. Content
/// sample and verified resume check the bytes when the upload starts, as
/// for a re-picked file.
pub async fn file_to_resume(
    kind: Kind,
    handle: &JsValue,
    pending: &PendingUpload,
) -> Result<(Blob, FileIdentity), Error> {
    let mut identity = FileIdentity {
        name: pending.file_name.clone(),
        size: pending.file_size,
        last_modified: pending.last_modified,
        source_id: None,
        relative_path: None,
        content_sample: None,
    };
    if kind == Kind::Picked {
        let fresh = file_of_handle(handle, true).await?;
        let file = same_file(&fresh, &identity).ok_or(ErrorKind::FileChanged)?;
        return Ok((file.into(), identity));
    }
    let file: web_sys::File = answer(staged_file(&pending.id)).await?.unchecked_into();
    // A plain Blob's record is keyed by its content too (`Source::
    // key_by_content`), which its copy has: the same bytes.
    if fingerprint(&pending.namespace, &pending.endpoint, &identity) != pending.id {
        identity.content_sample = super::blob::sample_sha256(&file).await.ok();
    }
    if super::blob::size(&file) != identity.size {
        // A copy of the wrong size is an unfinished one.
        return Err(ErrorKind::FileMissing.into());
    }
    Ok((file.into(), identity))
}

/// `fresh`, what a picked file's handle answered when read again, as a
/// `File`, if it is still the one `identity` names: the same name, size
/// and date; `None` for another file (or what is not a file at all).
pub fn same_file(fresh: &JsValue, identity: &FileIdentity) -> Option<web_sys::File> {
    let file = super::blob::as_file(fresh)?;
    let same = file.name() == identity.name
        && super::blob::size(file) == identity.size
        && file.last_modified().to_bits() == identity.last_modified.to_bits();
    same.then(|| file.clone())
}

/// The file behind a picked file's handle, read permission asked for
/// first (a prompt needs a user gesture: the click that started the
/// upload, or that asked to resume it); with `ask` false, a permission not
/// granted yet is [`ErrorKind::PermissionDenied`].
pub async fn file_of_handle(handle: &JsValue, ask: bool) -> Result<JsValue, Error> {
    permitted(handle, ask).await?;
    answer(file_of(handle)).await
}

/// `Ok` when the page may read behind `handle` (a file's or a folder's),
/// asking for it with `ask` (a prompt needs a user gesture). A prompt left
/// unanswered for [`PROMPT_TIMEOUT_MS`] is [`ErrorKind::PermissionDenied`].
pub async fn permitted(handle: &JsValue, ask: bool) -> Result<(), Error> {
    let asked = read_permission(handle, ask);
    let permission = match ask {
        true => answer_within(PROMPT_TIMEOUT_MS, asked, || ErrorKind::PermissionDenied).await?,
        false => answer(asked).await?,
    };
    match permission.as_string().as_deref() {
        Some("granted") => Ok(()),
        _ => Err(ErrorKind::PermissionDenied.into()),
    }
}

/// A handle call's answer, with its failure classified by
/// [`file_error`].
async fn answer(promise: Promise) -> Result<JsValue, Error> {
    answer_within(HANDLE_TIMEOUT_MS, promise, unanswered_handle).await
}

/// The error of a handle call the browser did not answer in time.
fn unanswered_handle() -> ErrorKind {
    ErrorKind::ReadFailed {
        detail: "the browser did not answer for the file's handle".into(),
    }
}

/// [`answer`] with the error `unanswered` makes after `ms`. A plain `fn`,
/// so that the error is built only at the timeout (a folder walk makes
/// such calls per file) and the function is not copied per caller.
async fn answer_within(
    ms: u32,
    promise: Promise,
    unanswered: fn() -> ErrorKind,
) -> Result<JsValue, Error> {
    let Some(result) = within(ms, JsFuture::from(promise)).await else {
        return Err(unanswered().into());
    };
    result.map_err(|e| file_error(&e))
}

/// A failure to read a file or a folder (a handle's, an entry's), by the
/// error's name: a file that is gone is [`ErrorKind::FileMissing`], a refusal
/// [`ErrorKind::PermissionDenied`], anything else [`ErrorKind::ReadFailed`].
pub fn file_error(e: &JsValue) -> Error {
    match string(e, "name").as_deref() {
        Some("NotFoundError") => ErrorKind::FileMissing.into(),
        Some("NotAllowedError" | "SecurityError") => ErrorKind::PermissionDenied.into(),
        _ => ErrorKind::ReadFailed {
            detail: super::js_error::describe(e),
        }
        .into(),
    }
}
