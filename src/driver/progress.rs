//! Progress of the whole upload, never going backwards.

use std::cell::RefCell;

use super::Driver;
use crate::ports::Progress;

/// Sums confirmed bytes and the bytes of parts in flight, never reporting
/// less than before.
#[derive(Debug)]
pub(super) struct ProgressTracker {
    confirmed: u64,
    total: u64,
    /// The bytes sent of each part in flight (a handful: a Vec is smaller
    /// code than a map).
    in_flight: Vec<(u32, u64)>,
    last: Option<Progress>,
}

impl ProgressTracker {
    /// A tracker from `confirmed` bytes, the page told of `reported` bytes
    /// sent and confirmed already (parts sent again after the store refused
    /// them at completion): it never reports less.
    pub fn new(confirmed: u64, total: u64, reported: u64) -> Self {
        let told = Progress {
            sent_bytes: reported,
            confirmed_bytes: reported,
            total_bytes: total,
        };
        ProgressTracker {
            confirmed,
            total,
            in_flight: Vec::new(),
            last: (reported > 0).then_some(told),
        }
    }

    pub fn part_sent(&mut self, number: u32, sent: u64) {
        match self.in_flight.iter_mut().find(|e| e.0 == number) {
            Some(entry) => entry.1 = sent,
            None => self.in_flight.push((number, sent)),
        }
    }

    /// The bytes confirmed so far (stored parts included).
    pub fn confirmed(&self) -> u64 {
        self.confirmed
    }

    pub fn part_confirmed(&mut self, number: u32, size: u64) {
        self.in_flight.retain(|e| e.0 != number);
        self.confirmed += size;
    }

    /// The progress to report, or `None` if nothing changed.
    pub fn snapshot(&mut self) -> Option<Progress> {
        let in_flight: u64 = self.in_flight.iter().map(|e| e.1).sum();
        let last = self
            .last
            .map_or((0, 0), |p| (p.sent_bytes, p.confirmed_bytes));
        let next = Progress {
            sent_bytes: (self.confirmed + in_flight).min(self.total).max(last.0),
            confirmed_bytes: self.confirmed.max(last.1),
            total_bytes: self.total,
        };
        if self.last == Some(next) {
            return None;
        }
        self.last = Some(next);
        Some(next)
    }
}

impl<B> Driver<'_, B> {
    /// Tells the page the progress, if it changed.
    pub(super) fn emit_progress(&self, tracker: &RefCell<ProgressTracker>) {
        let progress = tracker.borrow_mut().snapshot();
        if let Some(progress) = progress {
            self.events.progress(progress);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_never_goes_backwards() {
        let mut t = ProgressTracker::new(0, 100, 0);
        t.part_sent(1, 40);
        assert_eq!(t.snapshot().unwrap().sent_bytes, 40);
        t.part_sent(1, 0); // a retry starts over
        assert_eq!(t.snapshot(), None, "nothing new to say");
        t.part_sent(1, 50);
        assert_eq!(t.snapshot().unwrap().sent_bytes, 50);
        t.part_confirmed(1, 50);
        let p = t.snapshot().unwrap();
        assert_eq!(
            (p.sent_bytes, p.confirmed_bytes, p.total_bytes),
            (50, 50, 100)
        );
    }

    #[test]
    fn a_resend_after_everything_was_reported_reports_no_less() {
        let mut t = ProgressTracker::new(60, 100, 100);
        assert_eq!(t.snapshot(), None, "nothing new to say");
        t.part_sent(2, 40);
        t.part_confirmed(2, 40);
        assert_eq!(t.snapshot(), None);
    }
}
