//! The IndexedDB [`RecordStore`] on rexie: database `resupload`, one object
//! store `uploads` keyed by the record's `id` (its fingerprint).
//!
//! Each call opens and finishes its own transaction, so none is held across
//! an unrelated await (IndexedDB commits a transaction once it has nothing to
//! do).

use rexie::{ObjectStore, Rexie, TransactionMode};
use wasm_bindgen::JsValue;

use super::events::to_js;
use crate::core::record::UploadRecord;
use crate::error::Error;
use crate::ports::RecordStore;

/// The database's name.
pub const DB_NAME: &str = "resupload";
/// The object store's name.
pub const STORE: &str = "uploads";
const DB_VERSION: u32 = 1;

/// Upload records in IndexedDB.
#[derive(Debug)]
pub struct IdbStore {
    db: Rexie,
}

/// A rexie error as [`Error::Storage`], with the causes rexie wraps (the
/// DOMException's name and message, such as `QuotaExceededError`).
fn storage(e: rexie::Error) -> Error {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Storage { detail }
}

impl IdbStore {
    /// Opens (and on first use creates) the database.
    pub async fn open() -> Result<Self, Error> {
        let db = Rexie::builder(DB_NAME)
            .version(DB_VERSION)
            .add_object_store(ObjectStore::new(STORE).key_path("id"))
            .build()
            .await
            .map_err(storage)?;
        Ok(IdbStore { db })
    }

    async fn write<F, Fut>(&self, action: F) -> Result<(), Error>
    where
        F: FnOnce(rexie::Store) -> Fut,
        Fut: std::future::Future<Output = rexie::Result<()>>,
    {
        let tx = self
            .db
            .transaction(&[STORE], TransactionMode::ReadWrite)
            .map_err(storage)?;
        let store = tx.store(STORE).map_err(storage)?;
        action(store).await.map_err(storage)?;
        tx.done().await.map_err(storage)?;
        Ok(())
    }

    fn read_store(&self) -> Result<(rexie::Transaction, rexie::Store), Error> {
        let tx = self
            .db
            .transaction(&[STORE], TransactionMode::ReadOnly)
            .map_err(storage)?;
        let store = tx.store(STORE).map_err(storage)?;
        Ok((tx, store))
    }
}

/// Reads a stored value as a record; values of another layout are skipped.
fn decode(value: JsValue) -> Option<UploadRecord> {
    serde_wasm_bindgen::from_value(value).ok()
}

impl RecordStore for IdbStore {
    async fn load(&self, id: &str) -> Result<Option<UploadRecord>, Error> {
        let (_tx, store) = self.read_store()?;
        let value = store.get(id.into()).await.map_err(storage)?;
        Ok(value.and_then(decode))
    }

    async fn save(&self, record: &UploadRecord) -> Result<(), Error> {
        let value = to_js(record);
        self.write(|store| async move { store.put(&value, None).await.map(|_| ()) })
            .await
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        let key = JsValue::from_str(id);
        self.write(|store| async move { store.delete(key).await })
            .await
    }

    async fn list(&self) -> Result<Vec<UploadRecord>, Error> {
        let (_tx, store) = self.read_store()?;
        let values = store.get_all(None, None).await.map_err(storage)?;
        Ok(values.into_iter().filter_map(decode).collect())
    }
}
