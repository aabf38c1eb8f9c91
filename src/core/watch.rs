//! Whether the next part request listens to its upload progress.
//!
//! Listening costs: in Chromium here, XMLHttpRequest PUTs of Blob bodies
//! with an upload progress listener ran at 0.81-0.85 of fetch's speed, and
//! at fetch's speed without one. A listener is needed where a part takes
//! long: to show progress within it, and to tell a stalled request from a
//! slow one. So a part that took under an eighth of the stall timeout lets
//! the next ones go unwatched (a request then gives up when it does not
//! finish within the stall timeout); one slower part, or a request given up
//! at the stall timeout, turns watching back on.
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
        self.watching.set(self.slow(ms));
    }

    /// A part's request failed after `ms` milliseconds. A slow failure (an
    /// unwatched request given up at the stall timeout, on a link that
    /// slowed down) turns watching back on, so that its retry counts its
    /// timeout from its last progress, not from its start; a fast failure
    /// (an error answer) says nothing about the link's speed.
    pub fn part_failed(&self, ms: f64) {
        if self.slow(ms) {
            self.watching.set(true);
        }
    }

    fn slow(&self, ms: f64) -> bool {
        ms >= f64::from(self.stall_timeout_ms) / 8.0
    }
}

#[cfg(test)]
mod tests {
    use super::ProgressWatch;

    #[test]
    fn watches_until_a_part_goes_fast_and_again_after_a_slow_one() {
        let watch = ProgressWatch::new(30_000);
        assert!(watch.watching(), "the first parts are watched");
        watch.part_took(120.0);
        assert!(!watch.watching(), "a fast part lets the next go unwatched");
        watch.part_took(90.0);
        assert!(!watch.watching());
        watch.part_took(20_000.0);
        assert!(watch.watching(), "one slow part turns watching back on");
    }

    #[test]
    fn the_line_is_an_eighth_of_the_stall_timeout() {
        let watch = ProgressWatch::new(30_000);
        watch.part_took(3_749.0);
        assert!(!watch.watching());
        watch.part_took(3_750.0);
        assert!(watch.watching());
        let short = ProgressWatch::new(1_500);
        short.part_took(187.0);
        assert!(!short.watching());
        short.part_took(188.0);
        assert!(short.watching());
    }

    #[test]
    fn a_request_given_up_unwatched_turns_watching_back_on() {
        let watch = ProgressWatch::new(30_000);
        watch.part_took(100.0);
        assert!(!watch.watching());
        watch.part_failed(50.0);
        assert!(
            !watch.watching(),
            "a fast error answer says nothing about speed"
        );
        watch.part_failed(30_000.0);
        assert!(
            watch.watching(),
            "the retry of a part given up at the stall timeout is watched"
        );
        watch.part_failed(10.0);
        assert!(watch.watching(), "a failure never turns watching off");
    }
}
