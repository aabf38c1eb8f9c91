//! The record keys of the runs going on in this page (one thread), so that
//! a run never takes the upload another run holds for its file changed.

use std::cell::RefCell;

thread_local! {
    static LIVE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Holds a record key live until dropped (the run ended, or was dropped by
/// `pause()`).
pub(super) struct LiveRun(String);

impl LiveRun {
    /// Marks the record `id` live.
    pub fn new(id: &str) -> Self {
        LIVE.with_borrow_mut(|live| live.push(id.to_owned()));
        LiveRun(id.to_owned())
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        LIVE.with_borrow_mut(|live| {
            if let Some(i) = live.iter().position(|id| *id == self.0) {
                live.swap_remove(i);
            }
        });
    }
}

/// Whether a run of this page holds the record `id`.
pub(crate) fn is_live(id: &str) -> bool {
    LIVE.with_borrow(|live| live.iter().any(|held| held == id))
}
