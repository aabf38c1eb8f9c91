//! The hold after a 429: the store asked to slow down, so every part's next
//! request waits, not only the part that was refused.

use std::cell::Cell;

use crate::error::{Error, ErrorKind};
use crate::ports::Timer;

/// How long every part holds back after a 429 without `Retry-After`.
const SLOW_DOWN_MS: u32 = 1000;

/// Until when every part holds back (ms since the epoch).
#[derive(Debug, Default)]
pub(super) struct SlowDownHold {
    until: Cell<f64>,
}

impl SlowDownHold {
    /// Learns from a failed request: a 429 holds every part for its
    /// `Retry-After` (a second without one).
    pub fn note(&self, error: &Error, now: f64) {
        if let ErrorKind::Http {
            status: 429,
            retry_after_ms,
            ..
        } = error.kind()
        {
            let until = now + f64::from(retry_after_ms.unwrap_or(SLOW_DOWN_MS));
            self.until.set(self.until.get().max(until));
        }
    }

    /// Waits out the hold, if one is on.
    pub async fn wait(&self, timer: &dyn Timer) {
        let wait = self.until.get() - timer.now_ms();
        if wait > 0.0 {
            timer.sleep(wait.ceil() as u32).await;
        }
    }
}
