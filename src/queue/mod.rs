//! Many files under one budget of requests in flight (an upload queue).
//!
//! The queue starts files in the order they were added, several at once;
//! each runs through a [`FileRunner`] (in a browser: a [`Driver`] over the
//! shared ports, a whole small file in one request, a large one as a
//! multipart upload whose parts draw on the same budget). What the queue
//! adds:
//! - **done markers** ([`DoneStore`]): a file stored by an earlier run (a
//!   reload mid-batch, then the same folder added again) is skipped, once,
//!   by its record key (folder path, name, size and date: a changed file
//!   has another key and is sent again); the markers are deleted when the
//!   whole queue is done, and collected past their expiry. Skipping takes
//!   no time, so files are skipped a slice of [`SKIP_SLICE_MS`] at a time,
//!   the page's event loop getting a turn between slices;
//! - one progress for the whole queue, with a rate and a time left
//!   ([`progress`]);
//! - a file that fails for a reason of its own (it cannot be read, it
//!   changed, another 4xx about it) never stops the others; but after
//!   [`STOP_AFTER`] files in a row failed for a reason that is not theirs
//!   ([`ErrorKind::is_queue_wide`](crate::error::ErrorKind::is_queue_wide): the backend or the store unreachable after
//!   every retry, the app's sign-in refused, the `headers` function
//!   failing), none stored in between, the queue starts no more files: the
//!   running ones end on their own, the others wait, and the run answers
//!   that error once, where every file would have failed alone after its
//!   own retries. A later run goes on from there;
//! - a cancelled file stops at once.
//!
//! [`Driver`]: crate::driver::Driver

#[cfg(feature = "queue")]
pub mod keeper;
pub mod progress;
pub mod signing;
mod state;
mod streak;

pub use progress::QueueProgress;
pub use state::{FileOutcome, QueueState};
pub use streak::STOP_AFTER;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::pin::pin;

use futures::future::{join3, select, Either};
use sha2::{Digest, Sha256};

use crate::driver::Completed;
use crate::error::Error;
use crate::ports::{PortFuture, Progress, Timer, Warning};
use crate::slots::join_all;
use progress::QueueTotals;

/// One file of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// Its record key: namespace, endpoint, folder path, name, size and
    /// date (see [`fingerprint`](crate::core::fingerprint::fingerprint)).
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A file stored by a queue whose batch is not done yet.
#[derive(Debug, Clone, PartialEq)]
pub struct DoneMarker {
    /// The file's record key.
    pub id: String,
    /// The batch it was stored in (see [`batch_id`]).
    pub batch: String,
    /// Its object key.
    pub key: String,
    /// When it was stored (ms since the epoch).
    pub stored_at: f64,
}

/// Where done markers persist (IndexedDB in a browser).
pub trait DoneStore {
    /// Every marker.
    fn markers(&self) -> PortFuture<'_, Vec<DoneMarker>>;
    /// Keeps a marker.
    fn mark<'a>(&'a self, marker: &'a DoneMarker) -> PortFuture<'a, ()>;
    /// Deletes the markers of these files.
    fn forget<'a>(&'a self, ids: &'a [String]) -> PortFuture<'a, ()>;
}

/// Uploads one file of the queue.
pub trait FileRunner {
    /// Uploads file `index`, telling `progress` how far it got, and
    /// `stored` the object's key once the store holds it (before the run
    /// tidies up: see [`Events::object_stored`](crate::ports::Events::object_stored)).
    fn run<'a>(
        &'a self,
        index: usize,
        progress: &'a dyn Fn(Progress),
        stored: &'a dyn Fn(&str),
    ) -> PortFuture<'a, Box<Completed>>;
    /// Undoes what a cancelled file left on the server and here (a
    /// multipart upload and its record), best effort.
    fn discard(&self, index: usize) -> PortFuture<'_, ()>;
}

/// What the page hears from a queue.
pub trait QueueEvents {
    /// The queue's progress changed.
    fn progress(&self, progress: QueueProgress);
    /// File `index` ended (stored, skipped, failed or cancelled).
    fn file_ended(&self, index: usize, outcome: &FileOutcome);
    /// Something went wrong that does not stop the queue (the done
    /// markers could not be read or deleted).
    fn warning(&self, warning: Warning);
}

/// One run of a queue over its ports.
pub struct Queue<'a> {
    /// The files, in the order they were added (more may be added while
    /// the queue runs: they join the run).
    pub entries: &'a RefCell<Vec<QueueEntry>>,
    /// Where the outcomes live between runs (and `cancel` reaches them).
    pub state: &'a QueueState,
    /// Uploads each file.
    pub runner: &'a dyn FileRunner,
    /// The done markers.
    pub done: &'a dyn DoneStore,
    /// The clock.
    pub timer: &'a dyn Timer,
    /// The page's callbacks.
    pub events: &'a dyn QueueEvents,
    /// How many files run at once.
    pub files_at_once: usize,
    /// The batch the files belong to (see [`batch_id`]).
    pub batch: &'a str,
}

/// How long skipping files an earlier run stored may hold the page before
/// its event loop gets a turn (ms). A skipped file costs no request but
/// its `onFile` and progress: thousands in a row, without a turn, would
/// freeze the page; a turn every 10 ms costs a timer's few ms each.
pub const SKIP_SLICE_MS: f64 = 10.0;

/// The files an earlier run stored (record key → object key), and when
/// the slice of skipping them began (see [`SKIP_SLICE_MS`]).
struct Stored {
    keys: HashMap<String, String>,
    slice_began: Cell<f64>,
}

/// Ends a run's hold on its files when the run ends or is dropped (a
/// pause): see [`QueueState::stop_running`].
struct StopRunning<'a>(&'a QueueState);

impl<'a> StopRunning<'a> {
    fn begin(state: &'a QueueState) -> Self {
        state.set_run_active(true);
        StopRunning(state)
    }
}

impl Drop for StopRunning<'_> {
    fn drop(&mut self) {
        self.0.stop_running();
        self.0.set_run_active(false);
    }
}

/// The key of a batch: the same files added again (the same paths, or
/// names for loose files, and sizes: a file's new bytes or date leave it
/// the same batch) under the same namespace and endpoint, with the same
/// `name`, is the same batch, so it is listed once however often it is
/// picked. `members` are each file's path (or name) and size, in any
/// order.
pub fn batch_id(namespace: &str, endpoint: &str, name: &str, members: &[(&str, u64)]) -> String {
    let mut sorted = members.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for (path, size) in &sorted {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update(size.to_le_bytes());
    }
    let identity = crate::core::fingerprint::FileIdentity {
        name: name.to_owned(),
        size: members.iter().map(|(_, size)| size).sum(),
        last_modified: members.len() as f64,
        source_id: Some("upload-queue".to_owned()),
        relative_path: None,
        content_sample: Some(
            crate::core::checksum::Sha256Digest(hasher.finalize().into()).to_base64(),
        ),
    };
    crate::core::fingerprint::fingerprint(namespace, endpoint, &identity)
}

impl Queue<'_> {
    /// Runs every file not yet stored or cancelled (a failed one again),
    /// and the files added meanwhile: it ends once no file waits and none
    /// runs. A file's failure is in its outcome; the run answers an error
    /// only when it stopped ([`QueueState::stopped_by`]: files failed in a
    /// row for a reason not theirs), its waiting files left waiting.
    pub async fn run(&self) -> Result<(), Error> {
        let _stopped = StopRunning::begin(self.state);
        let stored = Stored {
            keys: self.stored_files().await,
            slice_began: Cell::new(self.now()),
        };
        // Cancelled before this run: its totals leave them out.
        self.report_cancelled(None);
        let totals = QueueTotals::new(&self.entries.borrow(), self.state, self.now());
        let totals = RefCell::new(totals);
        self.emit(&totals, true);
        loop {
            self.run_files(&totals, &stored).await;
            self.finish().await;
            // A file added while the markers were forgotten joins this run.
            if !self.state.has_waiting() {
                // One added then, and cancelled: no worker saw it.
                self.report_cancelled(Some(&totals));
                return self.state.stopped_by().map_or(Ok(()), Err);
            }
        }
    }

    /// Runs the files under [`files_at_once`](Self::files_at_once)
    /// workers until no file waits and none runs.
    async fn run_files(&self, totals: &RefCell<QueueTotals>, stored: &Stored) {
        let workers = self.files_at_once.max(1);
        let busy = join3(
            join_all(workers, |worker| self.work(worker, totals, stored)),
            self.report_cancels(totals),
            self.report_added(totals),
        );
        select(pin!(busy), pin!(self.state.run_over())).await;
        self.report_cancelled(Some(totals));
        self.emit(totals, true);
    }

    /// The files an earlier run stored (record key → object key), from
    /// their markers, however old: a marker tells of a stored object, which
    /// no expiry of unfinished uploads removes, and it lives as long as its
    /// batch (the store collects it with the batch, or as an orphan once
    /// the batch is gone). Markers that cannot be read are warned of: every
    /// file is sent.
    async fn stored_files(&self) -> HashMap<String, String> {
        match self.done.markers().await {
            Ok(markers) => markers.into_iter().map(|m| (m.id, m.key)).collect(),
            Err(error) => {
                let then = "the files an earlier run stored are sent again";
                self.events.warning(Warning::storage(&error, then));
                HashMap::new()
            }
        }
    }

    /// Deletes the markers of files `ids`; a failure is warned of (they
    /// are collected past their expiry).
    async fn forget(&self, ids: &[String]) {
        if let Err(error) = self.done.forget(ids).await {
            let then = "done markers are left behind, until they expire";
            self.events.warning(Warning::storage(&error, then));
        }
    }

    /// Worker `worker` of the queue: takes the next file, waiting for one
    /// when none waits (the run drops it once the run is over).
    async fn work(&self, worker: usize, totals: &RefCell<QueueTotals>, stored: &Stored) {
        loop {
            let index = self.state.next_for(worker).await;
            self.take(index, totals, stored).await;
            self.state.let_go();
        }
    }

    /// Uploads file `index`, or skips it when an earlier run stored it,
    /// and tells the page.
    async fn take(&self, index: usize, totals: &RefCell<QueueTotals>, stored: &Stored) {
        let entry = self.entries.borrow()[index].clone();
        totals.borrow_mut().know(&self.entries.borrow());
        // A file stored before is skipped at once, with no await: a
        // cancel then finds it ended, as it finds a stored one. So is one
        // a paused run had stored, and dropped while it tidied up (it has
        // no marker yet).
        let unended = self.state.take_stored_unended(index);
        let outcome = match stored.keys.get(&entry.id).or(unended.as_ref()) {
            Some(key) => FileOutcome::Skipped { key: key.clone() },
            None => self.run_file(index, totals).await,
        };
        // Stored is for good: a cancel while its marker is written
        // finds nothing to cancel. The page hears of a file before what
        // follows its end (its marker written, a cancelled one's upload
        // aborted: a round trip, the page's turn after a skip), so that
        // a pause meanwhile, which drops the run, loses nothing it would
        // have heard, and a cancel meanwhile finds it ended.
        let outcome = self.state.set(index, outcome);
        totals.borrow_mut().ended(index, &outcome, entry.size);
        self.events.file_ended(index, &outcome);
        match &outcome {
            FileOutcome::Done(done) => self.mark(&entry, &done.key).await,
            FileOutcome::Skipped { key } if unended.is_some() => self.mark(&entry, key).await,
            FileOutcome::Skipped { .. } => self.give_the_page_a_turn(stored).await,
            // Best effort: what is left is collected like any orphan.
            FileOutcome::Cancelled => {
                let _ = self.runner.discard(index).await;
            }
            _ => {}
        }
        self.emit(totals, false);
    }

    /// Writes the done marker of `entry`, stored under `key`. A lost
    /// marker only means the file is sent again after a reload: the
    /// upload itself succeeded.
    async fn mark(&self, entry: &QueueEntry, key: &str) {
        let marker = DoneMarker {
            id: entry.id.clone(),
            batch: self.batch.to_owned(),
            key: key.to_owned(),
            stored_at: self.now(),
        };
        let _ = self.done.mark(&marker).await;
    }

    /// Gives the page's event loop a turn once skipping files held it for
    /// [`SKIP_SLICE_MS`]: a skip awaits nothing, so every worker of the
    /// run would skip on within one task. The workers share the slice, so
    /// all of them wait.
    async fn give_the_page_a_turn(&self, stored: &Stored) {
        if self.now() - stored.slice_began.get() < SKIP_SLICE_MS {
            return;
        }
        // The shortest wait that is a timer: the page renders and handles
        // its events before it ends.
        self.timer.sleep(1).await;
        stored.slice_began.set(self.now());
    }

    /// Counts the files added while the run goes on into the totals as
    /// they are added (a busy worker takes them only later). Never ends.
    async fn report_added(&self, totals: &RefCell<QueueTotals>) {
        let mut known = 0;
        loop {
            known = self.state.added_beyond(known).await;
            totals.borrow_mut().know(&self.entries.borrow());
            self.emit(totals, true);
        }
    }

    /// Tells the page of each file cancelled while it waited, as it is
    /// cancelled (it never runs, so no worker would). Never ends: the run
    /// drops it when its workers end.
    async fn report_cancels(&self, totals: &RefCell<QueueTotals>) {
        loop {
            self.state.waiting_cancelled().await;
            self.report_cancelled(Some(totals));
            self.emit(totals, true);
        }
    }

    /// Tells the page of the files cancelled while no worker held them,
    /// and takes them out of `totals` when those counted them.
    fn report_cancelled(&self, totals: Option<&RefCell<QueueTotals>>) {
        for index in self.state.take_cancelled() {
            if let Some(totals) = totals {
                let entries = self.entries.borrow();
                let mut totals = totals.borrow_mut();
                totals.know(&entries);
                totals.ended(index, &FileOutcome::Cancelled, entries[index].size);
            }
            self.events.file_ended(index, &FileOutcome::Cancelled);
        }
    }

    /// Runs file `index` until it ends or is cancelled (what a cancelled
    /// one left is discarded once the page heard of it).
    async fn run_file(&self, index: usize, totals: &RefCell<QueueTotals>) -> FileOutcome {
        let progress = |p: Progress| {
            totals.borrow_mut().file_progress(index, p);
            self.emit(totals, false);
        };
        let stored = |key: &str| self.state.object_stored(index, key);
        let cancelled = pin!(self.state.cancelled(index));
        let running = self.runner.run(index, &progress, &stored);
        // A cancel drops the running upload (which aborts its requests).
        let finished = match select(running, cancelled).await {
            Either::Left((result, _)) => Some(result),
            Either::Right(_) => None,
        };
        match finished {
            Some(Ok(done)) => FileOutcome::Done(done),
            Some(Err(error)) => FileOutcome::Failed(error),
            None => FileOutcome::Cancelled,
        }
    }

    /// When every file is stored (or skipped, or cancelled), the batch's
    /// markers go: it is done. Markers of another batch (files it stored
    /// that this one skipped) stay with it: that batch is left listed, so
    /// that adding its whole folder later still skips them.
    async fn finish(&self) {
        if !self.state.all_ended() {
            return;
        }
        match self.done.markers().await {
            Ok(markers) => {
                let ids: Vec<String> = markers
                    .into_iter()
                    .filter(|m| m.batch == self.batch)
                    .map(|m| m.id)
                    .collect();
                self.forget(&ids).await;
            }
            Err(error) => {
                let then = "done markers are left behind, until they expire";
                self.events.warning(Warning::storage(&error, then));
            }
        }
    }

    /// Tells the page the progress: at once when `now`, else at most every
    /// [`progress::EVERY_MS`].
    fn emit(&self, totals: &RefCell<QueueTotals>, now: bool) {
        let progress = totals.borrow_mut().snapshot(self.now(), now);
        if let Some(progress) = progress {
            self.state.reported(progress);
            self.events.progress(progress);
        }
    }

    fn now(&self) -> f64 {
        self.timer.now_ms()
    }
}
