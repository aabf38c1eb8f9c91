//! Whether the next part request listens to its upload progress.
//!
//! Listening costs: in Chromium here, XMLHttpRequest PUTs of Blob bodies
//! with an upload progress listener ran at 0.81-0.85 of fetch's speed, and
//! at fetch's speed without one. A listener is needed where a request takes
//! long: to show progress within it, and to tell a stalled request from a
//! slow one. So a request expected to take under an eighth of the stall
//! timeout, at the rate the last stored one went, goes unwatched (it then
//! gives up when it does not finish within the stall timeout); a larger or
//! slower one, or the next after a request given up at the stall timeout,
//! is watched. The rate, not the last request's time, is what is kept: in
//! a queue, a tiny file stored in 50 ms says nothing of how long an 8 MiB
//! part takes.
//!
//! ```
//! use resupload::core::watch::ProgressWatch;
//! let watch = ProgressWatch::new(30_000);
//! assert!(watch.watching_for(8 << 20), "nothing measured yet");
//! watch.stored(8 << 20, 100.0);
//! assert!(!watch.watching_for(8 << 20));
//! watch.stored(8 << 20, 10_000.0);
//! assert!(watch.watching_for(8 << 20));
//! ```

use std::cell::Cell;

/// Learns from the requests' rates whether to watch the next one.
#[derive(Debug)]
pub struct ProgressWatch {
    stall_timeout_ms: u32,
    /// Bytes per millisecond of the last request stored, if any.
    rate: Cell<Option<f64>>,
    /// A request was given up slowly since: watch the next.
    after_slow_failure: Cell<bool>,
}

impl ProgressWatch {
    /// Watching, until a request goes fast (with this stall timeout).
    pub fn new(stall_timeout_ms: u32) -> Self {
        ProgressWatch {
            stall_timeout_ms,
            rate: Cell::new(None),
            after_slow_failure: Cell::new(false),
        }
    }

    /// Whether a request of `bytes` should listen to its progress.
    pub fn watching_for(&self, bytes: u64) -> bool {
        let expected_ms = match self.rate.get() {
            Some(rate) if rate > 0.0 => bytes as f64 / rate,
            _ => f64::INFINITY,
        };
        self.after_slow_failure.get() || self.slow(expected_ms)
    }

    /// A request of `bytes` was stored after `ms` milliseconds (an empty
    /// one tells no rate).
    pub fn stored(&self, bytes: u64, ms: f64) {
        if bytes > 0 {
            self.rate.set(Some(bytes as f64 / ms.max(1.0)));
            self.after_slow_failure.set(false);
        }
    }

    /// A request failed after `ms` milliseconds. A slow failure (an
    /// unwatched request given up at the stall timeout, on a link that
    /// slowed down) has the next request watched, so that its retry counts
    /// its timeout from its last progress, not from its start; a fast
    /// failure (an error answer) says nothing about the link's speed.
    pub fn failed(&self, ms: f64) {
        if self.slow(ms) {
            self.after_slow_failure.set(true);
        }
    }

    fn slow(&self, ms: f64) -> bool {
        ms >= f64::from(self.stall_timeout_ms) / 8.0
    }
}

#[cfg(test)]
mod tests {
    use super::ProgressWatch;

    const PART: u64 = 8 << 20;

    #[test]
    fn watches_until_a_part_goes_fast_and_again_after_a_slow_one() {
        let watch = ProgressWatch::new(30_000);
        assert!(watch.watching_for(PART), "the first parts are watched");
        watch.stored(PART, 120.0);
        assert!(
            !watch.watching_for(PART),
            "a fast part lets the next go unwatched"
        );
        watch.stored(PART, 90.0);
        assert!(!watch.watching_for(PART));
        watch.stored(PART, 20_000.0);
        assert!(
            watch.watching_for(PART),
            "one slow part turns watching back on"
        );
    }

    #[test]
    fn the_line_is_an_eighth_of_the_stall_timeout() {
        let watch = ProgressWatch::new(30_000);
        watch.stored(PART, 3_749.0);
        assert!(!watch.watching_for(PART));
        watch.stored(PART, 3_750.0);
        assert!(watch.watching_for(PART));
        let short = ProgressWatch::new(1_500);
        short.stored(PART, 187.0);
        assert!(!short.watching_for(PART));
        short.stored(PART, 188.0);
        assert!(short.watching_for(PART));
    }

    #[test]
    fn a_tiny_file_stored_fast_leaves_a_large_part_watched() {
        // A queue: 1 KiB files in 50 ms beside 8 MiB parts (before, any
        // request under 3.75 s turned watching off for every request).
        let watch = ProgressWatch::new(30_000);
        watch.stored(1024, 50.0);
        assert!(watch.watching_for(PART), "8 MiB at 20 KB/s: 410 s");
        assert!(
            !watch.watching_for(1024),
            "the next tiny file goes unwatched"
        );
        watch.stored(PART, 400.0);
        assert!(
            !watch.watching_for(PART),
            "a fast part says the link is fast"
        );
    }

    #[test]
    fn an_empty_request_teaches_nothing() {
        let watch = ProgressWatch::new(30_000);
        watch.stored(0, 5.0);
        assert!(watch.watching_for(PART), "still nothing measured");
        watch.stored(PART, 100.0);
        watch.stored(0, 5_000.0);
        assert!(
            !watch.watching_for(PART),
            "the rate of the last part stands"
        );
    }

    #[test]
    fn a_request_given_up_unwatched_turns_watching_back_on() {
        let watch = ProgressWatch::new(30_000);
        watch.stored(PART, 100.0);
        assert!(!watch.watching_for(PART));
        watch.failed(50.0);
        assert!(
            !watch.watching_for(PART),
            "a fast error answer says nothing about speed"
        );
        watch.failed(30_000.0);
        assert!(
            watch.watching_for(PART),
            "the retry of a part given up at the stall timeout is watched"
        );
        watch.failed(10.0);
        assert!(
            watch.watching_for(PART),
            "a failure never turns watching off"
        );
        watch.stored(PART, 100.0);
        assert!(!watch.watching_for(PART), "until a request is stored fast");
    }
}
