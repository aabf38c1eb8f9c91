//! The retry policy: which failures are worth another try, and when.
//!
//! Network errors, 5xx, 408 and 429 are retried after the configured delays
//! (the default `[0, 1000, 3000, 5000]` ms gives four retries); anything else
//! fails at once, since sending the same request again cannot fix it.
//!
//! ```
//! use resupload::core::retry::{RetryPolicy, Decision};
//! use resupload::error::{Error, ErrorKind, Operation, Refusal};
//! let policy = RetryPolicy::new(vec![0, 1000]);
//! let err: Error = ErrorKind::Http { operation: Operation::UploadPart, status: 503, refusal: Refusal::Other, body: String::new(), retry_after_ms: None }.into();
//! assert_eq!(policy.decide(&err, 0), Decision::RetryAfter(0));
//! assert_eq!(policy.decide(&err, 1), Decision::RetryAfter(1000));
//! assert_eq!(policy.decide(&err, 2), Decision::GiveUp);
//! ```

use crate::core::text::split_at_byte;
use crate::error::{Error, ErrorKind};

/// The delays used when none are given, in milliseconds.
pub const DEFAULT_RETRY_DELAYS: [u32; 4] = [0, 1000, 3000, 5000];

/// The longest `Retry-After` honoured, in milliseconds (ten minutes).
pub const MAX_RETRY_AFTER_MS: u32 = 600_000;

/// Parses a `Retry-After` header given in seconds (whole, or with a
/// fraction such as `2.5`) into milliseconds, at most
/// [`MAX_RETRY_AFTER_MS`]; the HTTP-date form is not used by S3 stores and
/// is ignored. Read digit by digit: `str::parse::<f64>` would bring about
/// 15 KB of float parsing and its tables into the wasm bundle.
pub fn parse_retry_after(value: &str) -> Option<u32> {
    let value = value.trim_ascii();
    let value = value.strip_prefix("+").unwrap_or(value);
    let (whole, fraction) = split_at_byte(value, b'.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let cap = u64::from(MAX_RETRY_AFTER_MS);
    let mut ms: u64 = 0;
    for b in whole.bytes() {
        ms = (ms * 10 + u64::from(b - b'0')).min(cap);
    }
    ms = (ms * 1000).min(cap);
    // Milliseconds: the first three digits of the fraction.
    let mut scale = 100;
    for b in fraction.bytes().take(3) {
        ms += u64::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(ms.min(cap) as u32)
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this many milliseconds, then try again.
    RetryAfter(u32),
    /// Stop and report the error.
    GiveUp,
}

/// Retry delays, one per retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    delays: Vec<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(DEFAULT_RETRY_DELAYS.to_vec())
    }
}

impl RetryPolicy {
    /// A policy that retries once per entry of `delays` (milliseconds).
    pub fn new(delays: Vec<u32>) -> Self {
        RetryPolicy { delays }
    }

    /// The delays.
    pub fn delays(&self) -> &[u32] {
        &self.delays
    }

    /// What to do after `error`, when `retries_so_far` retries were made.
    pub fn decide(&self, error: &Error, retries_so_far: usize) -> Decision {
        if !error.is_retryable() {
            return Decision::GiveUp;
        }
        let asked = match error.kind() {
            ErrorKind::Http { retry_after_ms, .. } => retry_after_ms.unwrap_or(0),
            _ => 0,
        };
        match self.delays.get(retries_so_far) {
            Some(&delay) => Decision::RetryAfter(delay.max(asked.min(MAX_RETRY_AFTER_MS))),
            None => Decision::GiveUp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Operation;

    fn http(status: u16) -> Error {
        ErrorKind::Http {
            operation: Operation::UploadPart,
            status,
            refusal: crate::error::Refusal::Other,
            body: String::new(),
            retry_after_ms: None,
        }
        .into()
    }

    #[test]
    fn retryable_errors_follow_the_delays_then_give_up() {
        let p = RetryPolicy::default();
        for err in [
            http(500),
            http(503),
            http(408),
            http(429),
            ErrorKind::Network {
                operation: Operation::SignPart,
                detail: "offline".into(),
            }
            .into(),
        ] {
            let got: Vec<_> = (0..5).map(|i| p.decide(&err, i)).collect();
            assert_eq!(
                got,
                [
                    Decision::RetryAfter(0),
                    Decision::RetryAfter(1000),
                    Decision::RetryAfter(3000),
                    Decision::RetryAfter(5000),
                    Decision::GiveUp
                ],
                "{err:?}"
            );
        }
    }

    #[test]
    fn client_errors_give_up_at_once() {
        let p = RetryPolicy::default();
        for status in [400, 401, 403, 404, 413] {
            assert_eq!(p.decide(&http(status), 0), Decision::GiveUp, "{status}");
        }
        assert_eq!(
            p.decide(&ErrorKind::MissingEtag { part_number: 1 }.into(), 0),
            Decision::GiveUp
        );
        assert_eq!(p.decide(&ErrorKind::Paused.into(), 0), Decision::GiveUp);
    }

    #[test]
    fn retry_after_stretches_the_delay() {
        let p = RetryPolicy::default();
        let mut err = http(429);
        if let ErrorKind::Http { retry_after_ms, .. } = err.kind_mut() {
            *retry_after_ms = Some(2000);
        }
        assert_eq!(p.decide(&err, 0), Decision::RetryAfter(2000));
        assert_eq!(
            p.decide(&err, 2),
            Decision::RetryAfter(3000),
            "the longer wait wins"
        );
        assert_eq!(parse_retry_after("1"), Some(1000));
        assert_eq!(parse_retry_after(" 2.5 "), Some(2500));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("99999999"), Some(MAX_RETRY_AFTER_MS));
        assert_eq!(
            parse_retry_after("99999999999999999999999999"),
            Some(MAX_RETRY_AFTER_MS)
        );
        assert_eq!(parse_retry_after("0"), Some(0));
        assert_eq!(parse_retry_after("+3"), Some(3000));
        assert_eq!(parse_retry_after("0.25"), Some(250));
        assert_eq!(parse_retry_after(".5"), Some(500));
        assert_eq!(parse_retry_after("7."), Some(7000));
        assert_eq!(parse_retry_after("1.23456"), Some(1234));
        for bad in [
            "", " ", ".", "-1", "1.2.3", "1,5", "ten", "NaN", "inf", "1 2",
        ] {
            assert_eq!(parse_retry_after(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_expired_url_is_worth_a_retry_other_403s_are_not() {
        let p = RetryPolicy::default();
        let mut err = http(403);
        assert_eq!(p.decide(&err, 0), Decision::GiveUp);
        if let ErrorKind::Http { refusal, .. } = err.kind_mut() {
            *refusal = crate::error::Refusal::ExpiredUrl;
        }
        assert_eq!(p.decide(&err, 0), Decision::RetryAfter(0));
    }

    #[test]
    fn no_delays_means_no_retries() {
        assert_eq!(
            RetryPolicy::new(vec![]).decide(&http(500), 0),
            Decision::GiveUp
        );
    }
}
