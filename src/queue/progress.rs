//! One progress for a whole queue: files and bytes, a rate over the last
//! seconds, and the time left at that rate. A file skipped because an
//! earlier run stored it counts once, as done; a cancelled one leaves the
//! totals.

use std::collections::VecDeque;

use super::state::{FileOutcome, QueueState};
use super::QueueEntry;
use crate::ports::Progress;

/// The least time between two progress reports while bytes move (ms).
pub const EVERY_MS: f64 = 100.0;

/// The span the rate is measured over (ms).
const RATE_WINDOW_MS: f64 = 5_000.0;

/// A queue's progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueProgress {
    /// Files in the queue (cancelled ones left out).
    pub files_total: usize,
    /// Files stored (now or by an earlier run).
    pub files_done: usize,
    /// Files that failed in this run.
    pub files_failed: usize,
    /// Bytes handed to the network, stored ones included; never goes back
    /// while the totals stay.
    pub bytes_sent: u64,
    /// Bytes the store confirmed.
    pub bytes_confirmed: u64,
    /// Bytes of every file in the queue.
    pub bytes_total: u64,
    /// Bytes sent per second over the last seconds (0 until measured).
    pub bytes_per_second: f64,
    /// Seconds left at that rate, once there is a rate.
    pub eta_seconds: Option<f64>,
}

/// The sums behind [`QueueProgress`].
#[derive(Debug)]
pub(super) struct QueueTotals {
    files_total: usize,
    files_done: usize,
    files_failed: usize,
    bytes_total: u64,
    /// How many files the totals count (files added later join them).
    known: usize,
    /// Bytes of the files that ended stored.
    bytes_stored: u64,
    /// `(file, sent, confirmed)` of each running file.
    running: Vec<(usize, u64, u64)>,
    /// The files that failed (one cancelled then leaves `files_failed`).
    failed: Vec<usize>,
    /// Bytes counted as sent that this run did not send: files skipped as
    /// stored before, and the parts a resumed file had stored (its first
    /// report's confirmed bytes). Left out of the rate: 6 GB skipped in
    /// half a second is no 12 GB/s.
    carried: u64,
    /// `(time, bytes this run sent)` over the rate window.
    samples: VecDeque<(f64, u64)>,
    /// The bytes sent as last counted, before the floor: the count never
    /// goes back (a part sent again after a failure).
    counted: u64,
    /// The bytes sent that an earlier run of the same totals reported: the
    /// page is told no less (a resumed file tells its stored parts only
    /// with its first report). Not part of the rate.
    floor: u64,
    last: Option<QueueProgress>,
    last_at: f64,
}

impl QueueTotals {
    /// The totals of `entries` as `state` has them now.
    pub fn new(entries: &[QueueEntry], state: &QueueState, now: f64) -> Self {
        let mut totals = QueueTotals {
            files_total: 0,
            files_done: 0,
            files_failed: 0,
            bytes_total: 0,
            bytes_stored: 0,
            carried: 0,
            known: entries.len(),
            running: Vec::new(),
            failed: Vec::new(),
            samples: VecDeque::new(),
            counted: 0,
            floor: 0,
            last: None,
            last_at: now,
        };
        for (entry, outcome) in entries.iter().zip(state.outcomes().iter()) {
            if *outcome == FileOutcome::Cancelled {
                continue;
            }
            totals.files_total += 1;
            totals.bytes_total += entry.size;
            if outcome.is_final() {
                totals.files_done += 1;
                totals.bytes_stored += entry.size;
            }
        }
        let same_totals = |p: &QueueProgress| {
            (p.files_total, p.bytes_total) == (totals.files_total, totals.bytes_total)
        };
        if let Some(earlier) = state.last_progress().filter(same_totals) {
            totals.floor = earlier.bytes_sent;
        }
        totals
    }

    /// The files of `entries` added since the totals were made join them.
    pub fn know(&mut self, entries: &[QueueEntry]) {
        for entry in entries.get(self.known..).unwrap_or_default() {
            self.files_total += 1;
            self.bytes_total += entry.size;
        }
        self.known = self.known.max(entries.len());
    }

    /// File `index` got this far.
    pub fn file_progress(&mut self, index: usize, p: Progress) {
        match self.running.iter_mut().find(|r| r.0 == index) {
            Some(entry) => (entry.1, entry.2) = (p.sent_bytes, p.confirmed_bytes),
            None => {
                // A file's first report is where its upload starts from.
                self.carried += p.confirmed_bytes;
                self.running.push((index, p.sent_bytes, p.confirmed_bytes));
            }
        }
    }

    /// File `index` (of `size` bytes) ended with `outcome`.
    pub fn ended(&mut self, index: usize, outcome: &FileOutcome, size: u64) {
        self.running.retain(|r| r.0 != index);
        match outcome {
            FileOutcome::Done(_) => {
                self.files_done += 1;
                self.bytes_stored += size;
            }
            FileOutcome::Skipped { .. } => {
                self.files_done += 1;
                self.bytes_stored += size;
                self.carried += size;
            }
            FileOutcome::Failed(_) => {
                self.files_failed += 1;
                self.failed.push(index);
            }
            FileOutcome::Cancelled => {
                if let Some(at) = self.failed.iter().position(|&i| i == index) {
                    self.failed.swap_remove(at);
                    self.files_failed -= 1;
                }
                self.files_total -= 1;
                self.bytes_total -= size;
                // Other totals: the bytes sent may go back.
                self.last = None;
                self.counted = 0;
                self.floor = 0;
            }
            FileOutcome::Waiting | FileOutcome::Running => {}
        }
    }

    /// The progress to report: `None` when nothing changed, or when less
    /// than [`EVERY_MS`] passed since the last report and `force` is off.
    pub fn snapshot(&mut self, now: f64, force: bool) -> Option<QueueProgress> {
        if !force && now - self.last_at < EVERY_MS {
            return None;
        }
        let running_sent: u64 = self.running.iter().map(|r| r.1).sum();
        let running_confirmed: u64 = self.running.iter().map(|r| r.2).sum();
        let counted = (self.bytes_stored + running_sent)
            .min(self.bytes_total)
            .max(self.counted);
        self.counted = counted;
        let bytes_per_second = self.rate(now, counted.saturating_sub(self.carried));
        let sent = counted.max(self.floor.min(self.bytes_total));
        let left = self.bytes_total.saturating_sub(sent) as f64;
        let next = QueueProgress {
            files_total: self.files_total,
            files_done: self.files_done,
            files_failed: self.files_failed,
            bytes_sent: sent,
            bytes_confirmed: self.bytes_stored + running_confirmed,
            bytes_total: self.bytes_total,
            bytes_per_second,
            eta_seconds: (bytes_per_second > 0.0).then(|| left / bytes_per_second),
        };
        let same = self.last.is_some_and(|last| {
            (
                last.files_total,
                last.files_done,
                last.files_failed,
                last.bytes_sent,
                last.bytes_confirmed,
                last.bytes_total,
            ) == (
                next.files_total,
                next.files_done,
                next.files_failed,
                next.bytes_sent,
                next.bytes_confirmed,
                next.bytes_total,
            )
        });
        if same {
            return None;
        }
        self.last = Some(next);
        self.last_at = now;
        Some(next)
    }

    /// Bytes per second over the window ending at `now`, `sent` the bytes
    /// this run sent.
    fn rate(&mut self, now: f64, sent: u64) -> f64 {
        self.samples.push_back((now, sent));
        while self.samples.len() > 2 && now - self.samples[1].0 > RATE_WINDOW_MS {
            self.samples.pop_front();
        }
        let (then, sent_then) = self.samples[0];
        match now - then {
            ms if ms >= 500.0 => sent.saturating_sub(sent_then) as f64 * 1000.0 / ms,
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Completed;

    fn entries(sizes: &[u64]) -> Vec<QueueEntry> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| QueueEntry {
                id: format!("f{i}"),
                size,
            })
            .collect()
    }

    fn progress(sent: u64, confirmed: u64) -> Progress {
        Progress {
            sent_bytes: sent,
            confirmed_bytes: confirmed,
            total_bytes: 100,
        }
    }

    #[test]
    fn a_skipped_file_counts_once_and_a_cancelled_one_leaves_the_totals() {
        let files = entries(&[100, 200, 300]);
        let state = QueueState::new();
        state.add(3);
        state.set(0, FileOutcome::Skipped { key: "k".into() });
        let mut totals = QueueTotals::new(&files, &state, 0.0);
        let first = totals.snapshot(0.0, true).unwrap();
        assert_eq!((first.files_done, first.files_total), (1, 3));
        assert_eq!((first.bytes_sent, first.bytes_total), (100, 600));
        totals.file_progress(1, progress(150, 100));
        let done = Completed {
            key: "k1".into(),
            upload_id: String::new(),
            location: String::new(),
            checksum_sha256: None,
        };
        totals.ended(1, &FileOutcome::Done(Box::new(done)), 200);
        totals.ended(2, &FileOutcome::Cancelled, 300);
        let last = totals.snapshot(1000.0, true).unwrap();
        assert_eq!((last.files_done, last.files_total), (2, 2));
        assert_eq!(
            (last.bytes_sent, last.bytes_confirmed, last.bytes_total),
            (300, 300, 300)
        );
    }

    #[test]
    fn a_later_run_of_the_same_totals_never_reports_fewer_bytes_sent() {
        // Paused with 3,000 of 10,000 bytes sent; resumed, the file tells
        // its stored parts only with its first report.
        let files = entries(&[10_000]);
        let state = QueueState::new();
        state.add(1);
        let mut first = QueueTotals::new(&files, &state, 0.0);
        first.file_progress(0, progress(3_000, 2_000));
        state.reported(first.snapshot(0.0, true).unwrap());
        let mut again = QueueTotals::new(&files, &state, 10_000.0);
        assert_eq!(again.snapshot(10_000.0, true).unwrap().bytes_sent, 3_000);
        again.file_progress(0, progress(2_000, 2_000));
        let p = again.snapshot(10_600.0, false).unwrap();
        assert_eq!(
            (p.bytes_sent, p.bytes_confirmed),
            (3_000, 2_000),
            "not back"
        );
        again.file_progress(0, progress(4_000, 2_000));
        let p = again.snapshot(11_000.0, false).unwrap();
        assert_eq!(p.bytes_sent, 4_000);
        assert_eq!(p.bytes_per_second, 2_000.0, "the rate is this run's own");
        state.reported(p);
        // Cancelled while paused and another of the same size added: other
        // files, no floor, though the totals are the same.
        assert!(state.cancel(0));
        let replaced = entries(&[10_000, 10_000]);
        state.add(1);
        let mut other = QueueTotals::new(&replaced, &state, 13_000.0);
        assert_eq!(other.snapshot(13_000.0, true).unwrap().bytes_sent, 0);
    }

    #[test]
    fn a_cancelled_file_s_bytes_leave_the_bytes_sent() {
        let files = entries(&[100, 200]);
        let state = QueueState::new();
        state.add(2);
        let mut totals = QueueTotals::new(&files, &state, 0.0);
        totals.file_progress(1, progress(150, 100));
        assert_eq!(totals.snapshot(0.0, true).unwrap().bytes_sent, 150);
        totals.ended(1, &FileOutcome::Cancelled, 200);
        let p = totals.snapshot(1000.0, true).unwrap();
        assert_eq!(
            (p.bytes_sent, p.bytes_total),
            (0, 100),
            "not over the total"
        );
    }

    #[test]
    fn the_rate_and_time_left_come_from_the_last_seconds() {
        let files = entries(&[10_000]);
        let state = QueueState::new();
        state.add(1);
        let mut totals = QueueTotals::new(&files, &state, 0.0);
        assert_eq!(totals.snapshot(0.0, true).unwrap().eta_seconds, None);
        totals.file_progress(0, progress(1000, 0));
        assert_eq!(totals.snapshot(50.0, false), None, "too soon");
        let p = totals.snapshot(1000.0, false).unwrap();
        assert_eq!(p.bytes_per_second, 1000.0);
        assert_eq!(p.eta_seconds, Some(9.0));
    }

    #[test]
    fn skipped_files_and_resumed_parts_are_no_part_of_the_rate() {
        // After a reload: 6,000 of 10,000 bytes stored by an earlier run
        // (a file skipped, a resumed one with 2,000 stored), skipped and
        // reported within the first half second of the window.
        let files = entries(&[4_000, 6_000]);
        let state = QueueState::new();
        state.add(2);
        let mut totals = QueueTotals::new(&files, &state, 0.0);
        assert!(totals.snapshot(0.0, true).is_some());
        totals.ended(0, &FileOutcome::Skipped { key: "k".into() }, 4_000);
        totals.file_progress(1, progress(2_000, 2_000));
        let p = totals.snapshot(500.0, false).unwrap();
        assert_eq!(p.bytes_sent, 6_000);
        assert_eq!(p.bytes_per_second, 0.0, "nothing sent by this run yet");
        // Then 1,000 bytes in the next second.
        totals.file_progress(1, progress(3_000, 2_000));
        let p = totals.snapshot(1_500.0, false).unwrap();
        assert_eq!(p.bytes_per_second, 1_000.0 * 1000.0 / 1_500.0);
        assert_eq!(p.eta_seconds, Some(3_000.0 / p.bytes_per_second));
    }
}
