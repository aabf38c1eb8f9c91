//! How many parts to keep in flight, chosen from the measured link: start
//! at `concurrency`, and add parts in flight while doing so still raises the
//! rate parts are confirmed at, up to `max_concurrency`.
//!
//! On loopback one or two requests fill the link and more add nothing; on a
//! link with latency each request leaves its share idle while it waits for
//! its URL, its first byte and its answer, and more requests in flight fill
//! those gaps. Only a measurement tells the two apart.
//!
//! The rate is measured over rounds: a round begins at a part's completion
//! and ends after as many further completions as there are parts in flight
//! (about one part's duration in a steady state), and no sooner than
//! [`MIN_ROUND_MS`] (small files complete in bunches: a few of them measure
//! noise); its rate is those completions' bytes over its time. A round at
//! least [`GAIN`] faster than the best so far grows the parts in flight by
//! half (at least one); a round that is not goes back to the count before
//! the last growth, and settles there for the rest of the run. The round
//! right after a growth is not measured: the new requests are still
//! starting, and it would understate the new count.
//!
//! ```
//! use resupload::core::ramp::Ramp;
//! let mut ramp = Ramp::new(2, 4);
//! // Two parts of 8 MiB a second at 2 in flight…
//! assert_eq!(ramp.part_done(8 << 20, 0.0), 0); // a round begins
//! assert_eq!(ramp.part_done(8 << 20, 500.0), 0);
//! assert_eq!(ramp.part_done(8 << 20, 1000.0), 1); // 16 MiB/s: one more
//! // …then no faster at 3: one round to settle in, one measured (three
//! // parts in 1.5 s), and back to 2, settled.
//! for t in [1500.0, 2000.0, 2500.0, 3000.0, 3500.0] {
//!     assert_eq!(ramp.part_done(8 << 20, t), 0);
//! }
//! assert_eq!(ramp.part_done(8 << 20, 4000.0), -1);
//! assert_eq!(ramp.in_flight(), 2);
//! ```

/// How much faster a round must be than the best before it to grow again.
pub const GAIN: f64 = 1.1;

/// The shortest round measured (ms).
pub const MIN_ROUND_MS: f64 = 500.0;

/// The parts in flight, grown from the measured rate.
#[derive(Debug, Clone)]
pub struct Ramp {
    in_flight: u32,
    /// The count before the last growth.
    before: u32,
    max: u32,
    /// When the current round began, if it has.
    round_start_ms: Option<f64>,
    round_bytes: u64,
    round_parts: u32,
    /// The best rate of a finished round (bytes per millisecond).
    best: f64,
    /// The round under way follows a growth: it is not measured.
    settling_in: bool,
    settled: bool,
}

impl Ramp {
    /// Starts at `start` parts in flight, grows to `max` at most (never
    /// below `start`).
    pub fn new(start: u32, max: u32) -> Self {
        Ramp {
            in_flight: start,
            before: start,
            max: max.max(start),
            round_start_ms: None,
            round_bytes: 0,
            round_parts: 0,
            best: 0.0,
            settling_in: false,
            settled: max <= start,
        }
    }

    /// The parts in flight now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// A part of `bytes` was confirmed at `now_ms`; answers how many parts
    /// in flight to add (0 most of the time; below 0 to take back the last
    /// growth, which did not pay).
    pub fn part_done(&mut self, bytes: u64, now_ms: f64) -> i32 {
        if self.settled {
            return 0;
        }
        let Some(start) = self.round_start_ms else {
            self.begin_round(now_ms);
            return 0;
        };
        self.round_bytes += bytes;
        self.round_parts += 1;
        let elapsed = now_ms - start;
        if self.round_parts < self.in_flight || elapsed < MIN_ROUND_MS {
            return 0;
        }
        let rate = self.round_bytes as f64 / elapsed;
        self.begin_round(now_ms);
        if std::mem::take(&mut self.settling_in) {
            return 0;
        }
        if rate < self.best * GAIN {
            self.settled = true;
            let taken = self.in_flight - self.before;
            self.in_flight = self.before;
            return -(taken as i32);
        }
        self.best = rate;
        let grown = (self.in_flight + (self.in_flight / 2).max(1)).min(self.max);
        self.before = self.in_flight;
        self.in_flight = grown;
        self.settling_in = true;
        // At the most, the next round would have nothing to decide.
        self.settled = grown == self.max;
        (grown - self.before) as i32
    }

    fn begin_round(&mut self, now_ms: f64) {
        self.round_start_ms = Some(now_ms);
        self.round_bytes = 0;
        self.round_parts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PART: u64 = 8 << 20;

    /// Completions of `parts_in_flight` parts at a link that confirms
    /// `rate(in_flight)` bytes per ms; answers the count it settles at.
    fn settle(start: u32, max: u32, rate: impl Fn(u32) -> f64) -> u32 {
        let mut ramp = Ramp::new(start, max);
        let mut now = 0.0;
        for _ in 0..200 {
            now += PART as f64 / rate(ramp.in_flight());
            ramp.part_done(PART, now);
        }
        ramp.in_flight()
    }

    #[test]
    fn a_link_that_rewards_more_requests_grows_to_the_max() {
        assert_eq!(settle(4, 8, |n| 1000.0 * n as f64), 8);
        assert_eq!(settle(1, 16, |n| 1000.0 * n as f64), 16);
    }

    #[test]
    fn a_full_link_settles_where_it_stops_paying() {
        assert_eq!(settle(4, 8, |_| 50_000.0), 4, "loopback: no gain from more");
        // Gains up to 6 in flight, none after.
        assert_eq!(settle(4, 16, |n| 1000.0 * n.min(6) as f64), 6);
        assert_eq!(settle(2, 16, |n| 1000.0 * n.min(3) as f64), 3);
    }

    #[test]
    fn an_explicit_count_never_grows() {
        let mut ramp = Ramp::new(4, 4);
        for t in 0..50 {
            assert_eq!(ramp.part_done(PART, t as f64 * 10.0), 0);
        }
        assert_eq!(Ramp::new(6, 2).in_flight(), 6);
    }

    #[test]
    fn a_round_lasts_at_least_its_shortest_time() {
        // Small files confirmed every 10 ms: four of them span 30 ms, too
        // short to tell the link from noise; the round runs to 500 ms.
        let mut ramp = Ramp::new(4, 8);
        let first_decision = (0..200)
            .map(|i| i as f64 * 10.0)
            .find(|&t| ramp.part_done(256 << 10, t) != 0);
        assert_eq!(first_decision, Some(MIN_ROUND_MS));
    }

    #[test]
    fn the_round_after_a_growth_is_not_measured() {
        let mut ramp = Ramp::new(2, 4);
        let answers: Vec<i32> = (0..9)
            .map(|i| ramp.part_done(PART, i as f64 * 500.0))
            .collect();
        // Grown at the third completion; the next three settle in; the
        // three after are measured (no faster) and take the growth back.
        assert_eq!(answers, [0, 0, 1, 0, 0, 0, 0, 0, -1]);
        assert_eq!(ramp.in_flight(), 2);
    }

    #[test]
    fn completions_at_one_instant_measure_nothing() {
        let mut ramp = Ramp::new(2, 8);
        for _ in 0..10 {
            assert_eq!(ramp.part_done(PART, 5.0), 0);
        }
    }
}
