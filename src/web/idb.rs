//! The IndexedDB [`RecordStore`], straight over web-sys: database
//! `resupload` with two object stores:
//! - `uploads`: one record per upload, keyed by its `id` (its fingerprint),
//!   its parts compacted into three strings
//!   ([`CompactParts`](crate::core::record::CompactParts));
//! - `parts`: a journal of part writes since the record was last written
//!   whole, one entry per part, keyed `[id, number]`.
//!
//! A part's write (twice per part: before it is sent, when it is
//! confirmed) puts one small journal entry, so its cost does not grow with
//! the number of parts (measured here at 10,000 parts: 0.5 ms, against 16 ms
//! median for rewriting the record). Loading a record overlays its journal;
//! writing it whole clears the journal, and so does a part write that
//! would take the journal past [`JOURNAL_LIMIT`] entries: it rewrites the
//! record instead.
//!
//! Each call opens and finishes its own transaction, so none is held across
//! an unrelated await (IndexedDB commits a transaction once it has nothing to
//! do). A request becomes a future through a `Promise` whose `resolve` and
//! `reject` are the request's `onsuccess` and `onerror`; a write is done
//! when its transaction completes (a full disk shows only then, as the
//! transaction's `QuotaExceededError`).

use std::cell::RefCell;

use js_sys::{Array, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbKeyRange, IdbObjectStoreParameters, IdbOpenDbRequest, IdbRequest,
    IdbTransaction, IdbTransactionMode,
};

use super::convert::{part_entry_from_js, part_entry_to_js, record_from_js, record_to_js};
use super::deadline::within;
use super::js::set as handle;
use super::js_error::describe;
use crate::core::record::{PartRecord, UploadRecord};
use crate::core::text::decimal;
use crate::error::{Error, ErrorKind, StorageFailure};
use crate::ports::{PortFuture, RecordStore};

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/web/guard.js")]
extern "C" {
    /// Has the connection `request` opens close on `versionchange`, in
    /// JavaScript (guard.js): it works after a trap too.
    #[wasm_bindgen(js_name = closeWhenAsked, catch)]
    fn close_when_asked(request: &IdbOpenDbRequest) -> Result<(), JsValue>;
}

/// The database's name.
pub const DB_NAME: &str = "resupload";
/// The records' object store.
pub const STORE: &str = "uploads";
/// The part journal's object store.
pub const PARTS: &str = "parts";
/// The object store of file handles kept beside records (`handles.rs`),
/// keyed by record id.
pub const HANDLES: &str = "handles";
/// The object store of an upload queue's done markers (`idb_done.rs`),
/// keyed by file record id.
pub const DONE: &str = "done";
/// The object store of upload queues' batches (`queue_batches.rs`), keyed
/// by batch id.
pub const BATCHES: &str = "batches";
/// Version 1 had only `uploads` (records with a `parts` array, which still
/// load); version 2 added `parts`, version 3 `handles`, version 4 `done`
/// and `batches`.
const DB_VERSION: u32 = 4;
/// The records' key path.
const KEY_PATH: &str = "id";
/// Journal entries a record may gather before a part write rewrites it.
pub const JOURNAL_LIMIT: usize = 256;
/// How long opening the database may take before IndexedDB counts as
/// unavailable (a browser that never answers, an open blocked by another
/// tab's old connection): the upload then goes on with its record in memory.
pub const OPEN_TIMEOUT_MS: u32 = 10_000;
/// How long one request or transaction may take before IndexedDB counts as
/// failed (longer than opening: a busy device's disk may be slow).
pub const STORE_TIMEOUT_MS: u32 = 30_000;

/// Upload records in IndexedDB.
#[derive(Debug)]
pub struct IdbStore {
    db: IdbDatabase,
    /// Journal entries per record id, as far as this store knows.
    journal: RefCell<Vec<(String, usize)>>,
}

impl Drop for IdbStore {
    /// Closes the connection (after its transactions finish).
    fn drop(&mut self) {
        self.db.close();
    }
}

/// A thrown JavaScript value (a `DOMException`) as [`ErrorKind::Storage`],
/// classified by its name: `QuotaExceededError` is a full store.
pub(super) fn storage(e: JsValue) -> Error {
    let full = e
        .dyn_ref::<web_sys::DomException>()
        .is_some_and(|d| d.name() == "QuotaExceededError");
    ErrorKind::Storage {
        failure: match full {
            true => StorageFailure::Full,
            false => StorageFailure::Failed,
        },
        detail: describe(&e),
    }
    .into()
}

/// The failure of a request or transaction: its `error`, or `fallback`.
fn failure(error: Option<web_sys::DomException>, fallback: &str) -> Error {
    match error {
        Some(e) => storage(e.into()),
        None => ErrorKind::Storage {
            failure: StorageFailure::Failed,
            detail: fallback.into(),
        }
        .into(),
    }
}

/// Any failure to open the database means it is unavailable.
fn unavailable(mut error: Error) -> Error {
    if let ErrorKind::Storage { failure, .. } = error.kind_mut() {
        *failure = StorageFailure::Unavailable;
    }
    error
}

/// Waits for a request's `success` (its result) or `error`.
pub(super) async fn settled(request: &IdbRequest, timeout_ms: u32) -> Result<JsValue, Error> {
    let promise = Promise::new(&mut |resolve, reject| {
        handle(request, "onsuccess", &resolve);
        handle(request, "onerror", &reject);
    });
    match within(timeout_ms, JsFuture::from(promise)).await {
        Some(Ok(_)) => request.result().map_err(storage),
        Some(Err(_)) => Err(failure(
            request.error().ok().flatten(),
            "the request failed",
        )),
        None => Err(no_answer(timeout_ms)),
    }
}

fn no_answer(timeout_ms: u32) -> Error {
    ErrorKind::Storage {
        failure: StorageFailure::Failed,
        detail: [
            "IndexedDB did not answer within ",
            &decimal((timeout_ms / 1000).into()),
            " s",
        ]
        .concat(),
    }
    .into()
}

/// Waits for a transaction's `complete`, or its `abort` (which follows
/// any failed request, and a commit that hit the quota).
pub(super) async fn committed(tx: &IdbTransaction) -> Result<(), Error> {
    let promise = Promise::new(&mut |resolve, reject| {
        handle(tx, "oncomplete", &resolve);
        handle(tx, "onabort", &reject);
    });
    match within(STORE_TIMEOUT_MS, JsFuture::from(promise)).await {
        Some(Ok(_)) => Ok(()),
        Some(Err(_)) => Err(failure(tx.error(), "the transaction was aborted")),
        None => Err(no_answer(STORE_TIMEOUT_MS)),
    }
}

/// The `indexedDB` of this page or worker.
fn factory() -> Result<IdbFactory, Error> {
    let value = js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into()).map_err(storage)?;
    if value.is_object() {
        Ok(value.unchecked_into())
    } else {
        Err(ErrorKind::Storage {
            failure: StorageFailure::Unavailable,
            detail: "IndexedDB is not available here".into(),
        }
        .into())
    }
}

/// An open request's upgrade handler, kept until the request is answered
/// even when the open is given up (after its timeout, when another tab's old
/// connection blocks the upgrade, or dropped by a pause): a request still in
/// flight may yet upgrade the database, which would then reach this version
/// without its object stores. The connection such a request gets is closed
/// at once (kept, it would block later upgrades).
struct OpenInFlight {
    request: IdbOpenDbRequest,
    upgrade: Option<Closure<dyn FnMut()>>,
}

impl Drop for OpenInFlight {
    fn drop(&mut self) {
        let Some(upgrade) = self.upgrade.take() else {
            return;
        };
        // `result` throws while the request is in flight.
        if self.request.result().is_ok() {
            handle(&self.request, "onupgradeneeded", &JsValue::NULL);
            return;
        }
        let late = self.request.clone();
        let close = Closure::once_into_js(move || {
            drop(upgrade);
            if let Ok(db) = late.result() {
                db.unchecked_into::<IdbDatabase>().close();
            }
        });
        handle(&self.request, "onsuccess", &close);
    }
}

impl IdbStore {
    /// Opens (and on first use creates) the database; any failure is
    /// [`StorageFailure::Unavailable`].
    pub async fn open() -> Result<Self, Error> {
        Self::open_database().await.map_err(unavailable)
    }

    async fn open_database() -> Result<Self, Error> {
        let request: IdbOpenDbRequest = factory()?
            .open_with_u32(DB_NAME, DB_VERSION)
            .map_err(storage)?;
        // A newer version of the library in another tab upgrades the
        // database: let it, instead of blocking it, even after a trap.
        let _ = close_when_asked(&request);
        // Runs inside `open`'s upgrade transaction, before `success`.
        let upgrade = Closure::<dyn FnMut()>::new({
            let request = request.clone();
            move || {
                let Ok(db) = request.result() else { return };
                let db: IdbDatabase = db.unchecked_into();
                // A failure here aborts the upgrade: `open` then fails.
                if !db.object_store_names().contains(STORE) {
                    let params = IdbObjectStoreParameters::new();
                    params.set_key_path(&KEY_PATH.into());
                    let _ = db.create_object_store_with_optional_parameters(STORE, &params);
                }
                for name in [PARTS, HANDLES, DONE, BATCHES] {
                    if !db.object_store_names().contains(name) {
                        let _ = db.create_object_store(name);
                    }
                }
            }
        });
        handle(&request, "onupgradeneeded", upgrade.as_ref());
        let _in_flight = OpenInFlight {
            request: request.clone(),
            upgrade: Some(upgrade),
        };
        let opened = settled(&request, OPEN_TIMEOUT_MS).await;
        let db: IdbDatabase = opened?.unchecked_into();
        Ok(IdbStore {
            db,
            journal: RefCell::new(Vec::new()),
        })
    }

    /// A transaction over every object store.
    pub(super) fn transaction(&self, mode: IdbTransactionMode) -> Result<IdbTransaction, Error> {
        let names = Array::of5(
            &STORE.into(),
            &PARTS.into(),
            &HANDLES.into(),
            &DONE.into(),
            &BATCHES.into(),
        );
        self.db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(storage)
    }

    /// How many journal entries record `id` has (as far as known here).
    fn journal_len(&self, id: &str) -> usize {
        let journal = self.journal.borrow();
        journal.iter().find(|(k, _)| k == id).map_or(0, |(_, n)| *n)
    }

    fn set_journal_len(&self, id: &str, n: usize) {
        let mut journal = self.journal.borrow_mut();
        match journal.iter_mut().find(|(k, _)| k == id) {
            Some(entry) => entry.1 = n,
            None => journal.push((id.to_owned(), n)),
        }
    }

    /// Writes `record` whole in `tx` and clears its journal.
    fn put_whole(&self, tx: &IdbTransaction, record: &UploadRecord) -> Result<(), Error> {
        tx.object_store(STORE)
            .and_then(|store| store.put(&record_to_js(record)))
            .and_then(|_| tx.object_store(PARTS))
            .and_then(|parts| parts.delete(&journal_range(&record.id)?))
            .map_err(storage)?;
        Ok(())
    }
}

/// The handles kept beside records (see `handles.rs`).
impl IdbStore {
    /// Keeps `entry` (a structured-clonable object holding a handle) for
    /// record `id`.
    pub async fn put_handle(&self, id: &str, entry: &JsValue) -> Result<(), Error> {
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        tx.object_store(HANDLES)
            .and_then(|handles| handles.put_with_key(entry, &JsValue::from_str(id)))
            .map_err(storage)?;
        committed(&tx).await
    }

    /// The entry kept for record `id`, if any.
    pub async fn get_handle(&self, id: &str) -> Result<Option<JsValue>, Error> {
        let tx = self.transaction(IdbTransactionMode::Readonly)?;
        let request = tx
            .object_store(HANDLES)
            .and_then(|handles| handles.get(&JsValue::from_str(id)))
            .map_err(storage)?;
        let entry = settled(&request, STORE_TIMEOUT_MS).await?;
        Ok(Some(entry).filter(|e| !e.is_undefined()))
    }

    /// The record ids that have a handle kept beside them.
    pub async fn handle_ids(&self) -> Result<Vec<String>, Error> {
        self.string_keys(HANDLES).await
    }

    /// The string keys of object store `name`.
    async fn string_keys(&self, name: &str) -> Result<Vec<String>, Error> {
        let tx = self.transaction(IdbTransactionMode::Readonly)?;
        let request = tx
            .object_store(name)
            .and_then(|store| store.get_all_keys())
            .map_err(storage)?;
        let keys: Array = settled(&request, STORE_TIMEOUT_MS).await?.unchecked_into();
        let mut strings = Vec::new();
        for key in keys.iter() {
            if let Some(key) = key.as_string() {
                strings.push(key);
            }
        }
        Ok(strings)
    }

    /// Forgets the handle kept for record `id`.
    pub async fn delete_handle(&self, id: &str) -> Result<(), Error> {
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        tx.object_store(HANDLES)
            .and_then(|handles| handles.delete(&JsValue::from_str(id)))
            .map_err(storage)?;
        committed(&tx).await
    }
}

/// The journal keys of record `id`: `[id, 0]` to `[id, Infinity]`.
fn journal_range(id: &str) -> Result<JsValue, JsValue> {
    let id = JsValue::from_str(id);
    IdbKeyRange::bound(
        &Array::of2(&id, &0.into()),
        &Array::of2(&id, &f64::INFINITY.into()),
    )
    .map(Into::into)
}

/// Applies journal entries to records (by id).
fn overlay(records: &mut [UploadRecord], entries: &JsValue) {
    let entries: &Array = entries.unchecked_ref();
    for (id, part) in entries.iter().filter_map(|e| part_entry_from_js(&e)) {
        let Some(record) = records.iter_mut().find(|r| r.id == id) else {
            continue;
        };
        if let Some(stored) = record.part_mut(part.number) {
            let PartRecord {
                state,
                etag,
                checksum,
                ..
            } = part;
            stored.state = state;
            stored.etag = etag;
            stored.checksum = checksum;
        }
    }
}

impl RecordStore for IdbStore {
    fn load<'a>(&'a self, id: &'a str) -> PortFuture<'a, Option<UploadRecord>> {
        Box::pin(async move {
            let tx = self.transaction(IdbTransactionMode::Readonly)?;
            let (record, journal) = tx
                .object_store(STORE)
                .and_then(|store| store.get(&JsValue::from_str(id)))
                .and_then(|record| {
                    let journal = tx
                        .object_store(PARTS)?
                        .get_all_with_key(&journal_range(id)?)?;
                    Ok((record, journal))
                })
                .map_err(storage)?;
            let record = settled(&record, STORE_TIMEOUT_MS).await?;
            let journal = settled(&journal, STORE_TIMEOUT_MS).await?;
            // Values of another layout are skipped.
            let Some(record) = record_from_js(&record) else {
                return Ok(None);
            };
            let mut records = [record];
            overlay(&mut records, &journal);
            self.set_journal_len(id, journal.unchecked_ref::<Array>().length() as usize);
            let [record] = records;
            Ok(Some(record))
        })
    }

    fn save<'a>(&'a self, record: &'a UploadRecord) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let tx = self.transaction(IdbTransactionMode::Readwrite)?;
            self.put_whole(&tx, record)?;
            self.set_journal_len(&record.id, 0);
            committed(&tx).await
        })
    }

    fn save_parts<'a>(
        &'a self,
        record: &'a RefCell<UploadRecord>,
        numbers: &'a [u32],
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            // Everything is read, and the transaction's requests made, before
            // the first await: writes reach the database in call order.
            let tx = self.transaction(IdbTransactionMode::Readwrite)?;
            {
                let record = record.borrow();
                let journal = self.journal_len(&record.id);
                if journal + numbers.len() > JOURNAL_LIMIT {
                    self.put_whole(&tx, &record)?;
                    self.set_journal_len(&record.id, 0);
                } else {
                    let parts = tx.object_store(PARTS).map_err(storage)?;
                    let id = JsValue::from_str(&record.id);
                    for &number in numbers {
                        let Some(part) = record.parts.get(number as usize - 1) else {
                            continue;
                        };
                        let key = Array::of2(&id, &number.into());
                        parts
                            .put_with_key(&part_entry_to_js(&record.id, part), &key)
                            .map_err(storage)?;
                    }
                    self.set_journal_len(&record.id, journal + numbers.len());
                }
            }
            committed(&tx).await
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let tx = self.transaction(IdbTransactionMode::Readwrite)?;
            // The record and its journal. Not the handle kept beside it: a
            // run that restarts the upload (the server lost it) removes the
            // record and goes on from the same file, whose handle it kept
            // before. A finished or aborted run deletes the handle itself
            // (`run.rs`); any other is an orphan, collected before the next
            // run (`staging::collect_orphans`).
            let key = JsValue::from_str(id);
            tx.object_store(STORE)
                .and_then(|store| store.delete(&key))
                .and_then(|_| tx.object_store(PARTS))
                .and_then(|parts| parts.delete(&journal_range(id)?))
                .map_err(storage)?;
            self.set_journal_len(id, 0);
            committed(&tx).await
        })
    }

    fn list<'a>(&'a self) -> PortFuture<'a, Vec<UploadRecord>> {
        Box::pin(async move {
            let tx = self.transaction(IdbTransactionMode::Readonly)?;
            let (records, journal) = tx
                .object_store(STORE)
                .and_then(|store| store.get_all())
                .and_then(|records| Ok((records, tx.object_store(PARTS)?.get_all()?)))
                .map_err(storage)?;
            let values: Array = settled(&records, STORE_TIMEOUT_MS).await?.unchecked_into();
            let journal = settled(&journal, STORE_TIMEOUT_MS).await?;
            // Loops here and in `string_keys`: a `filter_map` collected is
            // more code in the wasm.
            let mut records = Vec::new();
            for value in values.iter() {
                if let Some(record) = record_from_js(&value) {
                    records.push(record);
                }
            }
            overlay(&mut records, &journal);
            Ok(records)
        })
    }

    fn ids(&self) -> PortFuture<'_, Vec<String>> {
        Box::pin(self.string_keys(STORE))
    }
}
