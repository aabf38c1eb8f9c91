//! Where each file of a queue stands, kept between runs (a pause, a retry
//! of the failed files), and reached by `cancel` while a run goes on.

use std::cell::{Cell, Ref, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

use super::progress::QueueProgress;
use super::streak::Streak;
use crate::driver::Completed;
use crate::error::Error;

/// Where one file of a queue stands.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// Not started in this run yet.
    Waiting,
    /// Being uploaded.
    Running,
    /// Stored by an earlier run (its done marker, or the key a run dropped
    /// while it tidied up had told: [`QueueState::object_stored`]), so not
    /// sent again.
    Skipped {
        /// The object key it was stored under.
        key: String,
    },
    /// Stored.
    Done(Box<Completed>),
    /// Failed for good (after its retries); the next run tries it again.
    Failed(Error),
    /// Cancelled by the page: never sent again.
    Cancelled,
}

impl FileOutcome {
    /// Whether the file has ended for good (stored, skipped or cancelled).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            FileOutcome::Skipped { .. } | FileOutcome::Done(_) | FileOutcome::Cancelled
        )
    }
}

/// Who waits on a [`QueueState`], and for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// The run of file `0`, for its cancel.
    File(usize),
    /// The run, for a file cancelled while it waited.
    WaitingCancelled,
    /// The run, for files added while it runs.
    Added,
    /// Worker `0` of the run, without a file: for a file to take.
    Worker(usize),
    /// The run, for its end: no file waits and no worker holds one.
    Over,
}

/// The outcomes of a queue's files.
#[derive(Debug, Default)]
pub struct QueueState {
    outcomes: RefCell<Vec<FileOutcome>>,
    /// Where the next file is looked for.
    next: Cell<usize>,
    /// Files a worker of the run took and has not let go of yet.
    in_hand: Cell<usize>,
    /// The run's futures waiting on the state (see [`Wake`]).
    wakers: RefCell<Vec<(Wake, Waker)>>,
    /// Files cancelled while they waited, which the page has not heard of.
    unreported: RefCell<Vec<usize>>,
    /// The queue-wide failures in a row, and whether they stopped the run.
    streak: Streak,
    /// Files whose object the store holds, under these keys, while their
    /// run had not ended (it tidied up): see [`object_stored`](Self::object_stored).
    stored_unended: RefCell<Vec<(usize, String)>>,
    /// The progress the page was told last, by any run, while no file was
    /// added or cancelled since (its totals are the queue's).
    last_progress: Cell<Option<QueueProgress>>,
    /// Whether a run goes on ([`Queue::run`](super::Queue::run)): it
    /// tells the page of the files cancelled meanwhile.
    run_active: Cell<bool>,
}

impl QueueState {
    /// No files yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `count` more files, waiting: a running run's idle workers take
    /// them at once.
    pub fn add(&self, count: usize) {
        {
            let mut outcomes = self.outcomes.borrow_mut();
            let len = outcomes.len() + count;
            outcomes.resize(len, FileOutcome::Waiting);
        }
        self.last_progress.set(None);
        self.wake(|key| matches!(key, Wake::Added | Wake::Worker(_)));
    }

    /// How many files the queue holds.
    pub fn len(&self) -> usize {
        self.outcomes.borrow().len()
    }

    /// Whether the queue holds no file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Before a run: files left running by a dropped run and failed ones
    /// wait again, files are taken from the first, and a stop of the run
    /// before ([`stopped_by`](Self::stopped_by)) is over.
    pub fn prepare_run(&self) {
        self.stop_running();
        self.streak.reset();
        for outcome in self.outcomes.borrow_mut().iter_mut() {
            if matches!(outcome, FileOutcome::Failed(_)) {
                *outcome = FileOutcome::Waiting;
            }
        }
        self.next.set(0);
    }

    /// A run ended or was dropped (a pause): the files it was running
    /// wait again (a cancel of one then is reported like any waiting
    /// file's), and no worker holds a file.
    pub fn stop_running(&self) {
        for outcome in self.outcomes.borrow_mut().iter_mut() {
            if *outcome == FileOutcome::Running {
                *outcome = FileOutcome::Waiting;
            }
        }
        self.in_hand.set(0);
    }

    /// The outcomes, by file.
    pub fn outcomes(&self) -> Ref<'_, Vec<FileOutcome>> {
        self.outcomes.borrow()
    }

    /// Whether file `index` waits to be sent.
    pub fn is_to_do(&self, index: usize) -> bool {
        matches!(
            self.outcomes.borrow().get(index),
            Some(FileOutcome::Waiting)
        )
    }

    /// The next waiting file, now running and in the hand of the worker
    /// that took it (until it [`lets go`](Self::let_go)); none once the
    /// run [stopped](Self::stopped_by).
    pub fn take_next(&self) -> Option<usize> {
        if self.streak.is_stopped() {
            return None;
        }
        let mut outcomes = self.outcomes.borrow_mut();
        let start = self.next.get();
        let offset = outcomes[start.min(outcomes.len())..]
            .iter()
            .position(|o| *o == FileOutcome::Waiting)?;
        let index = start + offset;
        outcomes[index] = FileOutcome::Running;
        self.next.set(index + 1);
        self.in_hand.set(self.in_hand.get() + 1);
        Some(index)
    }

    /// Whether a file waits to be taken (none does once the run
    /// [stopped](Self::stopped_by): the waiting ones wait for the next).
    pub fn has_waiting(&self) -> bool {
        if self.streak.is_stopped() {
            return false;
        }
        let outcomes = self.outcomes.borrow();
        outcomes[self.next.get().min(outcomes.len())..].contains(&FileOutcome::Waiting)
    }

    /// A worker is done with the file it took (ended, and its marker
    /// written).
    pub fn let_go(&self) {
        let left = self.in_hand.get().saturating_sub(1);
        self.in_hand.set(left);
        if left == 0 {
            self.wake(|key| key == Wake::Over);
        }
    }

    /// The next file for worker `worker` of a run: a waiting one, or the
    /// next one added (never resolves when none is; the run ends with
    /// [`run_over`](Self::run_over)).
    pub async fn next_for(&self, worker: usize) -> usize {
        loop {
            if let Some(index) = self.take_next() {
                return index;
            }
            self.woken_when(Wake::Worker(worker), Self::has_waiting)
                .await;
        }
    }

    /// Resolves once no file waits and no worker holds one: the run is
    /// over (files added while a worker still holds one join the run).
    pub async fn run_over(&self) {
        self.woken_when(Wake::Over, |state| {
            state.in_hand.get() == 0 && !state.has_waiting()
        })
        .await
    }

    /// Resolves once the queue holds more than `known` files; answers how
    /// many it holds.
    pub async fn added_beyond(&self, known: usize) -> usize {
        self.woken_when(Wake::Added, |state| state.len() > known)
            .await;
        self.len()
    }

    /// Sets file `index`'s outcome and answers the one it keeps: a file
    /// cancelled stays cancelled, even when its upload ended in the same
    /// turn as the cancel (whose `true` the page has been told). Counts
    /// it toward a stop of the run ([`stopped_by`](Self::stopped_by)).
    /// The file's ended: a key its run told is forgotten.
    pub fn set(&self, index: usize, outcome: FileOutcome) -> FileOutcome {
        self.take_stored_unended(index);
        let mut outcomes = self.outcomes.borrow_mut();
        let Some(slot) = outcomes.get_mut(index) else {
            return outcome;
        };
        if *slot != FileOutcome::Cancelled {
            self.streak.ended(&outcome);
            *slot = outcome;
        }
        slot.clone()
    }

    /// File `index`'s object is stored under `key`, and its run only
    /// tidies up now (the record's removal). A pause that drops the run
    /// then must not have the file sent again: the next run takes it as
    /// stored ([`take_stored_unended`](Self::take_stored_unended)).
    pub fn object_stored(&self, index: usize, key: &str) {
        self.take_stored_unended(index);
        self.stored_unended
            .borrow_mut()
            .push((index, key.to_owned()));
    }

    /// A run begins (`true`) or has ended or was dropped (`false`).
    pub fn set_run_active(&self, active: bool) {
        self.run_active.set(active);
    }

    /// Whether a run goes on, which tells the page of the files cancelled
    /// meanwhile; else the canceller tells it.
    pub fn run_active(&self) -> bool {
        self.run_active.get()
    }

    /// The page was told `progress`.
    pub fn reported(&self, progress: QueueProgress) {
        self.last_progress.set(Some(progress));
    }

    /// The progress the page was told last, by this run or an earlier one.
    pub fn last_progress(&self) -> Option<QueueProgress> {
        self.last_progress.get()
    }

    /// The key file `index`'s object was stored under by a run that was
    /// dropped before the file's end, if any (then forgotten).
    pub fn take_stored_unended(&self, index: usize) -> Option<String> {
        let at = self.stored_unended_at(index)?;
        Some(self.stored_unended.borrow_mut().swap_remove(at).1)
    }

    /// Where file `index` is in `stored_unended`, if it is.
    fn stored_unended_at(&self, index: usize) -> Option<usize> {
        self.stored_unended
            .borrow()
            .iter()
            .position(|(i, _)| *i == index)
    }

    /// The error that stopped the run, if [`STOP_AFTER`] files in a row
    /// failed with a queue-wide one ([`ErrorKind::is_queue_wide`](crate::error::ErrorKind::is_queue_wide)), none
    /// stored in between: no file is taken from then on, and the waiting
    /// ones wait for the next run.
    ///
    /// [`STOP_AFTER`]: super::STOP_AFTER
    pub fn stopped_by(&self) -> Option<Error> {
        self.streak.stopped_by()
    }

    /// Cancels file `index` unless it has ended: a running upload stops at
    /// once. Answers whether it was cancelled. A file that no run's worker
    /// holds (waiting, or failed) is reported through
    /// [`take_cancelled`](Self::take_cancelled). A file whose object the
    /// store holds has ended, its run tidying up or dropped then
    /// ([`object_stored`](Self::object_stored)): stored is for good.
    pub fn cancel(&self, index: usize) -> bool {
        if self.stored_unended_at(index).is_some() {
            return false;
        }
        let cancelled = match self.outcomes.borrow_mut().get_mut(index) {
            Some(outcome) if !outcome.is_final() => {
                if matches!(outcome, FileOutcome::Waiting | FileOutcome::Failed(_)) {
                    self.unreported.borrow_mut().push(index);
                }
                *outcome = FileOutcome::Cancelled;
                true
            }
            _ => false,
        };
        if cancelled {
            self.last_progress.set(None);
        }
        let waited = !self.unreported.borrow().is_empty();
        // The last file waiting may be gone: the run may be over.
        self.wake(|key| {
            key == Wake::File(index)
                || key == Wake::Over
                || (waited && key == Wake::WaitingCancelled)
        });
        cancelled
    }

    /// Wakes the waits whose key is `which`.
    fn wake(&self, which: impl Fn(Wake) -> bool) {
        let woken: Vec<Waker> = {
            let mut wakers = self.wakers.borrow_mut();
            let (mine, others) = wakers.drain(..).partition(|(key, _)| which(*key));
            *wakers = others;
            mine.into_iter().map(|(_, waker)| waker).collect()
        };
        woken.into_iter().for_each(Waker::wake);
    }

    /// The files cancelled while no worker held them (waiting, or failed)
    /// since this was last asked: no worker tells the page of them.
    pub fn take_cancelled(&self) -> Vec<usize> {
        self.unreported.take()
    }

    /// Resolves once file `index` is cancelled; dropped before, it takes
    /// its waker back.
    pub async fn cancelled(&self, index: usize) {
        self.woken_when(Wake::File(index), |state| {
            matches!(
                state.outcomes.borrow().get(index),
                Some(FileOutcome::Cancelled)
            )
        })
        .await
    }

    /// Resolves once a file was cancelled while it waited, and the page
    /// has not heard of it ([`take_cancelled`](Self::take_cancelled)).
    pub async fn waiting_cancelled(&self) {
        self.woken_when(Wake::WaitingCancelled, |state| {
            !state.unreported.borrow().is_empty()
        })
        .await
    }

    /// Resolves once `ready`, checked whenever waker `key` is woken (by a
    /// cancel, an add, or a worker letting go of its file); dropped
    /// before, it takes its waker back.
    async fn woken_when(&self, key: Wake, ready: impl Fn(&Self) -> bool) {
        let _unwait = Unwait(self, key);
        poll_fn(|cx| {
            if ready(self) {
                return Poll::Ready(());
            }
            let mut wakers = self.wakers.borrow_mut();
            wakers.retain(|(k, _)| *k != key);
            wakers.push((key, cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    /// Whether every file has ended for good.
    pub fn all_ended(&self) -> bool {
        self.outcomes.borrow().iter().all(FileOutcome::is_final)
    }
}

/// Takes a dropped wait's waker back, so that none pile up over a run of
/// many files.
struct Unwait<'a>(&'a QueueState, Wake);

impl Drop for Unwait<'_> {
    fn drop(&mut self) {
        let key = self.1;
        self.0.wakers.borrow_mut().retain(|(k, _)| *k != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::future::Future;

    #[test]
    fn files_are_taken_in_order_and_a_run_retakes_the_unfinished() {
        let state = QueueState::new();
        state.add(3);
        assert_eq!(state.take_next(), Some(0));
        assert_eq!(state.take_next(), Some(1));
        state.set(0, FileOutcome::Failed(ErrorKind::Aborted.into()));
        state.add(1);
        assert_eq!(state.take_next(), Some(2));
        assert_eq!(state.take_next(), Some(3));
        assert_eq!(state.take_next(), None);
        let done = FileOutcome::Skipped { key: "k".into() };
        state.set(2, done.clone());
        state.set(3, done);
        // A pause dropped the run with file 1 running.
        state.prepare_run();
        assert_eq!(state.take_next(), Some(0), "the failed file again");
        assert_eq!(state.take_next(), Some(1), "the interrupted one");
        assert_eq!(state.take_next(), None);
    }

    #[test]
    fn a_cancelled_file_stays_cancelled() {
        let state = QueueState::new();
        state.add(2);
        assert!(state.cancel(1));
        assert_eq!(state.take_next(), Some(0));
        assert_eq!(state.take_next(), None, "the cancelled file is not taken");
        state.set(1, FileOutcome::Failed(ErrorKind::Aborted.into()));
        assert_eq!(state.outcomes()[1], FileOutcome::Cancelled);
        state.set(0, FileOutcome::Skipped { key: "k".into() });
        assert!(!state.cancel(0), "an ended file cannot be cancelled");
        assert!(state.all_ended());
    }

    #[test]
    fn an_idle_worker_takes_a_file_added_and_the_run_ends_when_none_is_held() {
        let state = QueueState::new();
        state.add(1);
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let mut over = Box::pin(state.run_over());
        assert_eq!(state.take_next(), Some(0));
        let mut idle = Box::pin(state.next_for(1));
        assert!(idle.as_mut().poll(&mut cx).is_pending());
        state.add(1);
        assert_eq!(
            idle.as_mut().poll(&mut cx),
            Poll::Ready(1),
            "the added file"
        );
        assert!(over.as_mut().poll(&mut cx).is_pending(), "two files held");
        state.let_go();
        state.let_go();
        assert!(over.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_run_whose_last_waiting_file_is_cancelled_is_over() {
        // Added while no worker held a file, then cancelled before any
        // worker took it: nothing is left to wake the run but the cancel.
        struct Flag(std::sync::atomic::AtomicBool);
        impl futures::task::ArcWake for Flag {
            fn wake_by_ref(flag: &std::sync::Arc<Self>) {
                flag.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let flag = std::sync::Arc::new(Flag(false.into()));
        let waker = futures::task::waker(flag.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let state = QueueState::new();
        state.add(1);
        let mut over = Box::pin(state.run_over());
        assert!(over.as_mut().poll(&mut cx).is_pending());
        assert!(state.cancel(0));
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst), "woken");
        assert!(over.as_mut().poll(&mut cx).is_ready());
        assert!(state.wakers.borrow().is_empty());
    }

    #[test]
    fn a_dropped_wait_for_a_cancel_leaves_no_waker() {
        let state = QueueState::new();
        state.add(2);
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        for index in 0..2 {
            let mut waiting = Box::pin(state.cancelled(index));
            assert!(waiting.as_mut().poll(&mut cx).is_pending());
        }
        assert!(state.wakers.borrow().is_empty());
    }
}
