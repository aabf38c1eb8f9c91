//! Helpers shared by the native test binaries (`driver.rs`, `queue.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that yields to the executor once, so the futures in flight
/// interleave as they would over a network.
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Yields to the executor once (see [`YieldNow`]).
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// Polls `future` `polls` times, each time asserting it is still pending:
/// a run held midway (a part that hangs), as a page holds it.
pub fn poll_pending<F: Future + ?Sized>(mut future: Pin<&mut F>, polls: usize) {
    let waker = futures::task::noop_waker();
    for _ in 0..polls {
        let polled = future.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending(), "ended before it was held");
    }
}
