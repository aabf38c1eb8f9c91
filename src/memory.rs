//! A real [`RecordStore`] in memory: the fallback where IndexedDB is
//! missing, and the store of native tests; and [`Claims`] in memory, for
//! native tests.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use crate::core::record::UploadRecord;
use crate::ports::{ready, Claim, Claiming, Claims, PortFuture, RecordStore};
use crate::queue::{DoneMarker, DoneStore};

/// A real [`RecordStore`] in memory: the fallback where IndexedDB is missing,
/// and the store of native tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// A few records: a Vec is smaller code than a map.
    records: RefCell<Vec<UploadRecord>>,
    /// An upload queue's done markers.
    markers: RefCell<Vec<DoneMarker>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl MemoryStore {
    fn write_parts(&self, record: &UploadRecord, numbers: &[u32]) {
        let mut records = self.records.borrow_mut();
        match records.iter_mut().find(|r| r.id == record.id) {
            Some(stored) if stored.parts.len() == record.parts.len() => {
                for &number in numbers {
                    let i = number as usize - 1;
                    if let Some(part) = record.parts.get(i) {
                        stored.parts[i] = part.clone();
                    }
                }
                stored.updated_at = record.updated_at;
            }
            _ => {
                records.retain(|r| r.id != record.id);
                records.push(record.clone());
            }
        }
    }
}

impl RecordStore for MemoryStore {
    fn load<'a>(&'a self, id: &'a str) -> PortFuture<'a, Option<UploadRecord>> {
        ready(Ok(self
            .records
            .borrow()
            .iter()
            .find(|r| r.id == id)
            .cloned()))
    }

    fn save<'a>(&'a self, record: &'a UploadRecord) -> PortFuture<'a, ()> {
        let mut records = self.records.borrow_mut();
        records.retain(|r| r.id != record.id);
        records.push(record.clone());
        ready(Ok(()))
    }

    fn save_parts<'a>(
        &'a self,
        record: &'a RefCell<UploadRecord>,
        numbers: &'a [u32],
    ) -> PortFuture<'a, ()> {
        self.write_parts(&record.borrow(), numbers);
        ready(Ok(()))
    }

    fn remove<'a>(&'a self, id: &'a str) -> PortFuture<'a, ()> {
        self.records.borrow_mut().retain(|r| r.id != id);
        ready(Ok(()))
    }

    fn list(&self) -> PortFuture<'_, Vec<UploadRecord>> {
        ready(Ok(self.records.borrow().clone()))
    }
}

impl DoneStore for MemoryStore {
    fn markers(&self) -> PortFuture<'_, Vec<DoneMarker>> {
        ready(Ok(self.markers.borrow().clone()))
    }

    fn mark<'a>(&'a self, marker: &'a DoneMarker) -> PortFuture<'a, ()> {
        let mut markers = self.markers.borrow_mut();
        markers.retain(|m| m.id != marker.id);
        markers.push(marker.clone());
        ready(Ok(()))
    }

    fn forget<'a>(&'a self, ids: &'a [String]) -> PortFuture<'a, ()> {
        self.markers.borrow_mut().retain(|m| !ids.contains(&m.id));
        ready(Ok(()))
    }
}

/// [`Claims`] in memory: the records a test says runs hold (the browser
/// asks its Web Locks).
///
/// ```
/// use resupload::memory::MemoryClaims;
/// let claims = MemoryClaims::default();
/// claims.hold("record-1");
/// ```
#[derive(Debug, Default)]
pub struct MemoryClaims(RefCell<Vec<String>>);

impl MemoryClaims {
    /// Record `id` is held from now on.
    pub fn hold(&self, id: &str) {
        self.0.borrow_mut().push(id.to_owned());
    }

    /// No record is held any more.
    pub fn release_all(&self) {
        self.0.borrow_mut().clear();
    }
}

impl Claims for MemoryClaims {
    fn held<'a>(&'a self, id: &'a str) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(std::future::ready(self.is_held(id)))
    }
}

impl Claiming for MemoryClaims {
    fn claim<'a>(&'a self, id: &'a str) -> Pin<Box<dyn Future<Output = Option<Claim<'a>>> + 'a>> {
        let claim = (!self.is_held(id)).then(|| {
            self.hold(id);
            Box::new(Release(self, id.to_owned())) as Claim
        });
        Box::pin(std::future::ready(claim))
    }
}

impl MemoryClaims {
    fn is_held(&self, id: &str) -> bool {
        self.0.borrow().iter().any(|h| h == id)
    }
}

/// Gives record `.1` back when dropped.
struct Release<'a>(&'a MemoryClaims, String);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let mut held = self.0 .0.borrow_mut();
        if let Some(i) = held.iter().position(|h| *h == self.1) {
            held.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::core::plan::MIB;
    use crate::core::record::{test_record, PartState};

    #[test]
    fn the_memory_store_writes_parts_in_place() {
        let store = MemoryStore::new();
        let record = RefCell::new(test_record("r", 11 * MIB));
        block_on(store.save_parts(&record, &[2])).unwrap();
        assert_eq!(
            block_on(store.load("r")).unwrap().as_ref(),
            Some(&*record.borrow()),
            "inserted whole when missing"
        );
        {
            let mut r = record.borrow_mut();
            r.parts[1].state = PartState::Done;
            r.parts[1].etag = Some("\"e2\"".into());
            r.parts[2].state = PartState::InFlight; // not written by save_parts([2])
        }
        block_on(store.save_parts(&record, &[2])).unwrap();
        let stored = block_on(store.load("r")).unwrap().unwrap();
        assert_eq!(stored.parts[1], record.borrow().parts[1]);
        assert_eq!(stored.parts[2].state, PartState::Pending);
    }
}
