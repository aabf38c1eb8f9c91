//! Every wait on the browser has an end: [`within`] bounds a future by a
//! timer, and dropping the loser cancels it (an aborted fetch, a listener
//! removed).

use std::future::Future;
use std::pin::pin;

use futures::future::{select, Either};

/// `future`'s output, or `None` if it is not ready within `ms` milliseconds.
pub async fn within<T>(ms: u32, future: impl Future<Output = T>) -> Option<T> {
    let timer = gloo_timers::future::TimeoutFuture::new(ms);
    match select(pin!(future), timer).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}
