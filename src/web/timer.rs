//! The browser's clock and timers.

use crate::ports::Timer;

/// `Date.now()` and `setTimeout` (through gloo-timers).
#[derive(Debug, Default, Clone, Copy)]
pub struct BrowserTimer;

impl Timer for BrowserTimer {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    async fn sleep(&self, ms: u32) {
        if ms > 0 {
            gloo_timers::future::TimeoutFuture::new(ms).await;
        }
    }
}
