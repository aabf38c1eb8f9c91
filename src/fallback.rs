//! A record store that falls back to memory when the browser's store fails.
//!
//! Private windows, blocked storage and full disks make IndexedDB fail to
//! open or to write. An upload must still complete then: the record moves to
//! a [`MemoryStore`] (so this page can still pause and resume), the server's
//! part list stays the truth, and the page is told once through
//! [`Events::warning`](crate::ports::Events::warning).

use std::cell::Cell;
use std::rc::Rc;

use crate::core::record::UploadRecord;
use crate::error::{Error, ErrorKind, StorageFailure};
use crate::memory::MemoryStore;
use crate::ports::{PortFuture, RecordStore, Warning};

/// Tries `primary`; after its first failure, uses memory only.
pub struct FallbackStore {
    primary: Option<Box<dyn RecordStore>>,
    memory: Rc<MemoryStore>,
    failed: Cell<bool>,
    /// The primary store could not be opened, or a read of it failed: its
    /// records may be missing from what this store answers.
    unread: Cell<bool>,
    notify: Box<dyn Fn(Warning)>,
}

impl FallbackStore {
    /// A store over `primary`, or over `memory` alone when `primary` could
    /// not be opened (`Err` holds why). `notify` hears of the first failure.
    /// Share `memory` between the runs of a page, so pausing and resuming
    /// work without the browser's store.
    pub fn new(
        primary: Result<Box<dyn RecordStore>, Error>,
        memory: Rc<MemoryStore>,
        notify: Box<dyn Fn(Warning)>,
    ) -> Self {
        let (primary, error) = match primary {
            Ok(primary) => (Some(primary), None),
            Err(error) => (None, Some(error)),
        };
        let store = FallbackStore {
            primary,
            memory,
            failed: Cell::new(false),
            unread: Cell::new(false),
            notify,
        };
        if let Some(error) = error {
            store.fail_read(&error);
        }
        store
    }

    /// Whether the primary store could not be opened or a read of it
    /// failed: a record this store did not find may be there still (a
    /// failed write alone leaves the primary readable).
    pub fn unread(&self) -> bool {
        self.unread.get()
    }

    /// Whether records live in memory only now.
    pub fn in_memory(&self) -> bool {
        self.failed.get()
    }

    /// Moves to memory after `error`, telling the page once.
    fn fail(&self, error: &Error) {
        if self.failed.replace(true) {
            return;
        }
        (self.notify)(Warning::storage(
            error,
            "the upload goes on with its state in memory only, so a reload starts it afresh \
             (parts already on the server are not lost)",
        ));
    }

    /// Moves `record` from memory to the primary store, if it works.
    async fn take_back(&self, record: &UploadRecord) -> Result<(), Error> {
        let Some(primary) = self.primary() else {
            return Ok(());
        };
        match primary.save(record).await {
            Ok(()) => self.memory.remove(&record.id).await,
            Err(e) => {
                self.fail(&e);
                Ok(())
            }
        }
    }

    /// After a failed read: writes go to memory, and reads no longer ask
    /// the primary store.
    fn fail_read(&self, error: &Error) {
        self.unread.set(true);
        self.fail(error);
    }

    fn primary(&self) -> Option<&dyn RecordStore> {
        if self.failed.get() {
            None
        } else {
            self.primary.as_deref()
        }
    }

    /// The primary store to read from: still after a failed write (a full
    /// disk), so that its records are found; not after a failed read.
    fn reader(&self) -> Option<&dyn RecordStore> {
        if self.unread.get() {
            None
        } else {
            self.primary.as_deref()
        }
    }
}

impl RecordStore for FallbackStore {
    fn load<'a>(&'a self, id: &'a str) -> PortFuture<'a, Option<UploadRecord>> {
        Box::pin(async move {
            // A record in memory is newer than any in the primary store: it got
            // there because the primary store failed (in this run or an
            // earlier one of the page). Where the primary store works again,
            // it takes the record back: the run's writes go there, and a
            // copy left in memory would be read, stale, in their place.
            if let Some(found) = self.memory.load(id).await? {
                self.take_back(&found).await?;
                return Ok(Some(found));
            }
            if let Some(primary) = self.reader() {
                match primary.load(id).await {
                    Ok(found) => return Ok(found),
                    Err(e) => self.fail_read(&e),
                }
            }
            Ok(None)
        })
    }

    fn save<'a>(&'a self, record: &'a UploadRecord) -> PortFuture<'a, ()> {
        Box::pin(async move {
            if let Some(primary) = self.primary() {
                match primary.save(record).await {
                    // The primary store has the newest now; drop an older copy
                    // kept in memory while it was failing.
                    Ok(()) => return self.memory.remove(&record.id).await,
                    Err(e) => self.fail(&e),
                }
            }
            self.memory.save(record).await
        })
    }

    fn save_parts<'a>(
        &'a self,
        record: &'a std::cell::RefCell<UploadRecord>,
        numbers: &'a [u32],
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            if let Some(primary) = self.primary() {
                match primary.save_parts(record, numbers).await {
                    Ok(()) => return Ok(()),
                    Err(e) => self.fail(&e),
                }
            }
            // In memory from now on: the whole record the first time (the
            // memory store inserts a record it does not have), then in place.
            self.memory.save_parts(record, numbers).await
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.memory.remove(id).await?;
            // The primary store too, even after it failed (best effort, and
            // a delete frees space): a record left there would be listed,
            // and resumed, after a reload.
            if let Some(primary) = &self.primary {
                if let Err(e) = primary.remove(id).await {
                    self.fail(&e);
                }
            }
            Ok(())
        })
    }

    fn list(&self) -> PortFuture<'_, Vec<UploadRecord>> {
        Box::pin(async move {
            let mut all = self.memory.list().await?;
            // As in `load`: where the primary store works again, it takes
            // back what memory holds, or a run that found its record in
            // this list would write to the primary store and leave the copy
            // here, stale, to be read in place of its writes.
            for record in &all {
                self.take_back(record).await?;
            }
            if let Some(primary) = self.reader() {
                match primary.list().await {
                    Ok(stored) => {
                        // Memory's copy wins. (A loop: filtering into the
                        // list was more code in the wasm.)
                        let in_memory = all.len();
                        for record in stored {
                            if !all[..in_memory].iter().any(|r| r.id == record.id) {
                                all.push(record);
                            }
                        }
                    }
                    Err(e) => self.fail_read(&e),
                }
            }
            Ok(all)
        })
    }

    /// Every id, or an error when the primary store cannot list its own
    /// (it failed, now or before): callers delete what no id names (kept
    /// handles, staged copies), so a list without them must not look whole.
    fn ids(&self) -> PortFuture<'_, Vec<String>> {
        Box::pin(async move {
            let Some(primary) = self.reader() else {
                return Err(ErrorKind::Storage {
                    failure: StorageFailure::Unavailable,
                    detail: "records in memory only".into(),
                }
                .into());
            };
            let mut all = primary.ids().await.inspect_err(|e| self.fail_read(e))?;
            all.extend(self.memory.ids().await?);
            Ok(all)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;

    use super::*;
    use crate::core::record::test_record;
    use crate::ports::WarningCode;

    /// A store whose writes fail after `ok_writes` of them, and whose
    /// listing fails while `unlisted` is set. Its records and `unlisted`
    /// may be shared (as a browser's IndexedDB outlives a page's stores).
    struct Flaky {
        inner: Rc<MemoryStore>,
        ok_writes: Cell<u32>,
        failure: StorageFailure,
        unlisted: Rc<Cell<bool>>,
    }

    impl RecordStore for Flaky {
        fn load<'a>(&'a self, id: &'a str) -> PortFuture<'a, Option<UploadRecord>> {
            self.inner.load(id)
        }
        fn save<'a>(&'a self, record: &'a UploadRecord) -> PortFuture<'a, ()> {
            if self.ok_writes.get() == 0 {
                return crate::ports::ready(Err(ErrorKind::Storage {
                    failure: self.failure,
                    detail: "QuotaExceededError: the quota has been exceeded".into(),
                }
                .into()));
            }
            self.ok_writes.set(self.ok_writes.get() - 1);
            self.inner.save(record)
        }
        fn remove<'a>(&'a self, id: &'a str) -> PortFuture<'a, ()> {
            self.inner.remove(id)
        }
        fn list(&self) -> PortFuture<'_, Vec<UploadRecord>> {
            if self.unlisted.get() {
                return crate::ports::ready(Err(ErrorKind::Storage {
                    failure: StorageFailure::Failed,
                    detail: "UnknownError: the read failed".into(),
                }
                .into()));
            }
            self.inner.list()
        }
    }

    fn record(id: &str) -> UploadRecord {
        test_record(id, 1)
    }

    fn store(primary: Result<Flaky, Error>) -> (FallbackStore, Rc<RefCell<Vec<Warning>>>) {
        let heard = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&heard);
        let primary = primary.map(|p| Box::new(p) as Box<dyn RecordStore>);
        let store = FallbackStore::new(
            primary,
            Rc::new(MemoryStore::new()),
            Box::new(move |w| sink.borrow_mut().push(w)),
        );
        (store, heard)
    }

    fn flaky(ok_writes: u32, failure: StorageFailure) -> Flaky {
        Flaky {
            inner: Rc::new(MemoryStore::new()),
            ok_writes: Cell::new(ok_writes),
            failure,
            unlisted: Rc::new(Cell::new(false)),
        }
    }

    #[test]
    fn a_store_that_cannot_open_means_memory_and_one_warning() {
        let (store, heard) = store(Err(ErrorKind::Storage {
            failure: StorageFailure::Unavailable,
            detail: "SecurityError: blocked".into(),
        }
        .into()));
        assert!(store.in_memory());
        block_on(store.save(&record("a"))).unwrap();
        assert_eq!(block_on(store.load("a")).unwrap(), Some(record("a")));
        let heard = heard.borrow();
        assert_eq!(heard.len(), 1);
        assert_eq!(heard[0].code, WarningCode::StorageUnavailable);
        assert!(heard[0].message.contains("blocked"), "{}", heard[0].message);
    }

    #[test]
    fn a_full_store_is_still_read_and_only_a_failed_read_says_unread() {
        // A lookup after a page's write hit the quota must still find the
        // records the browser stores (a clear must reach them), and say
        // "could not look" only when a read failed.
        let primary = flaky(0, StorageFailure::Full);
        let (unlisted, browser) = (Rc::clone(&primary.unlisted), Rc::clone(&primary.inner));
        block_on(browser.save(&record("stored"))).unwrap();
        let (store, _) = store(Ok(primary));
        block_on(store.save(&record("new"))).unwrap();
        assert!(store.in_memory(), "the write went to memory");
        assert!(!store.unread());
        let ids = |all: Vec<UploadRecord>| all.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(block_on(store.list()).unwrap()), ["new", "stored"]);
        assert_eq!(
            block_on(store.load("stored")).unwrap(),
            Some(record("stored"))
        );
        unlisted.set(true);
        assert_eq!(ids(block_on(store.list()).unwrap()), ["new"]);
        assert!(store.unread(), "a failed read says so");
    }

    #[test]
    fn a_full_store_moves_to_memory_and_warns_once() {
        let (store, heard) = store(Ok(flaky(1, StorageFailure::Full)));
        block_on(store.save(&record("a"))).unwrap();
        assert!(!store.in_memory());
        let mut next = record("a");
        next.updated_at = 5.0;
        block_on(store.save(&next)).unwrap();
        block_on(store.save(&next)).unwrap();
        assert!(store.in_memory());
        assert_eq!(
            block_on(store.load("a")).unwrap(),
            Some(next),
            "memory has the latest"
        );
        assert_eq!(heard.borrow().len(), 1);
        assert_eq!(heard.borrow()[0].code, WarningCode::StorageFull);
        block_on(store.remove("a")).unwrap();
        assert_eq!(block_on(store.load("a")).unwrap(), None);
    }

    #[test]
    fn a_record_kept_in_memory_goes_back_to_the_store_when_a_later_run_finds_it_working() {
        // The page's memory and the browser's store, shared by its runs.
        let (memory, browser) = (Rc::new(MemoryStore::new()), Rc::new(MemoryStore::new()));
        let run = |ok_writes| {
            let primary = Flaky {
                inner: Rc::clone(&browser),
                ok_writes: Cell::new(ok_writes),
                failure: StorageFailure::Failed,
                unlisted: Rc::new(Cell::new(false)),
            };
            FallbackStore::new(Ok(Box::new(primary)), Rc::clone(&memory), Box::new(|_| {}))
        };
        // The first run's store failed: its record went on in memory.
        let first = run(0);
        block_on(first.save(&record("a"))).unwrap();
        assert!(first.in_memory());
        // The next run's store works: the record moves back, and what the
        // run writes then is what it reads.
        let second = run(10);
        let mut loaded = block_on(second.load("a")).unwrap().unwrap();
        assert!(block_on(memory.load("a")).unwrap().is_none(), "moved back");
        loaded.updated_at = 9.0;
        let written = RefCell::new(loaded.clone());
        block_on(second.save_parts(&written, &[1])).unwrap();
        assert_eq!(block_on(second.load("a")).unwrap(), Some(loaded));
        assert!(!second.in_memory());
    }

    #[test]
    fn a_working_store_is_used_and_never_warns() {
        let (store, heard) = store(Ok(flaky(10, StorageFailure::Failed)));
        block_on(store.save(&record("a"))).unwrap();
        let primary = store.primary.as_ref().unwrap();
        assert_eq!(block_on(primary.list()).unwrap().len(), 1);
        assert!(heard.borrow().is_empty());
    }

    #[test]
    fn ids_are_those_of_the_records_listed() {
        // Two writes: the record saved, and the one in memory taken back.
        let (store, _) = store(Ok(flaky(2, StorageFailure::Failed)));
        block_on(store.memory.save(&record("in memory"))).unwrap();
        block_on(store.save(&record("stored"))).unwrap();
        let listed = block_on(store.list()).unwrap();
        let mut listed: Vec<String> = listed.into_iter().map(|r| r.id).collect();
        let mut ids = block_on(store.ids()).unwrap();
        listed.sort();
        ids.sort();
        assert_eq!(ids, ["in memory", "stored"]);
        assert_eq!(ids, listed);
    }

    /// Orphan collection deletes the kept handles and staged copies of the
    /// ids not listed: a list without the primary store's must never look
    /// whole.
    #[test]
    fn ids_the_primary_store_cannot_give_are_an_error() {
        let primary = flaky(1, StorageFailure::Failed);
        let unlisted = Rc::clone(&primary.unlisted);
        let (store, _) = store(Ok(primary));
        block_on(store.save(&record("stored"))).unwrap();
        unlisted.set(true);
        assert!(block_on(store.ids()).is_err(), "its listing failed");
        assert!(store.in_memory());
        // In memory only, the primary store still holds "stored".
        unlisted.set(false);
        assert!(block_on(store.ids()).is_err(), "it is not read any more");
    }

    #[test]
    fn a_record_removed_after_a_failed_write_leaves_the_primary_store_too() {
        let primary = flaky(1, StorageFailure::Full);
        let records = Rc::clone(&primary.inner);
        let (page, _) = store(Ok(primary));
        let cell = RefCell::new(test_record("a", 11 * crate::core::plan::MIB));
        block_on(page.save(&cell.borrow())).unwrap();
        block_on(page.save_parts(&cell, &[2])).unwrap();
        assert!(page.in_memory());
        block_on(page.remove("a")).unwrap();
        // After a reload: a new store over the same IndexedDB.
        let mut reloaded = flaky(10, StorageFailure::Full);
        reloaded.inner = records;
        let (reloaded, _) = store(Ok(reloaded));
        assert_eq!(block_on(reloaded.load("a")).unwrap(), None);
    }

    #[test]
    fn a_part_write_that_fails_moves_the_whole_record_to_memory() {
        let (store, heard) = store(Ok(flaky(1, StorageFailure::Failed)));
        let cell = RefCell::new(test_record("a", 11 * crate::core::plan::MIB));
        block_on(store.save(&cell.borrow())).unwrap();
        cell.borrow_mut().parts[1].state = crate::core::record::PartState::InFlight;
        block_on(store.save_parts(&cell, &[2])).unwrap();
        assert!(store.in_memory());
        assert_eq!(
            block_on(store.load("a")).unwrap().as_ref(),
            Some(&*cell.borrow())
        );
        cell.borrow_mut().parts[2].state = crate::core::record::PartState::InFlight;
        block_on(store.save_parts(&cell, &[3])).unwrap();
        assert_eq!(
            block_on(store.load("a")).unwrap().as_ref(),
            Some(&*cell.borrow())
        );
        assert_eq!(heard.borrow().len(), 1);
        assert_eq!(heard.borrow()[0].code, WarningCode::StorageFailed);
    }
}
