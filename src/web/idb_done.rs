//! An upload queue's done markers in IndexedDB (object store `done`, keyed
//! by file record id): `{ id, key, storedAt }`, a few dozen bytes each, so
//! a batch of 10,000 files writes one small entry per stored file.

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::IdbTransactionMode;

use super::idb::{committed, settled, storage, IdbStore, DONE, STORE_TIMEOUT_MS};
use super::js::{string, Builder, Fields};
use crate::ports::PortFuture;
use crate::queue::{DoneMarker, DoneStore};

impl DoneStore for IdbStore {
    fn markers(&self) -> PortFuture<'_, Vec<DoneMarker>> {
        Box::pin(async move {
            let tx = self.transaction(IdbTransactionMode::Readonly)?;
            let request = tx
                .object_store(DONE)
                .and_then(|done| done.get_all())
                .map_err(storage)?;
            let all: Array = settled(&request, STORE_TIMEOUT_MS).await?.unchecked_into();
            Ok(all.iter().filter_map(|m| marker_from_js(&m)).collect())
        })
    }

    fn mark<'a>(&'a self, marker: &'a DoneMarker) -> PortFuture<'a, ()> {
        Box::pin(self.mark_all(std::slice::from_ref(marker)))
    }

    fn forget<'a>(&'a self, ids: &'a [String]) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let tx = self.transaction(IdbTransactionMode::Readwrite)?;
            let done = tx.object_store(DONE).map_err(storage)?;
            for id in ids {
                done.delete(&JsValue::from_str(id)).map_err(storage)?;
            }
            committed(&tx).await
        })
    }
}

impl IdbStore {
    /// The markers of those of the files `ids` that have one, read in one
    /// transaction (its requests answered by the time it completes).
    #[cfg(feature = "queue")]
    pub(super) async fn markers_of(&self, ids: &[String]) -> Result<Vec<DoneMarker>, crate::Error> {
        let tx = self.transaction(IdbTransactionMode::Readonly)?;
        let done = tx.object_store(DONE).map_err(storage)?;
        let mut requests = Vec::with_capacity(ids.len());
        for id in ids {
            requests.push(done.get(&JsValue::from_str(id)).map_err(storage)?);
        }
        committed(&tx).await?;
        Ok(requests
            .iter()
            .filter_map(|request| marker_from_js(&request.result().ok()?))
            .collect())
    }

    /// Keeps `markers`, in one transaction (each over the one of its id).
    pub(super) async fn mark_all(&self, markers: &[DoneMarker]) -> Result<(), crate::Error> {
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        let done = tx.object_store(DONE).map_err(storage)?;
        for marker in markers {
            let value = Builder::new()
                .str("id", &marker.id)
                .str("batch", &marker.batch)
                .str("key", &marker.key)
                .num("storedAt", marker.stored_at)
                .done();
            done.put_with_key(&value, &JsValue::from_str(&marker.id))
                .map_err(storage)?;
        }
        committed(&tx).await
    }
}

fn marker_from_js(value: &JsValue) -> Option<DoneMarker> {
    let f = Fields::of(value);
    f.checked(DoneMarker {
        id: f.string("id"),
        batch: string(value, "batch").unwrap_or_default(),
        key: f.string("key"),
        stored_at: f.number("storedAt"),
    })
}
