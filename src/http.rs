//! What an HTTP answer that is not a success means, decided once, where the
//! answer is first read: by the signing backend's adapter and by every part
//! sender, with the same rules.
//!
//! The error code comes from the body: `<Code>…</Code>` in the XML of S3 and
//! Garage, `"code":"…"` in the dev server's JSON. Uppy Companion answers an
//! HTML page with no code at all.
//!
//! ```
//! use resupload::error::{ErrorKind, Operation};
//! use resupload::http::{failure, Answer};
//! let body = "<Error><Code>NoSuchUpload</Code></Error>";
//! let answer = Answer { status: 404, body, retry_after: None };
//! let error = failure(Operation::UploadPart, Some("u1"), answer);
//! assert!(matches!(error.kind(), ErrorKind::NoSuchUpload { .. }));
//! ```

use crate::core::retry::parse_retry_after;
use crate::core::text::{find, first_chars};
use crate::error::{Error, ErrorKind, Operation, Refusal};

/// How much of an error body an [`ErrorKind::Http`] keeps for its message.
const BODY_KEPT: usize = 300;

/// A non-2xx answer, as the adapter read it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The HTTP status.
    pub status: u16,
    /// The body (as much as was read).
    pub body: &'a str,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<&'a str>,
}

/// The error for a failed `operation` on the upload `upload_id` (when the
/// call names one). The store losing the upload (`NoSuchUpload`, or a 404
/// with no code at all from a backend route about an upload) is
/// [`ErrorKind::NoSuchUpload`]; everything else is [`ErrorKind::Http`], with its
/// [`Refusal`].
pub fn failure(operation: Operation, upload_id: Option<&str>, answer: Answer<'_>) -> Error {
    let code = error_code(answer.body);
    let lost = code == Some("NoSuchUpload") || (answer.status == 404 && code.is_none());
    if let (true, Some(upload_id)) = (lost, upload_id) {
        return ErrorKind::NoSuchUpload {
            upload_id: upload_id.to_owned(),
        }
        .into();
    }
    ErrorKind::Http {
        operation,
        status: answer.status,
        refusal: refusal(answer.status, code, answer.body),
        body: first_chars(answer.body, BODY_KEPT).to_owned(),
        retry_after_ms: answer.retry_after.and_then(parse_retry_after),
    }
    .into()
}

/// What an error code means here.
fn refusal(status: u16, code: Option<&str>, body: &str) -> Refusal {
    match (status, code) {
        (400, Some("InvalidDigest" | "BadDigest" | "XAmzContentChecksumMismatch")) => {
            Refusal::BadDigest
        }
        (400, Some("InvalidPart")) => Refusal::InvalidPart,
        // S3 says AccessDenied with "Request has expired" as its message
        // (a presigned URL), or "Invalid according to Policy: Policy
        // expired." (a POST form's policy).
        (403, Some("AccessDenied") | None) if says_expired(body) => Refusal::ExpiredUrl,
        _ => Refusal::Other,
    }
}

fn says_expired(body: &str) -> bool {
    let message = between(body, "<Message>", "</Message>").unwrap_or(body);
    [
        "Request has expired",
        "request has expired",
        "Policy expired",
    ]
    .iter()
    .any(|phrase| find(message, phrase).is_some())
}

/// The error code of an S3 XML error (`<Code>`) or of a backend's JSON
/// error (`"code":"…"`, spaces allowed around the colon), if the body has
/// one.
pub fn error_code(body: &str) -> Option<&str> {
    between(body, "<Code>", "</Code>")
        .or_else(|| json_code(body))
        .filter(|code| !code.is_empty() && code.len() <= 64)
}

/// The string after the first `"code"` key of a JSON body.
fn json_code(body: &str) -> Option<&str> {
    let key = "\"code\"";
    let after = &body[find(body, key)? + key.len()..];
    let value = after
        .trim_ascii_start()
        .strip_prefix(":")?
        .trim_ascii_start()
        .strip_prefix("\"")?;
    Some(&value[..find(value, "\"")?])
}

/// The text between the first `open` and the next `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = find(text, open)? + open.len();
    let len = find(&text[start..], close)?;
    Some(&text[start..start + len])
}

/// The `host:port` of an absolute URL (`""` for a relative one: the
/// page's own host). Scanned with [`find`]: `split_once("://")` linked
/// core's two-way searcher into the part senders.
///
/// ```
/// use resupload::http::host_of;
/// assert_eq!(host_of("https://s3.example.com:9000/b/k?x=1"), "s3.example.com:9000");
/// assert_eq!(host_of("/api/s3/parts"), "");
/// ```
pub fn host_of(url: &str) -> &str {
    let Some(scheme_end) = find(url, "://") else {
        return "";
    };
    let rest = &url[scheme_end + 3..];
    let end = rest.bytes().position(|b| matches!(b, b'/' | b'?' | b'#'));
    &rest[..end.unwrap_or(rest.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_an_absolute_url_and_of_a_relative_one() {
        assert_eq!(
            host_of("http://127.0.0.1:3900/bucket/key"),
            "127.0.0.1:3900"
        );
        assert_eq!(host_of("https://s3.example.com?X-Amz=1"), "s3.example.com");
        assert_eq!(host_of("https://s3.example.com#frag"), "s3.example.com");
        assert_eq!(host_of("https://s3.example.com"), "s3.example.com");
        assert_eq!(host_of("parts/1"), "");
    }

    fn fail(status: u16, body: &str, upload_id: Option<&str>) -> Error {
        let answer = Answer {
            status,
            body,
            retry_after: Some("2"),
        };
        failure(Operation::UploadPart, upload_id, answer)
    }

    fn refusal_of(error: Error) -> Refusal {
        match error.into_kind() {
            ErrorKind::Http { refusal, .. } => refusal,
            other => panic!("not an HTTP error: {other}"),
        }
    }

    #[test]
    fn a_lost_upload_is_named_whoever_answers() {
        let s3 = "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>";
        let server = r#"{"error":{"code":"NoSuchUpload","message":"gone"}}"#;
        for (status, body) in [(404, s3), (404, server), (404, "")] {
            assert_eq!(
                fail(status, body, Some("u9")),
                ErrorKind::NoSuchUpload {
                    upload_id: "u9".into()
                }
                .into(),
                "{body}"
            );
        }
        // A 404 with another code is the store's other trouble.
        let bucket = "<Error><Code>NoSuchBucket</Code></Error>";
        assert_eq!(refusal_of(fail(404, bucket, Some("u9"))), Refusal::Other);
        // A call about no upload cannot lose one.
        assert!(matches!(fail(404, s3, None).kind(), ErrorKind::Http { .. }));
    }

    #[test]
    fn refusals_are_read_from_the_code() {
        let xml = |code: &str, message: &str| {
            format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>")
        };
        let cases = [
            (400, xml("InvalidDigest", "x"), Refusal::BadDigest),
            (400, xml("BadDigest", "x"), Refusal::BadDigest),
            (
                400,
                xml("XAmzContentChecksumMismatch", "x"),
                Refusal::BadDigest,
            ),
            (400, xml("InvalidPart", "x"), Refusal::InvalidPart),
            (
                403,
                xml("AccessDenied", "Request has expired"),
                Refusal::ExpiredUrl,
            ),
            (
                403,
                xml(
                    "AccessDenied",
                    "Invalid according to Policy: Policy expired.",
                ),
                Refusal::ExpiredUrl,
            ),
            (403, xml("AccessDenied", "Access Denied"), Refusal::Other),
            (
                403,
                xml("SignatureDoesNotMatch", "Request has expired"),
                Refusal::Other,
            ),
            (400, xml("InvalidRequest", "InvalidPart"), Refusal::Other),
        ];
        for (status, body, want) in cases {
            assert_eq!(refusal_of(fail(status, &body, None)), want, "{body}");
        }
    }

    #[test]
    fn codes_and_texts_are_found_anywhere_in_a_body() {
        assert_eq!(error_code("<Code>SlowDown</Code>"), Some("SlowDown"));
        assert_eq!(error_code("<Code>SlowDown"), None);
        assert_eq!(error_code(r#"{"code":"InvalidKey"}"#), Some("InvalidKey"));
        // As Python's json and pretty printers write it.
        assert_eq!(
            error_code(r#"{"error": "x", "code": "InvalidPart"}"#),
            Some("InvalidPart")
        );
        assert_eq!(
            error_code("{\n  \"code\" :\n  \"NoSuchUpload\"\n}"),
            Some("NoSuchUpload")
        );
        assert_eq!(error_code(r#"{"code": 42}"#), None);
        assert_eq!(error_code(r#"{"code": "unterminated"#), None);
        // An expired URL, said in lower case.
        let garage = "<Error><Message>request has expired</Message></Error>";
        assert_eq!(refusal_of(fail(403, garage, None)), Refusal::ExpiredUrl);
    }

    #[test]
    fn the_body_and_retry_after_are_kept() {
        let long = "x".repeat(1000);
        match fail(503, &long, None).into_kind() {
            ErrorKind::Http {
                body,
                retry_after_ms,
                status,
                ..
            } => {
                assert_eq!(status, 503);
                assert_eq!(body.len(), BODY_KEPT);
                assert_eq!(retry_after_ms, Some(2000));
            }
            other => panic!("{other}"),
        }
        assert_eq!(
            error_code(r#"{"error":{"code":"InvalidKey"}}"#),
            Some("InvalidKey")
        );
        assert_eq!(error_code("<html>500</html>"), None);
    }
}
