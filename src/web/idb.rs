//! The IndexedDB [`RecordStore`], straight over web-sys: database
//! `resupload`, one object store `uploads` keyed by the record's `id` (its
//! fingerprint).
//!
//! Each call opens and finishes its own transaction, so none is held across
//! an unrelated await (IndexedDB commits a transaction once it has nothing to
//! do). A request becomes a future through a `Promise` whose `resolve` and
//! `reject` are the request's `onsuccess` and `onerror`; a write is done
//! when its transaction completes (a full disk shows only then, as the
//! transaction's `QuotaExceededError`).

use js_sys::{Array, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbObjectStore, IdbObjectStoreParameters, IdbOpenDbRequest,
    IdbRequest, IdbTransaction, IdbTransactionMode,
};

use super::convert::{record_from_js, record_to_js};
use super::js_error::describe;
use crate::core::record::UploadRecord;
use crate::error::Error;
use crate::ports::RecordStore;

/// The database's name.
pub const DB_NAME: &str = "resupload";
/// The object store's name.
pub const STORE: &str = "uploads";
const DB_VERSION: u32 = 1;
/// The records' key path.
const KEY_PATH: &str = "id";

/// Upload records in IndexedDB.
#[derive(Debug)]
pub struct IdbStore {
    db: IdbDatabase,
}

impl Drop for IdbStore {
    /// Closes the connection (after its transactions finish).
    fn drop(&mut self) {
        self.db.close();
    }
}

/// A thrown JavaScript value (a `DOMException` such as
/// `QuotaExceededError`) as [`Error::Storage`].
fn storage(e: JsValue) -> Error {
    Error::Storage {
        detail: describe(&e),
    }
}

/// The failure of a request or transaction: its `error`, or `fallback`.
fn failure(error: Option<web_sys::DomException>, fallback: &str) -> Error {
    match error {
        Some(e) => storage(e.into()),
        None => Error::Storage {
            detail: fallback.into(),
        },
    }
}

/// Waits for a request's `success` (its result) or `error`.
async fn settled(request: &IdbRequest) -> Result<JsValue, Error> {
    let promise = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    match JsFuture::from(promise).await {
        Ok(_) => request.result().map_err(storage),
        Err(_) => Err(failure(
            request.error().ok().flatten(),
            "the request failed",
        )),
    }
}

/// Waits for a transaction's `complete`, or its `abort` (which follows
/// any failed request, and a commit that hit the quota).
async fn committed(tx: &IdbTransaction) -> Result<(), Error> {
    let promise = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onabort(Some(&reject));
    });
    match JsFuture::from(promise).await {
        Ok(_) => Ok(()),
        Err(_) => Err(failure(tx.error(), "the transaction was aborted")),
    }
}

/// The `indexedDB` of this page or worker.
fn factory() -> Result<IdbFactory, Error> {
    let value = js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into()).map_err(storage)?;
    if value.is_object() {
        Ok(value.unchecked_into())
    } else {
        Err(Error::Storage {
            detail: "IndexedDB is not available here".into(),
        })
    }
}

impl IdbStore {
    /// Opens (and on first use creates) the database.
    pub async fn open() -> Result<Self, Error> {
        let request: IdbOpenDbRequest = factory()?
            .open_with_u32(DB_NAME, DB_VERSION)
            .map_err(storage)?;
        // Runs inside `open`'s upgrade transaction, before `success`.
        let upgrade = wasm_bindgen::closure::Closure::<dyn FnMut()>::new({
            let request = request.clone();
            move || {
                let Ok(db) = request.result() else { return };
                let db: IdbDatabase = db.unchecked_into();
                if !db.object_store_names().contains(STORE) {
                    let params = IdbObjectStoreParameters::new();
                    params.set_key_path(&KEY_PATH.into());
                    // A failure here aborts the upgrade: `open` then fails.
                    let _ = db.create_object_store_with_optional_parameters(STORE, &params);
                }
            }
        });
        request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let opened = settled(&request).await;
        request.set_onupgradeneeded(None);
        Ok(IdbStore {
            db: opened?.unchecked_into(),
        })
    }

    fn store(&self, mode: IdbTransactionMode) -> Result<(IdbTransaction, IdbObjectStore), Error> {
        let tx = self
            .db
            .transaction_with_str_and_mode(STORE, mode)
            .map_err(storage)?;
        let store = tx.object_store(STORE).map_err(storage)?;
        Ok((tx, store))
    }

    /// Runs one write in its own transaction and waits for it to commit.
    async fn write(
        &self,
        action: impl FnOnce(&IdbObjectStore) -> Result<IdbRequest, JsValue>,
    ) -> Result<(), Error> {
        let (tx, store) = self.store(IdbTransactionMode::Readwrite)?;
        action(&store).map_err(storage)?;
        committed(&tx).await
    }

    /// Runs one read in its own transaction.
    async fn read(
        &self,
        action: impl FnOnce(&IdbObjectStore) -> Result<IdbRequest, JsValue>,
    ) -> Result<JsValue, Error> {
        let (_tx, store) = self.store(IdbTransactionMode::Readonly)?;
        settled(&action(&store).map_err(storage)?).await
    }
}

impl RecordStore for IdbStore {
    async fn load(&self, id: &str) -> Result<Option<UploadRecord>, Error> {
        let key = JsValue::from_str(id);
        let value = self.read(|store| store.get(&key)).await?;
        // Values of another layout are skipped.
        Ok(record_from_js(&value))
    }

    async fn save(&self, record: &UploadRecord) -> Result<(), Error> {
        let value = record_to_js(record);
        self.write(|store| store.put(&value)).await
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        let key = JsValue::from_str(id);
        self.write(|store| store.delete(&key)).await
    }

    async fn list(&self) -> Result<Vec<UploadRecord>, Error> {
        let values: Array = self.read(|store| store.get_all()).await?.unchecked_into();
        Ok(values.iter().filter_map(|v| record_from_js(&v)).collect())
    }
}

/// Deletes the database (for tests that start from nothing).
pub async fn delete_database() -> Result<(), Error> {
    let request = factory()?.delete_database(DB_NAME).map_err(storage)?;
    settled(&request).await.map(|_| ())
}
