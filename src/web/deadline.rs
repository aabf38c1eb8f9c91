//! Every wait on the browser has an end: [`within`] bounds a future by a
//! timer, and dropping the loser cancels it (an aborted fetch, a listener
//! removed).

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;

use gloo_timers::future::TimeoutFuture;

/// `future`'s output, or `None` if it is not ready within `ms` milliseconds.
pub async fn within<T>(ms: u32, future: impl Future<Output = T>) -> Option<T> {
    race(pin!(future), ms).await
}

/// The race of [`within`], through `dyn` so that one copy of its poll
/// serves every future of one output type.
async fn race<T>(mut future: Pin<&mut dyn Future<Output = T>>, ms: u32) -> Option<T> {
    let mut timer = TimeoutFuture::new(ms);
    poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Pin::new(&mut timer).poll(cx).map(|()| None),
    })
    .await
}
