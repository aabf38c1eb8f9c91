//! Retrying a call: the policy ([`crate::core::retry`]) decides, and this
//! waits (for the delay, and for the network while offline). One loop for
//! every kind of call, so its waiting is compiled once.

use std::future::Future;

use super::Driver;
use crate::core::retry::{Decision, RetryPolicy};
use crate::error::{Error, ErrorKind};
use crate::ports::Timer;

/// Runs `attempt` until it succeeds or `policy` gives up, starting the
/// retry count over whenever `made_headway` says the failed attempt got
/// further than any before.
pub async fn with_retries<V, F, Fut>(
    timer: &dyn Timer,
    policy: &RetryPolicy,
    mut attempt: F,
    made_headway: impl Fn() -> bool,
) -> Result<V, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<V, Error>>,
{
    let mut retries = 0;
    loop {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !wait_to_retry(timer, policy, &error, &mut retries, made_headway()).await {
            return Err(error);
        }
    }
}

/// After a failed attempt: whether to try again, having waited as the
/// policy says (and for the network, when offline).
async fn wait_to_retry(
    timer: &dyn Timer,
    policy: &RetryPolicy,
    error: &Error,
    retries: &mut usize,
    made_headway: bool,
) -> bool {
    if error.is_retryable() && made_headway {
        *retries = 0;
    }
    if matches!(error.kind(), ErrorKind::Network { .. }) {
        // Offline: wait for the network before spending a retry on it.
        timer.until_online().await;
    }
    match policy.decide(error, *retries) {
        Decision::RetryAfter(ms) => {
            *retries += 1;
            timer.sleep(ms).await;
            true
        }
        Decision::GiveUp => false,
    }
}

/// A clock that never waits for the network: for the calls a person waits
/// on outside an upload's run (an abort, forgetting stored uploads), so
/// that offline they end with [`ErrorKind::Network`] after their retries
/// rather than wait for the network without an end. A run waits.
pub struct NoWaitForNetwork<'a>(pub &'a dyn Timer);

impl Timer for NoWaitForNetwork<'_> {
    fn now_ms(&self) -> f64 {
        self.0.now_ms()
    }

    fn sleep(&self, ms: u32) -> crate::ports::Wait<'_> {
        self.0.sleep(ms)
    }
}

impl<B> Driver<'_, B> {
    /// Runs `attempt` until it succeeds or the retry policy gives up.
    pub(super) async fn with_retries<V, F, Fut>(&self, attempt: F) -> Result<V, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<V, Error>>,
    {
        with_retries(self.timer, &self.options.retry, attempt, || false).await
    }
}
