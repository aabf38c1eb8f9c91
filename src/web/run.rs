//! One run of an `Upload` in the page: the file made ready (a handle read),
//! the ports opened, the cross-tab lock taken, the kept handle and the
//! staged copy looked after, and the driver run.

use std::pin::pin;

use futures::future::{join, select, Either};
use web_sys::Blob;

use super::api::{check_plan, Inner, Input};
use super::compose::WebPorts;
use super::handles;
use super::idb::IdbStore;
use super::lock;
use super::source::Source;
use super::staging;
use crate::driver::{Completed, Driver, FileInfo};
use crate::error::{Error, ErrorKind, StorageFailure};
use crate::options::ChecksumMode;
use crate::ports::{RecordStore, Warning, WarningCode};

/// Uploads the file of `inner`, resuming a stored upload of it when there
/// is one.
pub(super) async fn run(inner: std::rc::Rc<Inner>) -> Result<Box<Completed>, Error> {
    inner.events.stored.set(false);
    inner.events.fresh_run.set(true);
    let (source, mut file) = ready(&inner, true).await?;
    if inner.options.checksum != ChecksumMode::None || file.identity.is_stream() {
        // Parts will likely be hashed: load the worker while the record is read.
        super::hash::warm_up();
    }
    // The content sample is read while the store opens (a plain Blob's
    // was, to key it). A file that cannot be read at all fails later, at
    // its first part.
    let sample = async {
        match (&source, &file.identity.content_sample) {
            (_, Some(keyed)) => Some(keyed.clone()),
            (Source::File(blob), None) => super::blob::sample_sha256(blob).await.ok(),
            (Source::Stream { .. }, None) => None,
        }
    };
    let (ports, sample) = join(open_ports(&inner, source.clone()), sample).await;
    file.sample_sha256 = sample;
    // A fresh upload's part size follows the link measured last; a stored
    // one keeps its own.
    let link = super::link_memory::recall(inner.options.endpoint_base());
    let options = inner.options.for_link(&file.identity, link);
    let driver = ports.driver(&inner.events, &options);
    let id = driver.record_id(&file);
    let _lock =
        lock::hold_record(&id, inner.options.wait_for_lock, &|w| inner.events.warn(w)).await?;
    let side = IdbStore::open().await.ok();
    let mut noted = false;
    if let Some(store) = &side {
        // Before the upload: beside it, its work shared the page's thread
        // and IndexedDB with the resume's first steps, and a resume measured
        // no faster (twice: BENCHMARKS.md).
        noted = collect_orphans(store, driver.store, &id).await;
        if let Some(handle) = &inner.handle {
            let _ = handles::keep_picked(store, &id, handle).await;
        }
    }
    let sample = file.sample_sha256.as_deref();
    let staging = look_after_copy(&inner, side.as_ref(), &source, &id, sample, noted);
    let done = beside(driver.run(&file), staging).await;
    if done.is_ok() {
        // The record is gone; its handle and copy go too, and a pause
        // meanwhile no longer stops the run (`JsEvents::stored`).
        inner.events.stored.set(true);
        forget_kept(side.as_ref(), &id).await;
    }
    done
}

/// Looks after record `id`'s staged copy beside the upload of `source`
/// (never ends: dropped with the upload). With `stage: "opfs"`, makes it
/// (keeping the whole one this `Upload` made before). Otherwise deletes
/// one an earlier upload made (`noted`: the record has something kept):
/// it may hold other bytes under the same name, size, date and content
/// `sample` (only the parts sent are verified), and this run makes none.
async fn look_after_copy(
    inner: &Inner,
    side: Option<&IdbStore>,
    source: &Source,
    id: &str,
    sample: Option<&str>,
    noted: bool,
) {
    let stage = inner.options.stage_copy && !inner.from_copy;
    match (side, source) {
        (Some(store), Source::File(blob)) if stage => {
            let ours = inner.staged_here.get();
            let warn = |w| inner.events.warn(w);
            let whole = staging::stage(store, id, blob, sample, ours, &warn).await;
            inner.staged_here.set(whole);
        }
        (None, Source::File(_)) if stage => inner.events.warn(staging::skipped(
            "IndexedDB, where the copy would be noted, cannot be opened here",
        )),
        (_, Source::Stream { .. }) if stage => inner.events.warn(Warning {
            code: WarningCode::StagingSkipped,
            message: "no staged copy: a streaming source is not copied (its read() gives \
                      its bytes again after a restart)"
                .into(),
        }),
        (Some(store), Source::File(_)) if noted && !inner.from_copy => {
            staging::forget(store, id).await
        }
        _ => {}
    }
    std::future::pending().await
}

/// Deletes what was kept to continue record `id` without picking: its
/// handle, or its staged copy (best effort: an orphan left is collected
/// before a later run).
async fn forget_kept(side: Option<&IdbStore>, id: &str) {
    if let Some(store) = side {
        let _ = store.delete_handle(id).await;
    }
    staging::remove(id).await;
}

/// Runs `upload`, with `side` beside it until the upload ends (then `side`
/// is dropped, which stops it).
async fn beside<T>(
    upload: impl std::future::Future<Output = T>,
    side: impl std::future::Future<Output = ()>,
) -> T {
    match select(pin!(upload), pin!(side)).await {
        Either::Left((done, _)) => done,
        Either::Right(((), upload)) => upload.await,
    }
}

/// The source and file of `inner`, reading a handle's file the first time
/// (asking for read permission: `start()` is called from a click), and
/// keying a plain Blob by its content the first time. With `again`, a
/// picked file's handle is read again (see [`read_again`]).
async fn ready(inner: &Inner, again: bool) -> Result<(Source, Box<FileInfo>), Error> {
    let ready = match &*inner.input.borrow() {
        Input::Ready(source, file) => Ok((source.clone(), Box::new(file.clone()))),
        Input::Handle(handle) => Err(handle.clone()),
    };
    let (source, mut info) = match ready {
        Ok((source, info)) if again => read_again(inner, source, info).await?,
        Ok(ready) => ready,
        Err(handle) => {
            let file = handles::file_of_handle(&handle, true).await?;
            let (source, info) = super::source::from_js(&file)?;
            check_plan(&info, &inner.options)?;
            (source, Box::new(info))
        }
    };
    source.key_by_content(&mut info.identity).await;
    *inner.input.borrow_mut() = Input::Ready(source.clone(), (*info).clone());
    Ok((source, info))
}

/// `source` afresh from the picked file's handle, where the upload has
/// one: the `File` read before is a snapshot, which the browser refuses to
/// read once the file changed (`NotReadableError`: `READ_FAILED` at every
/// `start()`). The same file (name, size and date) goes on from the fresh `File`;
/// another is [`ErrorKind::FileChanged`], as `resumePending` answers it.
async fn read_again(
    inner: &Inner,
    source: Source,
    info: Box<FileInfo>,
) -> Result<(Source, Box<FileInfo>), Error> {
    let Some(handle) = inner.handle.as_ref().filter(|_| !inner.from_copy) else {
        return Ok((source, info));
    };
    let fresh = handles::file_of_handle(handle, true).await?;
    let file = handles::same_file(&fresh, &info.identity).ok_or(ErrorKind::FileChanged)?;
    Ok((Source::File(file.into()), info))
}

/// Deletes what records no longer need: handles and staged copies of gone
/// records (this run's record `id` is not gone, even before it is made).
/// Answers whether record `id` has something kept (a handle, a copy).
async fn collect_orphans(store: &IdbStore, records: &dyn RecordStore, id: &str) -> bool {
    let Ok(mut ids) = records.ids().await else {
        return false;
    };
    ids.push(id.to_owned());
    let kept = staging::collect_orphans(store, &ids).await;
    kept.iter().any(|kept| kept == id)
}

/// Aborts the stored upload of `inner` on the server, deletes its record,
/// its kept handle and its staged copy.
///
/// # Errors
/// Besides the abort's own: [`ErrorKind::Storage`] when no record was found
/// because IndexedDB could not be opened. The upload may be stored there
/// still, on the server too: nothing is deleted, and `abort()` again (with
/// IndexedDB back) aborts it.
pub(super) async fn abort(inner: &Inner) -> Result<(), Error> {
    let (source, file) = ready(inner, false).await?;
    let ports = open_ports(inner, source).await;
    let driver = driver(&ports, inner);
    let id = driver.record_id(&file);
    let _lock = lock::hold_released(&id).await?;
    if !driver.abort(&file).await? && ports.records_unread() {
        return Err(ErrorKind::Storage {
            failure: StorageFailure::Unavailable,
            detail:
                "it could not be opened, so nothing was aborted; call abort() again once it answers"
                    .into(),
        }
        .into());
    }
    forget_kept(IdbStore::open().await.ok().as_ref(), &id).await;
    Ok(())
}

/// The browser's ports for a run of this upload.
async fn open_ports(inner: &Inner, source: Source) -> Box<WebPorts> {
    let events = inner.events.clone();
    let warn = Box::new(move |warning| events.warn(warning));
    WebPorts::open(source, &inner.options, &inner.headers, warn).await
}

fn driver<'a>(ports: &'a WebPorts, inner: &'a Inner) -> Driver<'a, Blob> {
    ports.driver(&inner.events, &inner.options)
}
