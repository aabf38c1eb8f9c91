//! Native tests of the upload queue over a scripted file runner (each
//! file's own upload is tested in driver.rs) and the real in-memory done
//! store.

#![cfg(not(target_arch = "wasm32"))]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::task::Context;

mod support;
use support::{poll_pending, yield_now};

use futures::executor::block_on;
use resupload::error::{ErrorKind, Refusal};
use resupload::memory::MemoryStore;
use resupload::ports::{PortFuture, Progress, Timer, Wait, Warning, WarningCode};
use resupload::queue::{
    DoneMarker, DoneStore, FileOutcome, FileRunner, Queue, QueueEntry, QueueEvents, QueueProgress,
    QueueState, STOP_AFTER,
};
use resupload::{Completed, Error, Operation};

/// What a scripted file does when run.
#[derive(Clone, Copy)]
enum Script {
    Store,
    Fail,
    /// The backend refuses the app's sign-in (401): no file would pass.
    Refuse,
    /// The file cannot be read: its own trouble.
    Unreadable,
    Hang,
    /// The store holds the object; the run then tidies up for ever (its
    /// record's removal, held). Run again, the file is stored.
    StoredThenTidies,
}

#[derive(Default)]
struct Runner {
    scripts: RefCell<HashMap<usize, Script>>,
    started: RefCell<Vec<usize>>,
    running: Cell<usize>,
    most_at_once: Cell<usize>,
    discarded: RefCell<Vec<usize>>,
    /// Files at their last step: their upload ends when next polled.
    finishing: RefCell<Vec<usize>>,
    /// Discarding never ends (an abort's round trip, held).
    discard_hangs: Cell<bool>,
    /// Files whose run told the queue their object is stored.
    told_stored: RefCell<Vec<usize>>,
}

impl Runner {
    async fn run_file(
        &self,
        index: usize,
        progress: &dyn Fn(Progress),
        stored: &dyn Fn(&str),
    ) -> Result<Box<Completed>, Error> {
        self.started.borrow_mut().push(index);
        self.running.set(self.running.get() + 1);
        self.most_at_once
            .set(self.most_at_once.get().max(self.running.get()));
        let script = self
            .scripts
            .borrow()
            .get(&index)
            .copied()
            .unwrap_or(Script::Store);
        yield_now().await;
        progress(Progress {
            sent_bytes: 50,
            confirmed_bytes: 0,
            total_bytes: 100,
        });
        self.finishing.borrow_mut().push(index);
        yield_now().await;
        self.running.set(self.running.get() - 1);
        match script {
            Script::Store => Ok(Box::new(Completed {
                key: format!("key-{index}"),
                upload_id: String::new(),
                location: String::new(),
                checksum_sha256: None,
            })),
            Script::Fail => Err(ErrorKind::Network {
                operation: Operation::UploadFile,
                detail: "gone".into(),
            }
            .into()),
            Script::Refuse => Err(ErrorKind::Http {
                operation: Operation::SignFile,
                status: 401,
                refusal: Refusal::Other,
                body: "sign in again".into(),
                retry_after_ms: None,
            }
            .into()),
            Script::Unreadable => Err(ErrorKind::ReadFailed {
                detail: "NotReadableError".into(),
            }
            .into()),
            Script::Hang => std::future::pending().await,
            Script::StoredThenTidies => {
                stored(&format!("key-{index}"));
                self.told_stored.borrow_mut().push(index);
                // Run again, the file would be stored at once.
                self.scripts.borrow_mut().insert(index, Script::Store);
                std::future::pending().await
            }
        }
    }
}

impl FileRunner for Runner {
    fn run<'a>(
        &'a self,
        index: usize,
        progress: &'a dyn Fn(Progress),
        stored: &'a dyn Fn(&str),
    ) -> PortFuture<'a, Box<Completed>> {
        Box::pin(self.run_file(index, progress, stored))
    }
    fn discard(&self, index: usize) -> PortFuture<'_, ()> {
        self.discarded.borrow_mut().push(index);
        let hangs = self.discard_hangs.get();
        Box::pin(async move {
            if hangs {
                std::future::pending::<()>().await;
            }
            Ok(())
        })
    }
}

/// A clock that moves `step` ms each time it is read, and counts the
/// waits asked of it.
struct Clock {
    now: Cell<f64>,
    step: Cell<f64>,
    sleeps: Cell<usize>,
}

impl Clock {
    /// At `now`, moving 10 ms a read.
    fn at(now: f64) -> Self {
        Clock {
            now: Cell::new(now),
            step: Cell::new(10.0),
            sleeps: Cell::new(0),
        }
    }
}

impl Timer for Clock {
    fn now_ms(&self) -> f64 {
        self.now.set(self.now.get() + self.step.get());
        self.now.get()
    }
    fn sleep(&self, _ms: u32) -> Wait<'_> {
        self.sleeps.set(self.sleeps.get() + 1);
        Box::pin(yield_now())
    }
}

#[derive(Default)]
struct Heard {
    progress: RefCell<Vec<QueueProgress>>,
    ended: RefCell<Vec<(usize, FileOutcome)>>,
    warnings: RefCell<Vec<Warning>>,
}

impl QueueEvents for Heard {
    fn progress(&self, progress: QueueProgress) {
        self.progress.borrow_mut().push(progress);
    }
    fn file_ended(&self, index: usize, outcome: &FileOutcome) {
        self.ended.borrow_mut().push((index, outcome.clone()));
    }
    fn warning(&self, warning: Warning) {
        self.warnings.borrow_mut().push(warning);
    }
}

struct World {
    entries: RefCell<Vec<QueueEntry>>,
    state: QueueState,
    runner: Runner,
    done: MemoryStore,
    clock: Clock,
    heard: Heard,
}

impl World {
    fn new(files: usize) -> Self {
        let state = QueueState::new();
        state.add(files);
        World {
            entries: RefCell::new(
                (0..files)
                    .map(|i| QueueEntry {
                        id: format!("file-{i}"),
                        size: 100,
                    })
                    .collect(),
            ),
            state,
            runner: Runner::default(),
            done: MemoryStore::new(),
            clock: Clock::at(1.7e12),
            heard: Heard::default(),
        }
    }

    /// Marks file `index` stored by batch `batch` at `stored_at`, under the
    /// key `key-<index>`.
    fn mark_stored(&self, index: usize, batch: &str, stored_at: f64) {
        let marker = DoneMarker {
            id: format!("file-{index}"),
            batch: batch.into(),
            key: format!("key-{index}"),
            stored_at,
        };
        block_on(self.done.mark(&marker)).unwrap();
    }

    fn queue(&self) -> Queue<'_> {
        Queue {
            entries: &self.entries,
            state: &self.state,
            runner: &self.runner,
            done: &self.done,
            timer: &self.clock,
            events: &self.heard,
            files_at_once: 3,
            batch: "batch-1",
        }
    }

    fn run(&self) -> Result<(), Error> {
        self.state.prepare_run();
        block_on(self.queue().run())
    }

    /// Runs the queue with `beside` going on at the same time; answers
    /// both outcomes.
    fn run_beside<T>(&self, beside: impl Future<Output = T>) -> (Result<(), Error>, T) {
        let run = async {
            self.state.prepare_run();
            self.queue().run().await
        };
        block_on(futures::future::join(run, beside))
    }

    fn script(&self, index: usize, script: Script) {
        self.runner.scripts.borrow_mut().insert(index, script);
    }

    fn markers(&self) -> Vec<String> {
        let markers = block_on(self.done.markers()).unwrap();
        markers.into_iter().map(|m| m.id).collect()
    }

    fn last_progress(&self) -> QueueProgress {
        *self.heard.progress.borrow().last().unwrap()
    }
}

#[test]
fn files_start_in_order_a_few_at_once_and_all_are_stored() {
    let w = World::new(10);
    w.run().unwrap();
    assert_eq!(*w.runner.started.borrow(), (0..10).collect::<Vec<_>>());
    assert_eq!(w.runner.most_at_once.get(), 3);
    assert!(w.state.all_ended());
    assert!(w.markers().is_empty(), "a finished batch leaves no markers");
    let last = w.last_progress();
    assert_eq!((last.files_done, last.files_total), (10, 10));
    assert_eq!((last.bytes_confirmed, last.bytes_total), (1000, 1000));
}

#[test]
fn a_failed_file_never_stops_the_others_and_the_next_run_tries_only_it() {
    let w = World::new(5);
    w.script(2, Script::Fail);
    w.run().unwrap();
    assert_eq!(w.runner.started.borrow().len(), 5);
    assert!(
        matches!(&w.state.outcomes()[2], FileOutcome::Failed(e) if e.code() == "NETWORK"),
        "the failure is in the file's outcome, not the run's"
    );
    assert_eq!(w.last_progress().files_failed, 1);
    assert_eq!(
        w.markers().len(),
        4,
        "the stored files are marked until the batch is done"
    );
    w.script(2, Script::Store);
    w.runner.started.borrow_mut().clear();
    w.run().unwrap();
    assert_eq!(*w.runner.started.borrow(), [2]);
    assert!(w.markers().is_empty());
}

impl World {
    fn script_all(&self, script: Script) {
        for index in 0..self.entries.borrow().len() {
            self.script(index, script);
        }
    }

    fn one_at_a_time(&self) -> Result<(), Error> {
        self.state.prepare_run();
        block_on(
            Queue {
                files_at_once: 1,
                ..self.queue()
            }
            .run(),
        )
    }
}

#[test]
fn files_failing_in_a_row_for_a_reason_not_theirs_stop_the_queue_and_a_later_run_goes_on() {
    let w = World::new(20);
    w.script_all(Script::Refuse);
    let error = w.run().unwrap_err();
    assert_eq!((error.code(), error.status()), ("HTTP_STATUS", Some(401)));
    let started = w.runner.started.borrow().clone();
    // Three workers: the running ones end on their own after the stop.
    assert!(
        started.len() <= 3 + STOP_AFTER,
        "the queue stops starting files: {started:?}"
    );
    let outcomes = w.state.outcomes().clone();
    for (index, outcome) in outcomes.iter().enumerate() {
        match started.contains(&index) {
            true => assert!(matches!(outcome, FileOutcome::Failed(_)), "{index}"),
            false => assert_eq!(*outcome, FileOutcome::Waiting, "{index} still waits"),
        }
    }
    assert_eq!(
        w.heard.ended.borrow().len(),
        started.len(),
        "only those ended"
    );
    assert_eq!(w.last_progress().files_failed, started.len());

    // Signed in again: the next run sends the failed files and the rest.
    w.script_all(Script::Store);
    w.runner.started.borrow_mut().clear();
    w.run().unwrap();
    let mut again = w.runner.started.borrow().clone();
    again.sort_unstable();
    assert_eq!(again, (0..20).collect::<Vec<_>>());
    assert!(w.state.all_ended());
    assert!(w.markers().is_empty());
}

#[test]
fn a_file_stored_in_between_starts_the_count_again() {
    let w = World::new(12);
    w.script_all(Script::Refuse);
    for index in (2..12).step_by(3) {
        w.script(index, Script::Store);
    }
    // Two refused, one stored, again and again: never three in a row.
    w.one_at_a_time().unwrap();
    assert_eq!(*w.runner.started.borrow(), (0..12).collect::<Vec<_>>());
    assert_eq!(w.last_progress().files_failed, 8);
}

#[test]
fn a_file_s_own_failures_never_stop_the_queue_nor_start_the_count_again() {
    let w = World::new(12);
    w.script_all(Script::Unreadable);
    w.one_at_a_time().unwrap();
    assert_eq!(w.runner.started.borrow().len(), 12, "every file is tried");
    assert_eq!(w.last_progress().files_failed, 12);

    // Refused, refused, unreadable, refused: three in a row refused.
    let w = World::new(12);
    for (index, script) in [
        Script::Refuse,
        Script::Refuse,
        Script::Unreadable,
        Script::Refuse,
    ]
    .into_iter()
    .enumerate()
    {
        w.script(index, script);
    }
    let error = w.one_at_a_time().unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert_eq!(*w.runner.started.borrow(), [0, 1, 2, 3]);
}

#[test]
fn files_skipped_by_the_thousand_give_the_page_a_turn_every_few_milliseconds() {
    let w = World::new(1000);
    for index in 0..1000 {
        w.mark_stored(index, "batch-1", 1.7e12);
    }
    // About a millisecond per file skipped: it held the page for a second.
    w.clock.step.set(0.5);
    w.run().unwrap();
    assert!(
        w.runner.started.borrow().is_empty(),
        "every file is skipped"
    );
    assert_eq!(w.heard.ended.borrow().len(), 1000);
    let turns = w.clock.sleeps.get();
    let held_ms = (w.clock.now.get() - 1.7e12) / f64::from(turns.max(1) as u32);
    assert!(
        (50..500).contains(&turns),
        "a turn every {held_ms} ms ({turns} turns)"
    );
}

#[test]
fn after_a_reload_the_files_stored_before_are_skipped_once() {
    let first = World::new(6);
    first.script(4, Script::Hang);
    // The reload: the run is dropped while file 4 hangs.
    let mut run = Box::pin(async {
        first.state.prepare_run();
        first.queue().run().await
    });
    poll_pending(run.as_mut(), 200);
    drop(run);
    let stored = first.markers();
    assert_eq!(stored.len(), 5, "{stored:?}");

    // The page again, the same folder added: a new queue, the same store.
    let mut again = World::new(6);
    again.done = first.done;
    again.run().unwrap();
    assert_eq!(
        *again.runner.started.borrow(),
        [4],
        "only the unfinished file is sent"
    );
    let skipped = again
        .heard
        .ended
        .borrow()
        .iter()
        .filter(|(_, o)| matches!(o, FileOutcome::Skipped { .. }))
        .count();
    assert_eq!(skipped, 5);
    let last = again.last_progress();
    assert_eq!(
        (last.files_done, last.bytes_confirmed),
        (6, 600),
        "each file counted once"
    );
}

#[test]
fn a_cancelled_file_stops_at_once_and_is_discarded() {
    let w = World::new(3);
    w.script(1, Script::Hang);
    let cancel = async {
        while w.runner.started.borrow().len() < 3 {
            yield_now().await;
        }
        assert!(w.state.cancel(1));
    };
    let (ran, ()) = w.run_beside(cancel);
    ran.unwrap();
    assert_eq!(w.state.outcomes()[1], FileOutcome::Cancelled);
    assert_eq!(*w.runner.discarded.borrow(), [1]);
    let last = w.last_progress();
    assert_eq!(
        (last.files_done, last.files_total, last.bytes_total),
        (2, 2, 200)
    );
    assert!(
        w.markers().is_empty(),
        "cancelled or stored: the batch is done"
    );
}

#[test]
fn a_file_cancelled_while_it_is_skipped_is_told_as_it_is_listed() {
    let w = World::new(2);
    w.mark_stored(0, "batch-1", 1.7e12);
    // Skipping file 0 gives the page a turn: a cancel lands then.
    let cancel = async {
        while w.clock.sleeps.get() == 0 {
            yield_now().await;
        }
        w.state.cancel(0)
    };
    let (ran, cancelled) = w.run_beside(cancel);
    ran.unwrap();
    assert_told_as_listed(&w, cancelled);
}

/// File 0's `onFile` outcome is the one the queue lists, and `cancelled`
/// (what `cancel(0)` answered) says whether that is `Cancelled`.
fn assert_told_as_listed(w: &World, cancelled: bool) {
    let listed = w.state.outcomes()[0].clone();
    let ended = w.heard.ended.borrow();
    let heard: Vec<&FileOutcome> = ended.iter().filter(|e| e.0 == 0).map(|e| &e.1).collect();
    assert_eq!(heard, [&listed], "onFile and the lists agree");
    assert_eq!(
        cancelled,
        listed == FileOutcome::Cancelled,
        "cancel answers what it did"
    );
}

#[test]
fn a_file_cancelled_in_the_turn_its_upload_ends_is_told_as_it_is_listed() {
    for script in [Script::Store, Script::Fail] {
        let w = World::new(1);
        w.script(0, script);
        // The cancel lands after the file's last wake and before the
        // worker is polled again: the upload and the cancel are both ready.
        let cancel = async {
            while w.runner.finishing.borrow().is_empty() {
                yield_now().await;
            }
            w.state.cancel(0)
        };
        let (ran, cancelled) = w.run_beside(cancel);
        ran.unwrap();
        assert_told_as_listed(&w, cancelled);
        assert!(cancelled, "the cancel came before the file was told ended");
        let last = w.last_progress();
        assert_eq!(
            (last.files_done, last.files_failed, last.files_total),
            (0, 0, 0),
            "the totals count it as cancelled"
        );
    }
}

#[test]
fn a_file_cancelled_while_waiting_is_reported_and_leaves_the_totals() {
    let w = World::new(5);
    let cancel = async {
        while w.runner.started.borrow().is_empty() {
            yield_now().await;
        }
        assert_eq!(w.runner.running.get(), 1, "file 0 runs");
        assert!(w.state.cancel(4));
    };
    let (ran, ()) = block_on(futures::future::join(
        async {
            w.state.prepare_run();
            let one_at_a_time = Queue {
                files_at_once: 1,
                ..w.queue()
            };
            one_at_a_time.run().await
        },
        cancel,
    ));
    ran.unwrap();
    assert_eq!(*w.runner.started.borrow(), [0, 1, 2, 3]);
    assert!(w
        .heard
        .ended
        .borrow()
        .contains(&(4, FileOutcome::Cancelled)));
    let last = w.last_progress();
    assert_eq!(
        (last.files_done, last.files_total, last.bytes_total),
        (4, 4, 400),
        "every file left has ended"
    );
}

/// A done store whose `mark` takes a while, telling when it was asked.
struct SlowMarks<'a> {
    store: &'a MemoryStore,
    marking: Cell<bool>,
}

impl DoneStore for SlowMarks<'_> {
    fn markers(&self) -> PortFuture<'_, Vec<DoneMarker>> {
        self.store.markers()
    }
    fn mark<'a>(&'a self, marker: &'a DoneMarker) -> PortFuture<'a, ()> {
        self.marking.set(true);
        Box::pin(async move {
            yield_now().await;
            yield_now().await;
            self.store.mark(marker).await
        })
    }
    fn forget<'a>(&'a self, ids: &'a [String]) -> PortFuture<'a, ()> {
        self.store.forget(ids)
    }
}

#[test]
fn a_file_stored_while_its_marker_is_written_stays_stored_when_cancelled() {
    let w = World::new(1);
    let slow = SlowMarks {
        store: &w.done,
        marking: Cell::new(false),
    };
    let late_cancel = Cell::new(None);
    let cancel = async {
        while !slow.marking.get() {
            yield_now().await;
        }
        late_cancel.set(Some(w.state.cancel(0)));
    };
    let (ran, ()) = block_on(futures::future::join(
        async {
            w.state.prepare_run();
            Queue {
                done: &slow,
                ..w.queue()
            }
            .run()
            .await
        },
        cancel,
    ));
    ran.unwrap();
    assert_eq!(late_cancel.get(), Some(false), "nothing left to cancel");
    assert!(matches!(w.state.outcomes()[0], FileOutcome::Done(_)));
    let ended = w.heard.ended.borrow();
    assert!(
        matches!(ended[..], [(0, FileOutcome::Done(_))]),
        "{ended:?}"
    );
    assert!(w.runner.discarded.borrow().is_empty());
}

#[test]
fn a_file_cancelled_while_waiting_is_reported_at_once() {
    // File 0 runs (and would run for ever); file 2 waits and is cancelled:
    // the page hears of it then, not when file 0 ends.
    let w = World::new(3);
    w.script(0, Script::Hang);
    let heard_at_once = Cell::new(false);
    let cancel = async {
        while w.runner.started.borrow().is_empty() {
            yield_now().await;
        }
        assert!(w.state.cancel(2));
        for _ in 0..3 {
            yield_now().await;
        }
        heard_at_once.set(w.heard.ended.borrow().as_slice() == [(2, FileOutcome::Cancelled)]);
        let last = w.last_progress();
        assert_eq!(
            (last.files_total, last.bytes_total),
            (2, 200),
            "out of the totals"
        );
        assert!(w.state.cancel(0));
    };
    let (ran, ()) = block_on(futures::future::join(
        async {
            w.state.prepare_run();
            Queue {
                files_at_once: 1,
                ..w.queue()
            }
            .run()
            .await
        },
        cancel,
    ));
    ran.unwrap();
    assert!(heard_at_once.get(), "{:?}", w.heard.ended.borrow());
    assert_eq!(*w.runner.started.borrow(), [0, 1]);
    assert_eq!(w.heard.ended.borrow().len(), 3, "each file once");
}

#[test]
fn a_pause_while_a_stored_file_is_marked_loses_no_report() {
    // A pause drops the run; it lands while the marker of a stored file is
    // written. The page has heard that the file is stored, and the next
    // run does not send it again.
    let w = World::new(2);
    let slow = SlowMarks {
        store: &w.done,
        marking: Cell::new(false),
    };
    let queue = Queue {
        done: &slow,
        files_at_once: 1,
        ..w.queue()
    };
    w.state.prepare_run();
    let paused = async {
        while !slow.marking.get() {
            yield_now().await;
        }
    };
    block_on(futures::future::select(
        Box::pin(queue.run()),
        Box::pin(paused),
    ));
    let ended = w.heard.ended.borrow().clone();
    assert!(
        matches!(ended[..], [(0, FileOutcome::Done(_))]),
        "{ended:?}"
    );
    w.run().unwrap();
    assert_eq!(
        *w.runner.started.borrow(),
        [0, 1],
        "file 0 is not sent again"
    );
}

#[test]
fn a_file_stored_when_a_pause_drops_its_run_is_not_sent_again() {
    // The store completed the file's upload, and the run was removing its
    // record when a pause dropped the run: no record is left to resume
    // from, and no marker was written. Before, the next run sent the file
    // again, as a second object.
    let w = World::new(2);
    w.script(0, Script::StoredThenTidies);
    w.script(1, Script::Fail); // the batch stays, with its markers
    let queue = Queue {
        files_at_once: 1,
        ..w.queue()
    };
    w.state.prepare_run();
    let paused = async {
        while w.runner.told_stored.borrow().is_empty() {
            yield_now().await;
        }
    };
    block_on(futures::future::select(
        Box::pin(queue.run()),
        Box::pin(paused),
    ));
    assert!(w.heard.ended.borrow().is_empty(), "dropped before its end");
    // Stored is for good: cancelled, it would be told "cancelled" with its
    // object in the bucket, its record gone, so no abort could tell where.
    assert!(!w.state.cancel(0), "the stored file is not cancelled");
    w.run().unwrap();
    assert_eq!(
        *w.runner.started.borrow(),
        [0, 1],
        "file 0 is not sent again"
    );
    let ended = w.heard.ended.borrow().clone();
    assert_eq!(
        ended[0],
        (
            0,
            FileOutcome::Skipped {
                key: "key-0".into()
            }
        )
    );
    assert_eq!(w.markers(), ["file-0"], "and a reload skips it too");
}

#[test]
fn a_marker_skips_its_file_however_old() {
    // Stored at the epoch: weeks past any expiresAfter. A marker tells of
    // a stored object, which no expiry of unfinished uploads removes.
    let w = World::new(2);
    w.mark_stored(0, "batch-0", 0.0);
    w.run().unwrap();
    assert_eq!(*w.runner.started.borrow(), [1], "file 0 is not sent again");
}

#[test]
fn a_finished_batch_forgets_its_own_markers_and_leaves_another_batch_s() {
    // Files 0 and 1 were stored by an older batch this one did not take
    // over (it has a file this one lacks): that batch stays listed, and
    // adding its whole folder later must still skip them.
    let w = World::new(3);
    w.mark_stored(0, "batch-0", 1.7e12);
    w.mark_stored(1, "batch-0", 1.7e12);
    w.run().unwrap();
    assert_eq!(*w.runner.started.borrow(), [2]);
    assert!(w.state.all_ended());
    assert_eq!(w.markers(), ["file-0", "file-1"], "batch-0's markers stay");
}

#[test]
fn files_added_while_the_queue_runs_join_the_run() {
    let w = World::new(2);
    w.script(0, Script::Hang);
    let add = async {
        while w.runner.started.borrow().len() < 2 {
            yield_now().await;
        }
        w.entries.borrow_mut().push(QueueEntry {
            id: "late".into(),
            size: 100,
        });
        w.state.add(1);
        while w.runner.started.borrow().len() < 3 {
            yield_now().await;
        }
        w.state.cancel(0);
    };
    let (ran, ()) = w.run_beside(add);
    ran.unwrap();
    assert_eq!(*w.runner.started.borrow(), [0, 1, 2]);
    let last = w.last_progress();
    assert_eq!(
        (last.files_done, last.files_total, last.bytes_total),
        (2, 2, 200)
    );
}

/// Adds one file of 100 bytes to `w`'s queue, as `add()` does while it runs.
fn add_file(w: &World, id: &str) {
    w.entries.borrow_mut().push(QueueEntry {
        id: id.into(),
        size: 100,
    });
    w.state.add(1);
}

#[test]
fn files_added_once_the_other_workers_went_idle_run_beside_a_long_file() {
    let w = World::new(2);
    w.script(0, Script::Hang);
    let add = async {
        // File 1 ended: the two workers left without a file are idle.
        while w.heard.ended.borrow().iter().all(|(i, _)| *i != 1) {
            yield_now().await;
        }
        for i in 0..4 {
            add_file(&w, &format!("late-{i}"));
        }
        for _ in 0..100 {
            yield_now().await;
        }
        let started = w.runner.started.borrow().clone();
        let most = w.runner.most_at_once.get();
        w.state.cancel(0);
        (started, most)
    };
    let (ran, (started, most)) = w.run_beside(add);
    ran.unwrap();
    assert_eq!(
        started,
        [0, 1, 2, 3, 4, 5],
        "the late files start beside the long one"
    );
    assert!(most >= 2, "the late files run side by side: {most}");
    assert_eq!(w.last_progress().files_done, 5);
}

#[test]
fn files_added_while_every_worker_is_busy_join_the_totals_at_once() {
    let w = World::new(3);
    (0..3).for_each(|i| w.script(i, Script::Hang));
    let add = async {
        while w.runner.started.borrow().len() < 3 {
            yield_now().await;
        }
        add_file(&w, "late");
        for _ in 0..3 {
            yield_now().await;
        }
        let last = w.last_progress();
        (0..3).for_each(|i| {
            w.state.cancel(i);
        });
        last
    };
    let (ran, last) = w.run_beside(add);
    ran.unwrap();
    assert_eq!((last.files_total, last.bytes_total), (4, 400));
    assert_eq!(*w.runner.started.borrow(), [0, 1, 2, 3]);
}

/// A done store whose `forget` takes a while, telling when it was asked.
struct SlowForget<'a> {
    store: &'a MemoryStore,
    forgetting: Cell<bool>,
}

impl DoneStore for SlowForget<'_> {
    fn markers(&self) -> PortFuture<'_, Vec<DoneMarker>> {
        self.store.markers()
    }
    fn mark<'a>(&'a self, marker: &'a DoneMarker) -> PortFuture<'a, ()> {
        self.store.mark(marker)
    }
    fn forget<'a>(&'a self, ids: &'a [String]) -> PortFuture<'a, ()> {
        self.forgetting.set(true);
        Box::pin(async move {
            yield_now().await;
            yield_now().await;
            self.store.forget(ids).await
        })
    }
}

#[test]
fn a_file_added_while_the_run_forgets_its_markers_runs_in_that_run() {
    let w = World::new(2);
    let slow = SlowForget {
        store: &w.done,
        forgetting: Cell::new(false),
    };
    let add = async {
        while !slow.forgetting.get() {
            yield_now().await;
        }
        add_file(&w, "late");
    };
    let (ran, ()) = block_on(futures::future::join(
        async {
            w.state.prepare_run();
            Queue {
                done: &slow,
                ..w.queue()
            }
            .run()
            .await
        },
        add,
    ));
    ran.unwrap();
    assert_eq!(*w.runner.started.borrow(), [0, 1, 2]);
    assert!(w.state.all_ended(), "{:?}", w.state.outcomes());
    assert!(w.markers().is_empty(), "the late file's marker went too");
    let last = w.last_progress();
    assert_eq!((last.files_done, last.files_total), (3, 3));
}

/// Polls `run` `times` times, whatever it answers (a run a test then drops,
/// as a pause does).
fn poll_times<F: Future>(mut run: std::pin::Pin<&mut F>, times: usize) {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..times {
        let _ = run.as_mut().poll(&mut cx);
    }
}

#[test]
fn a_file_running_at_a_pause_and_cancelled_then_is_reported() {
    let w = World::new(3);
    w.script(0, Script::Hang);
    w.state.prepare_run();
    {
        let queue = w.queue();
        let mut run = Box::pin(queue.run());
        poll_times(run.as_mut(), 20);
        assert!(w.runner.started.borrow().contains(&0));
    } // dropped: a pause
    assert!(w.state.cancel(0));
    w.run().unwrap();
    let ended = w.heard.ended.borrow();
    assert_eq!(
        ended.iter().filter(|(i, _)| *i == 0).collect::<Vec<_>>(),
        [&(0, FileOutcome::Cancelled)],
        "{ended:?}"
    );
    assert_eq!(*w.runner.started.borrow(), [0, 1, 2], "file 0 never again");
}

#[test]
fn a_running_file_cancelled_then_paused_before_its_discard_ends_is_reported_once() {
    let w = World::new(2);
    w.script(0, Script::Hang);
    w.script(1, Script::Hang);
    w.runner.discard_hangs.set(true);
    w.state.prepare_run();
    {
        let queue = w.queue();
        let mut run = Box::pin(queue.run());
        poll_times(run.as_mut(), 20);
        assert!(w.state.cancel(0));
        poll_times(run.as_mut(), 20);
        assert_eq!(*w.runner.discarded.borrow(), [0], "being discarded");
    } // dropped before the discard ends: a pause

    // As start() does once its run ends: the files no run told of.
    let told = w.state.take_cancelled();
    w.runner.discard_hangs.set(false);
    w.script(1, Script::Store);
    w.run().unwrap();
    let ended = w.heard.ended.borrow();
    let heard = ended.iter().filter(|&e| *e == (0, FileOutcome::Cancelled));
    assert_eq!(
        heard.count() + told.iter().filter(|&&i| i == 0).count(),
        1,
        "heard {ended:?}, told {told:?}"
    );
}

#[test]
fn a_file_cancelled_after_it_failed_is_reported_cancelled_and_leaves_the_failed_count() {
    let w = World::new(2);
    w.script(0, Script::Fail);
    w.script(1, Script::Hang);
    let cancel = async {
        while !w.heard.ended.borrow().iter().any(|(i, _)| *i == 0) {
            yield_now().await;
        }
        assert!(w.state.cancel(0), "a failed file can be cancelled");
        for _ in 0..3 {
            yield_now().await;
        }
        let last = w.last_progress();
        w.state.cancel(1);
        last
    };
    let (ran, last) = w.run_beside(cancel);
    ran.unwrap();
    assert!(w
        .heard
        .ended
        .borrow()
        .contains(&(0, FileOutcome::Cancelled)));
    assert_eq!((last.files_failed, last.files_total), (0, 1));
}

/// A done store whose reads and deletes fail (IndexedDB in trouble); its
/// writes go to `store`.
struct BrokenReads<'a> {
    store: &'a MemoryStore,
}

fn broken() -> Error {
    ErrorKind::Storage {
        failure: resupload::error::StorageFailure::Failed,
        detail: "getAll failed".into(),
    }
    .into()
}

impl DoneStore for BrokenReads<'_> {
    fn markers(&self) -> PortFuture<'_, Vec<DoneMarker>> {
        Box::pin(async { Err(broken()) })
    }
    fn mark<'a>(&'a self, marker: &'a DoneMarker) -> PortFuture<'a, ()> {
        self.store.mark(marker)
    }
    fn forget<'a>(&'a self, _ids: &'a [String]) -> PortFuture<'a, ()> {
        Box::pin(async { Err(broken()) })
    }
}

#[test]
fn done_markers_that_cannot_be_read_or_deleted_are_warned_of_and_the_files_still_sent() {
    let w = World::new(3);
    let broken = BrokenReads { store: &w.done };
    w.state.prepare_run();
    block_on(
        Queue {
            done: &broken,
            ..w.queue()
        }
        .run(),
    )
    .unwrap();
    assert_eq!(*w.runner.started.borrow(), [0, 1, 2]);
    assert!(w.state.all_ended());
    let codes: Vec<WarningCode> = w.heard.warnings.borrow().iter().map(|w| w.code).collect();
    assert_eq!(
        codes,
        [WarningCode::StorageFailed, WarningCode::StorageFailed],
        "the read, then the delete"
    );
}

// ------------------------------------------------------ batched signing

mod signing {
    use super::*;
    use resupload::ports::{NewSingle, SignedSingle, SingleMethod, SingleSigner};
    use resupload::queue::signing::BatchSigner;

    /// A backend that signs small files, with or without a batch route.
    #[derive(Default)]
    struct Signs {
        no_batch_route: bool,
        /// Answers to a batch this many more (or, negative, fewer) than asked.
        answers_off_by: isize,
        /// A file name refused with 400, alone or in a batch (whose whole
        /// call then fails, as the dev server's does).
        refused: Option<&'static str>,
        /// Every call refused with 401 (the app's sign-in): no file passes.
        unauthorized: bool,
        batches: RefCell<Vec<usize>>,
        singles: Cell<u32>,
    }

    fn signed(file: &NewSingle<'_>) -> SignedSingle {
        SignedSingle {
            method: SingleMethod::Put,
            url: format!("https://store/{}", file.file_name),
            headers: Vec::new(),
            fields: Vec::new(),
            key: file.file_name.to_owned(),
            checksum_signed: false,
            expires_secs: None,
        }
    }

    impl SingleSigner for Signs {
        fn sign_single<'a>(&'a self, file: NewSingle<'a>) -> PortFuture<'a, SignedSingle> {
            self.singles.set(self.singles.get() + 1);
            Box::pin(async move {
                match self.refuses(&[file]) {
                    Some(refused) => Err(refused),
                    None => Ok(signed(&file)),
                }
            })
        }
        fn sign_singles<'a>(
            &'a self,
            files: &'a [NewSingle<'a>],
        ) -> PortFuture<'a, Vec<SignedSingle>> {
            Box::pin(async move {
                yield_now().await;
                if self.no_batch_route {
                    return Err(refusal(404, ""));
                }
                self.batches.borrow_mut().push(files.len());
                if let Some(refused) = self.refuses(files) {
                    return Err(refused);
                }
                let mut answers: Vec<SignedSingle> = files.iter().map(signed).collect();
                match self.answers_off_by {
                    n if n < 0 => answers.truncate(files.len().saturating_sub(n.unsigned_abs())),
                    n => (0..n).for_each(|_| answers.insert(0, signed(&file("extra")))),
                }
                Ok(answers)
            })
        }
    }

    impl Signs {
        /// The 400 for `files`, if one of them is the refused file.
        fn refuses(&self, files: &[NewSingle<'_>]) -> Option<Error> {
            if self.unauthorized {
                return Some(refusal(401, r#"{"code":"Unauthorized"}"#));
            }
            let refused = self.refused?;
            let at = files.iter().position(|f| f.file_name == refused)?;
            Some(refusal(
                400,
                &format!(r#"{{"code":"InvalidRelativePath","message":"files[{at}]: too deep"}}"#),
            ))
        }
    }

    /// The signing route's answer `status` with `body`.
    fn refusal(status: u16, body: &str) -> Error {
        resupload::http::failure(
            Operation::SignFile,
            None,
            resupload::http::Answer {
                status,
                body,
                retry_after: None,
            },
        )
    }

    fn file(name: &str) -> NewSingle<'_> {
        NewSingle {
            namespace: "",
            file_name: name,
            relative_path: None,
            file_type: "",
            metadata: &[],
            size: 1,
            checksum_sha256: None,
        }
    }

    fn sign_all(signer: &BatchSigner<'_>, names: &[String]) -> Vec<String> {
        let signed = sign_each(signer, names);
        signed.into_iter().map(|s| s.unwrap()).collect()
    }

    /// Each file's key, or the HTTP status it was refused with.
    fn sign_each<N: AsRef<str>>(signer: &BatchSigner<'_>, names: &[N]) -> Vec<Result<String, u16>> {
        let all = names.iter().map(|n| signer.sign(file(n.as_ref())));
        let signed = block_on(futures::future::join_all(all));
        let status = |e: Error| e.status().unwrap();
        signed
            .into_iter()
            .map(|s| s.map(|s| s.key).map_err(status))
            .collect()
    }

    #[test]
    fn files_asking_at_once_are_signed_in_one_call_of_at_most_100() {
        let backend = Signs::default();
        let clock = Clock::at(0.0);
        let signer = BatchSigner::new(&backend, &clock, 8);
        let names: Vec<String> = (0..150).map(|i| format!("f{i}")).collect();
        assert_eq!(
            sign_all(&signer, &names),
            names,
            "each file gets its own answer"
        );
        assert_eq!(*backend.batches.borrow(), [100, 50]);
        assert_eq!(backend.singles.get(), 0);
        assert_eq!(signer.calls(), 2);
    }

    #[test]
    fn a_file_dropped_while_it_waits_for_its_batch_is_not_signed_with_it() {
        // A small file cancelled (its future dropped) while it waits out
        // the window: before, its entry stayed, and the next batch signed
        // it too (a URL and key nobody uses).
        let backend = Signs::default();
        let clock = Clock::at(0.0);
        let signer = BatchSigner::new(&backend, &clock, 8);
        block_on(async {
            let mut cancelled = Box::pin(signer.sign(file("cancelled")));
            assert!(
                futures::poll!(cancelled.as_mut()).is_pending(),
                "it waits for others"
            );
        });
        let names: Vec<String> = (1..3).map(|i| format!("f{i}")).collect();
        assert_eq!(sign_all(&signer, &names), names);
        assert_eq!(
            *backend.batches.borrow(),
            [2],
            "the dropped file is not signed"
        );
    }

    #[test]
    fn without_a_batch_route_files_are_signed_one_by_one_from_then_on() {
        let backend = Signs {
            no_batch_route: true,
            ..Signs::default()
        };
        let clock = Clock::at(0.0);
        let signer = BatchSigner::new(&backend, &clock, 8);
        let names: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
        assert_eq!(sign_all(&signer, &names), names);
        assert_eq!(backend.singles.get(), 5);
        assert_eq!(sign_all(&signer, &names[..2]), names[..2]);
        assert_eq!(backend.singles.get(), 7, "no batch tried again");
    }

    #[test]
    fn a_batch_answered_short_gives_the_first_files_their_answers_and_the_rest_sign_alone() {
        let backend = Signs {
            answers_off_by: -2,
            ..Signs::default()
        };
        let clock = Clock::at(0.0);
        let signer = BatchSigner::new(&backend, &clock, 5);
        let names: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
        assert_eq!(sign_all(&signer, &names), names, "each file its own answer");
        assert_eq!(*backend.batches.borrow(), [5]);
        assert_eq!(backend.singles.get(), 2, "only the files left unanswered");
    }

    #[test]
    fn a_batch_answered_with_more_than_asked_is_refused() {
        let backend = Signs {
            answers_off_by: 1,
            ..Signs::default()
        };
        let clock = Clock::at(0.0);
        let signer = BatchSigner::new(&backend, &clock, 3);
        let all = (0..3).map(|i| format!("f{i}")).collect::<Vec<_>>();
        let signed = block_on(futures::future::join_all(
            all.iter().map(|n| signer.sign(file(n))),
        ));
        for s in signed {
            assert_eq!(s.unwrap_err().code(), "BAD_RESPONSE");
        }
        assert_eq!(backend.singles.get(), 0, "no answer is matched by position");
    }

    #[test]
    fn a_file_the_batch_route_refuses_fails_alone_and_the_others_are_signed() {
        let backend = Signs {
            refused: Some("bad"),
            ..Signs::default()
        };
        let clock = Clock::at(0.0);
        let signer = BatchSigner::new(&backend, &clock, 3);
        let keys = sign_each(&signer, &["a", "bad", "c"]);
        assert_eq!(keys, [Ok("a".into()), Err(400), Ok("c".into())]);
        assert_eq!(*backend.batches.borrow(), [3]);
        assert_eq!(backend.singles.get(), 3, "each file signed alone after");
    }

    #[test]
    fn a_batch_refused_for_a_reason_not_its_files_fails_them_all_at_once() {
        let backend = Signs {
            unauthorized: true,
            ..Signs::default()
        };
        let clock = Clock::at(0.0);
        let signer = BatchSigner::new(&backend, &clock, 3);
        let keys = sign_each(&signer, &["f0", "f1", "f2"]);
        assert_eq!(keys, [Err(401), Err(401), Err(401)]);
        assert_eq!(backend.singles.get(), 0, "no file asked again alone");
    }

    #[test]
    fn a_file_whose_batch_was_dropped_signs_alone() {
        let backend = Signs::default();
        let clock = Clock::at(0.0);
        let signer = BatchSigner::new(&backend, &clock, 8);
        let mut taker = Box::pin(signer.sign(file("taker")));
        let mut other = Box::pin(signer.sign(file("other")));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        // Both join; the first takes both entries and calls the backend.
        for _ in 0..2 {
            assert!(taker.as_mut().poll(&mut cx).is_pending());
            assert!(other.as_mut().poll(&mut cx).is_pending());
        }
        drop(taker);
        assert_eq!(block_on(other).unwrap().key, "other");
        assert_eq!(backend.singles.get(), 1, "signed alone");
    }
}

#[test]
fn a_batch_is_its_files_paths_and_sizes_in_any_order() {
    use resupload::queue::batch_id;
    let id = |members: &[(&str, u64)]| batch_id("ns", "/api/s3", "2 files", members);
    let set = id(&[("a.jpg", 100), ("b.jpg", 200)]);
    assert_eq!(set, id(&[("b.jpg", 200), ("a.jpg", 100)]), "any order");
    // Before, only the count and the bytes: two other files of the same
    // sizes were the same batch, and finishing one forgot the other's.
    assert_ne!(set, id(&[("c.jpg", 100), ("d.jpg", 200)]));
    assert_ne!(set, id(&[("a.jpg", 200), ("b.jpg", 100)]));
    assert_ne!(
        set,
        batch_id(
            "other",
            "/api/s3",
            "2 files",
            &[("a.jpg", 100), ("b.jpg", 200)]
        )
    );
}
