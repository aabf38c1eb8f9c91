//! Whether the next part request listens to its upload progress.
//!
//! Listening costs: in Chromium here, XMLHttpRequest PUTs of Blob bodies
//! with an upload progress listener ran at 0.81-0.85 of fetch's speed, and
//! at fetch's speed without one. A listener is needed where a part takes
//! long: to show progress within it, and to tell a stalled request from a
//! slow one. So a part that took under an eighth of the stall timeout lets
//! the next ones go unwatched (a request then gives up when it does not
//! finish within the stall timeout); one slower part turns watching back on.
//!
//! ```
//! use resupload::core::watch::ProgressWatch;
//! let watch = ProgressWatch::new(30_000);
//! assert!(watch.watching());
//! watch.part_took(100.0);
//! assert!(!watch.watching());
//! watch.part_took(10_000.0);
//! assert!(watch.watching());
//! ```

use std::cell::Cell;

/// Learns from the parts' times whether to watch the next one.
#[derive(Debug)]
pub struct ProgressWatch {
    stall_timeout_ms: u32,
    watching: Cell<bool>,
}

impl ProgressWatch {
    /// Watching, until a part goes fast (with this stall timeout).
    pub fn new(stall_timeout_ms: u32) -> Self {
        ProgressWatch {
            stall_timeout_ms,
            watching: Cell::new(true),
        }
    }

    /// Whether the next request should listen to its progress.
    pub fn watching(&self) -> bool {
        self.watching.get()
    }

    /// A part's request succeeded after `ms` milliseconds.
    pub fn part_took(&self, ms: f64) {
        self.watching
            .set(ms >= f64::from(self.stall_timeout_ms) / 8.0);
    }
}
