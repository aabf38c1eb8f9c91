//! One write at a time of what a running queue keeps (its batch, as files
//! are added): the adds made while one is written are kept together by
//! the next write, so a page that hands a thousand files to `add()` in one
//! loop, none awaited, makes a few rounds of keeping (each opens the
//! database, builds the batch and reads the added files' done markers),
//! not a thousand.
//!
//! ```
//! # futures::executor::block_on(async {
//! use resupload::queue::keeper::{Added, Keeper};
//!
//! let keeper = Keeper::default();
//! let mut writes = Vec::new();
//! keeper
//!     .keep(Added::Files(vec!["a".into()]), |added| {
//!         writes.push(added);
//!         async {}
//!     })
//!     .await;
//! assert_eq!(writes, [Added::Files(vec!["a".into()])]);
//! # });
//! ```

use std::cell::{Cell, RefCell};
use std::future::Future;

use futures::channel::oneshot;

/// The files one write is to keep.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// The record keys of the files added.
    Files(Vec<String>),
    /// Every file of the queue (added while its run began).
    Every,
}

impl Added {
    /// The record keys, or `None` for every file.
    pub fn files(&self) -> Option<&[String]> {
        match self {
            Added::Files(files) => Some(files),
            Added::Every => None,
        }
    }

    /// What `self` and `more` keep together.
    fn and(self, more: Added) -> Added {
        match (self, more) {
            (Added::Files(mut files), Added::Files(more)) => {
                files.extend(more);
                Added::Files(files)
            }
            _ => Added::Every,
        }
    }
}

/// Runs the writes asked of it one at a time, each with everything asked
/// since the last one began.
#[derive(Default)]
pub struct Keeper {
    /// What the next write keeps.
    pending: RefCell<Option<Added>>,
    /// Whether a call is writing (the others wait for it).
    writing: Cell<bool>,
    /// The calls whose files the next write keeps, told when it ended.
    waiting: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Keeper {
    /// Keeps `added` by `write`: at once when no write goes on, else by
    /// the next one, with whatever else was added meanwhile. Resolves once
    /// a write that began after the call has ended. When the call writing
    /// is dropped (its run paused), one of those waiting takes its place,
    /// and its next write keeps every file (what the dropped one had taken
    /// is not known to have been kept).
    pub async fn keep<F: Future<Output = ()>>(&self, added: Added, write: impl FnMut(Added) -> F) {
        let pending = match self.pending.take() {
            Some(before) => before.and(added),
            None => added,
        };
        self.pending.replace(Some(pending));
        while self.writing.get() {
            let (told, tell) = oneshot::channel();
            self.waiting.borrow_mut().push(told);
            if tell.await.is_ok() {
                return;
            }
        }
        self.write_all(write).await;
    }

    /// Writes until nothing is pending, telling each write's waiting calls.
    async fn write_all<F: Future<Output = ()>>(&self, mut write: impl FnMut(Added) -> F) {
        self.writing.set(true);
        let mut stop = Stop {
            keeper: self,
            taken: false,
        };
        while let Some(added) = self.pending.take() {
            let waiting = self.waiting.take();
            stop.taken = true;
            write(added).await;
            stop.taken = false;
            for told in waiting {
                let _ = told.send(());
            }
        }
    }
}

/// Ends a [`Keeper`]'s writing, on the last write or when dropped.
struct Stop<'a> {
    keeper: &'a Keeper,
    /// Whether a write had taken the pending files and not ended.
    taken: bool,
}

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        if self.taken {
            // What it had taken may not have been kept.
            self.keeper.pending.replace(Some(Added::Every));
        }
        self.keeper.writing.set(false);
        // Dropped, the senders wake every waiting call: one writes next.
        self.keeper.waiting.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;
    use std::rc::Rc;

    fn files(keys: &[&str]) -> Added {
        Added::Files(keys.iter().map(|k| k.to_string()).collect())
    }

    /// `keeper`, its writes, and a gate each write waits at (opened by the test).
    struct Rig {
        keeper: Keeper,
        writes: RefCell<Vec<Added>>,
        gate: RefCell<Option<oneshot::Receiver<()>>>,
        ended: RefCell<Vec<&'static str>>,
    }

    impl Rig {
        fn new() -> Rc<Rig> {
            Rc::new(Rig {
                keeper: Keeper::default(),
                writes: RefCell::default(),
                gate: RefCell::default(),
                ended: RefCell::default(),
            })
        }

        /// Closes the gate: the next write waits until the answer is sent or dropped.
        fn close_gate(&self) -> oneshot::Sender<()> {
            let (open, gate) = oneshot::channel();
            *self.gate.borrow_mut() = Some(gate);
            open
        }

        async fn add(self: Rc<Self>, name: &'static str, added: Added) {
            self.keeper
                .keep(added, |added| {
                    self.writes.borrow_mut().push(added);
                    let gate = self.gate.borrow_mut().take();
                    async move {
                        if let Some(gate) = gate {
                            let _ = gate.await;
                        }
                    }
                })
                .await;
            self.ended.borrow_mut().push(name);
        }
    }

    /// Spawns an add named `name` of `added` on `pool`.
    fn spawn(pool: &LocalPool, rig: &Rc<Rig>, name: &'static str, added: Added) {
        let add = rig.clone().add(name, added);
        pool.spawner().spawn_local(add).unwrap();
    }

    /// A rig whose first add, "a", is writing, held at the gate (opened
    /// by the answer's sender).
    fn first_write_held() -> (LocalPool, Rc<Rig>, oneshot::Sender<()>) {
        let (rig, mut pool) = (Rig::new(), LocalPool::new());
        let open = rig.close_gate();
        spawn(&pool, &rig, "a", files(&["a"]));
        pool.run_until_stalled();
        (pool, rig, open)
    }

    #[test]
    fn adds_during_a_write_are_kept_together_by_the_next() {
        let (mut pool, rig, open) = first_write_held();
        for name in ["b", "c", "d"] {
            spawn(&pool, &rig, name, files(&[name]));
        }
        pool.run_until_stalled();
        assert_eq!(*rig.writes.borrow(), [files(&["a"])], "one write at a time");
        let none: [&str; 0] = [];
        assert_eq!(*rig.ended.borrow(), none, "none resolves before its write");
        open.send(()).unwrap();
        pool.run_until_stalled();
        let writes = [files(&["a"]), files(&["b", "c", "d"])];
        assert_eq!(*rig.writes.borrow(), writes);
        let mut ended = rig.ended.borrow().clone();
        ended.sort_unstable();
        assert_eq!(ended, ["a", "b", "c", "d"]);
    }

    #[test]
    fn every_file_is_kept_when_one_call_asks_for_it() {
        let (mut pool, rig, open) = first_write_held();
        spawn(&pool, &rig, "b", files(&["b"]));
        spawn(&pool, &rig, "run", Added::Every);
        pool.run_until_stalled();
        open.send(()).unwrap();
        pool.run_until_stalled();
        assert_eq!(*rig.writes.borrow(), [files(&["a"]), Added::Every]);
        assert_eq!(rig.ended.borrow().len(), 2 + 1);
    }

    #[test]
    fn a_dropped_writer_leaves_a_waiting_call_to_write_every_file() {
        let rig = Rig::new();
        let mut pool = LocalPool::new();
        let _open = rig.close_gate();
        let (stop, stopped) = oneshot::channel::<()>();
        let writer = {
            let rig = rig.clone();
            async move {
                let add = std::pin::pin!(rig.add("a", files(&["a"])));
                let _ = futures::future::select(add, stopped).await;
            }
        };
        pool.spawner().spawn_local(writer).unwrap();
        pool.run_until_stalled();
        spawn(&pool, &rig, "b", files(&["b"]));
        pool.run_until_stalled();
        assert!(rig.ended.borrow().is_empty());
        stop.send(()).unwrap();
        pool.run_until_stalled();
        assert_eq!(
            *rig.writes.borrow(),
            [files(&["a"]), Added::Every],
            "b wrote every file"
        );
        assert_eq!(*rig.ended.borrow(), ["b"], "the dropped call never ended");
        assert!(!rig.keeper.writing.get());
    }

    #[test]
    fn a_call_with_no_write_going_on_writes_at_once() {
        let rig = Rig::new();
        let mut pool = LocalPool::new();
        pool.run_until(rig.clone().add("a", files(&["a"])));
        pool.run_until(rig.clone().add("b", files(&["b"])));
        assert_eq!(*rig.writes.borrow(), [files(&["a"]), files(&["b"])]);
    }
}
