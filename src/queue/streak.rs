//! When a queue stops by itself: files failing one after another for a
//! reason that is not theirs ([`Error::is_queue_wide`]: the backend or the
//! store unreachable, the app's sign-in expired, the `headers` function
//! failing, …) would fail every file of the queue alike, each after its
//! own retries. After [`STOP_AFTER`] in a row, with no file stored in
//! between, the queue starts no more files, and its run answers the error.

use std::cell::{Cell, RefCell};

use super::state::FileOutcome;
use crate::error::Error;

/// How many files in a row must fail with a queue-wide error, none stored
/// in between, before the queue stops. One is a file's bad luck (its
/// request met a restart of the backend); two may still be one short
/// outage; three, each after its whole retry policy (about 9 s of retries
/// with the default delays), are an outage, or credentials refused, that
/// every other file would meet too. The files already running then end
/// on their own, so a stop costs at most this many files more than run at
/// once.
pub const STOP_AFTER: usize = 3;

/// The queue-wide failures since the last file stored, and the error that
/// stopped the queue.
#[derive(Debug, Default)]
pub(super) struct Streak {
    in_a_row: Cell<usize>,
    stopped_by: RefCell<Option<Error>>,
}

impl Streak {
    /// A file ended with `outcome`: a stored one starts the count again, a
    /// queue-wide failure adds to it (and stops the queue at
    /// [`STOP_AFTER`]); a skipped, cancelled or file-specific ending
    /// tells nothing of the queue, and leaves it.
    pub fn ended(&self, outcome: &FileOutcome) {
        match outcome {
            FileOutcome::Done(_) => self.in_a_row.set(0),
            FileOutcome::Failed(error) if error.is_queue_wide() => {
                let in_a_row = self.in_a_row.get() + 1;
                self.in_a_row.set(in_a_row);
                if in_a_row >= STOP_AFTER && !self.is_stopped() {
                    *self.stopped_by.borrow_mut() = Some(error.clone());
                }
            }
            _ => {}
        }
    }

    /// Whether the queue stopped: it starts no more files.
    pub fn is_stopped(&self) -> bool {
        self.stopped_by.borrow().is_some()
    }

    /// The error that stopped the queue, if it stopped.
    pub fn stopped_by(&self) -> Option<Error> {
        self.stopped_by.borrow().clone()
    }

    /// A new run: nothing counted, not stopped.
    pub fn reset(&self) {
        self.in_a_row.set(0);
        self.stopped_by.take();
    }
}
