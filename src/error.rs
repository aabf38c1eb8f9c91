//! The one error type of the library.
//!
//! Every failure is an [`Error`], a boxed [`ErrorKind`]: plain data (no
//! browser types inside), with a stable [`ErrorKind::code`] for programs and
//! a message ([`ErrorKind::message`], also its `Display`) that tells a person what to do. At the
//! JavaScript boundary it becomes an `Error` whose `code` property is
//! [`ErrorKind::code`].

use std::fmt;

use crate::core::text::decimal;

/// Which call to the network an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `POST {endpoint}/multipart`: start a multipart upload.
    Create,
    /// `GET {endpoint}/multipart/{uploadId}/{partNumber}`: sign a part URL.
    SignPart,
    /// The `PUT` of a part's bytes to its presigned URL.
    UploadPart,
    /// `GET {endpoint}/multipart/{uploadId}`: the server's part list.
    ListParts,
    /// `POST {endpoint}/multipart/{uploadId}/complete`.
    Complete,
    /// `DELETE {endpoint}/multipart/{uploadId}`.
    Abort,
    /// `GET {endpoint}/params`: sign a whole small file's upload.
    SignFile,
    /// The `PUT` or `POST` of a whole small file to the store.
    UploadFile,
}

impl Operation {
    /// A short human name, used in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Operation::Create => "starting the upload",
            Operation::SignPart => "signing a part URL",
            Operation::UploadPart => "uploading a part",
            Operation::ListParts => "listing the uploaded parts",
            Operation::Complete => "completing the upload",
            Operation::Abort => "aborting the upload",
            Operation::SignFile => "signing a file's upload",
            Operation::UploadFile => "uploading a file",
        }
    }

    /// What to do once the cause of a failed request is fixed.
    fn next_step(self) -> &'static str {
        match self {
            Operation::Abort => {
                "call abort() (or clearPending()) again: the upload is kept until an abort succeeds"
            }
            _ => "call start() again to resume",
        }
    }
}

/// What a refusal by the store or the backend means for the upload,
/// decided once from the answer's error code (see [`crate::http`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 403 "Request has expired": the presigned URL is too old, and a
    /// freshly signed one fixes it.
    ExpiredUrl,
    /// 400 `InvalidDigest`, `BadDigest` or `XAmzContentChecksumMismatch`:
    /// the part's bytes did not match their signed checksum (damaged on
    /// the way); sending the part again fixes it.
    BadDigest,
    /// 400 `InvalidPart` at completion: the store does not hold a listed
    /// part as named.
    InvalidPart,
    /// Any other answer.
    Other,
}

/// How the record store failed, classified by its adapter where the
/// browser's error is first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// It could not be opened (blocked, a private window, no answer).
    Unavailable,
    /// A write hit the quota (a full disk).
    Full,
    /// Any other failure.
    Failed,
}

/// The two checksums of an [`ErrorKind::ChecksumMismatch`] and the object's key.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The composite checksum computed here.
    pub expected: String,
    /// The one the store reported.
    pub actual: String,
    /// The key the object is stored under: it is the store's now, and the
    /// page must delete it (nothing else knows it is bad).
    pub key: String,
}

/// Everything that can go wrong: an [`ErrorKind`], boxed, so that every
/// `Result<_, Error>` (and every future state holding one) is a pointer
/// wide rather than as wide as the largest kind (BENCHMARKS.md measures
/// what the width costs in the module). Derefs to its kind:
///
/// ```
/// use resupload::error::{Error, ErrorKind};
/// let error = Error::from(ErrorKind::Paused);
/// assert_eq!(error.code(), "PAUSED");
/// assert!(matches!(error.kind(), ErrorKind::Paused));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Error(Box<ErrorKind>);

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// What went wrong, to be made more precise where more is known (a
    /// failed IndexedDB open is the whole store unavailable).
    pub fn kind_mut(&mut self) -> &mut ErrorKind {
        &mut self.0
    }

    /// A shortcut for [`ErrorKind::InvalidOption`].
    pub fn invalid_option(option: &'static str, reason: impl Into<String>) -> Self {
        ErrorKind::InvalidOption {
            option,
            reason: reason.into(),
        }
        .into()
    }

    /// Whether the server no longer knows the upload
    /// ([`ErrorKind::NoSuchUpload`]).
    pub fn is_no_such_upload(&self) -> bool {
        matches!(*self.0, ErrorKind::NoSuchUpload { .. })
    }

    /// What went wrong, taken out of its box.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl std::ops::Deref for Error {
    type Target = ErrorKind;

    fn deref(&self) -> &ErrorKind {
        &self.0
    }
}

/// Everything that can go wrong, as plain data: the kinds of [`Error`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An option has a value the library cannot use.
    InvalidOption {
        /// The option's name, as in the JavaScript options object.
        option: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The value given as the file is not a `File` or `Blob`.
    NotAFile,
    /// The file is larger than the store accepts in one object.
    FileTooLarge {
        /// The file's size in bytes.
        size: u64,
        /// The largest object the store accepts, in bytes.
        max: u64,
    },
    /// The request never got an HTTP answer (offline, DNS, connection reset,
    /// CORS refusal, timeout).
    Network {
        /// The call that failed.
        operation: Operation,
        /// What the browser said.
        detail: String,
    },
    /// The server answered with an HTTP status the call cannot accept.
    /// Made by [`crate::http::failure`], which reads the answer once.
    Http {
        /// The call that failed.
        operation: Operation,
        /// The HTTP status.
        status: u16,
        /// What the answer's error code means here.
        refusal: Refusal,
        /// The start of the response body, to help whoever reads the message.
        body: String,
        /// The wait the server asked for with `Retry-After`, in milliseconds.
        retry_after_ms: Option<u32>,
    },
    /// The backend answered 2xx, but not with the JSON the protocol defines.
    BadResponse {
        /// The call that failed.
        operation: Operation,
        /// What was expected and what came.
        detail: String,
    },
    /// A part's `PUT` succeeded but its response had no readable `ETag`.
    MissingEtag {
        /// The part number.
        part_number: u32,
    },
    /// The server no longer knows the multipart upload (it expired or was
    /// aborted).
    NoSuchUpload {
        /// The multipart upload id.
        upload_id: String,
    },
    /// The record store (IndexedDB) failed.
    Storage {
        /// How, as the store's adapter saw it.
        failure: StorageFailure,
        /// What the browser said.
        detail: String,
    },
    /// The upload was paused while running.
    Paused,
    /// The upload was aborted.
    Aborted,
    /// `start()` was called while the same upload was already running.
    AlreadyRunning,
    /// The upload has already completed; there is nothing left to do.
    AlreadyCompleted,
    /// Another tab or window is uploading the same file.
    Locked,
    /// Another tab or window is running an upload queue of the same files
    /// (its batch): `UPLOAD_LOCKED` too.
    BatchLocked,
    /// `checksum: "sha256"` was asked for, but the backend did not confirm
    /// that it creates uploads with SHA-256 checksums.
    ChecksumUnsupported,
    /// The object the store assembled does not have the checksum computed
    /// here from the file's parts: the stored bytes differ from the file.
    ChecksumMismatch(Mismatch),
    /// The file (or streaming source) could not be read.
    ReadFailed {
        /// What the browser or the source said.
        detail: String,
    },
    /// The user (or the browser) refused read access to the file behind a
    /// kept handle.
    PermissionDenied,
    /// The file behind a kept handle is gone (moved, renamed or deleted),
    /// or its staged copy is.
    FileMissing,
    /// The file behind a kept handle is not the one the stored upload
    /// began with (another name, size or date): it is never mixed with
    /// the old parts.
    FileChanged,
    /// The stored upload has no kept handle or staged copy to continue
    /// from: its file must be picked again.
    NoHandle,
    /// The `headers` function threw, rejected, gave something other than
    /// an object of string values, or did not settle in time.
    HeadersFailed {
        /// What went wrong.
        detail: String,
    },
    /// A call that this build of the package leaves out, such as
    /// `Upload.listPending` in the default `resupload` entry (the
    /// `resupload/pending` and `resupload/queue` entries have it).
    NotInBuild {
        /// The call, as JavaScript names it (`"Upload.listPending"`).
        call: &'static str,
    },
    /// This browser lacks a feature resupload cannot do without.
    UnsupportedBrowser {
        /// The missing feature, as JavaScript names it (`"fetch"`).
        feature: &'static str,
    },
}

impl ErrorKind {
    /// A stable, upper-case code for programs, such as `"NETWORK"`.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::InvalidOption { .. } => "INVALID_OPTION",
            ErrorKind::NotAFile => "NOT_A_FILE",
            ErrorKind::FileTooLarge { .. } => "FILE_TOO_LARGE",
            ErrorKind::Network { .. } => "NETWORK",
            ErrorKind::Http { .. } => "HTTP_STATUS",
            ErrorKind::BadResponse { .. } => "BAD_RESPONSE",
            ErrorKind::MissingEtag { .. } => "MISSING_ETAG",
            ErrorKind::NoSuchUpload { .. } => "NO_SUCH_UPLOAD",
            ErrorKind::Storage { .. } => "STORAGE",
            ErrorKind::Paused => "PAUSED",
            ErrorKind::Aborted => "ABORTED",
            ErrorKind::AlreadyRunning => "ALREADY_RUNNING",
            ErrorKind::AlreadyCompleted => "ALREADY_COMPLETED",
            ErrorKind::Locked | ErrorKind::BatchLocked => "UPLOAD_LOCKED",
            ErrorKind::ChecksumUnsupported => "CHECKSUM_UNSUPPORTED",
            ErrorKind::ChecksumMismatch(..) => "CHECKSUM_MISMATCH",
            ErrorKind::ReadFailed { .. } => "READ_FAILED",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::FileMissing => "FILE_MISSING",
            ErrorKind::FileChanged => "FILE_CHANGED",
            ErrorKind::NoHandle => "NO_HANDLE",
            ErrorKind::HeadersFailed { .. } => "HEADERS_FAILED",
            ErrorKind::NotInBuild { .. } => "NOT_IN_BUILD",
            ErrorKind::UnsupportedBrowser { .. } => "UNSUPPORTED_BROWSER",
        }
    }

    /// Whether trying the same request again may succeed: network errors,
    /// 5xx, 408 (timeout), 429 (too many requests), an expired URL and
    /// bytes damaged on the way.
    pub fn is_retryable(&self) -> bool {
        match self {
            ErrorKind::Network { .. } => true,
            ErrorKind::Http {
                status, refusal, ..
            } => {
                is_retryable_status(*status)
                    || matches!(refusal, Refusal::ExpiredUrl | Refusal::BadDigest)
            }
            _ => false,
        }
    }

    /// Whether the error is no one file's doing, so that every other file
    /// would fail alike (an upload queue stops after a few such failures
    /// in a row: see [`crate::queue`]): the backend or the store
    /// unreachable, or answering 5xx, 408 or 429, after every retry (an
    /// offline device is waited for, and never fails a file); a 401 or 403
    /// (the app's sign-in expired, the backend's key refused by the
    /// store, a clock far off); a 404 or 405 from the routes that start an
    /// upload or sign a file (a wrong `endpoint`); an answer that is not
    /// the protocol's; ETags hidden by the bucket's CORS rules; the
    /// `headers` function failing; the record store failing; checksums the
    /// backend cannot sign. Not a file's own trouble: it cannot be read,
    /// is gone or changed, is too large, its stored bytes differ, another
    /// tab sends it, or another 4xx about it. Matched without a wildcard,
    /// so that a new kind must be placed here.
    pub fn is_queue_wide(&self) -> bool {
        match self {
            ErrorKind::Http {
                operation, status, ..
            } => {
                is_retryable_status(*status)
                    || matches!(status, 401 | 403)
                    || (matches!(status, 404 | 405)
                        && matches!(operation, Operation::Create | Operation::SignFile))
            }
            ErrorKind::Network { .. }
            | ErrorKind::BadResponse { .. }
            | ErrorKind::MissingEtag { .. }
            | ErrorKind::Storage { .. }
            | ErrorKind::HeadersFailed { .. }
            | ErrorKind::ChecksumUnsupported
            | ErrorKind::NotInBuild { .. }
            | ErrorKind::UnsupportedBrowser { .. } => true,
            ErrorKind::InvalidOption { .. }
            | ErrorKind::NotAFile
            | ErrorKind::FileTooLarge { .. }
            | ErrorKind::NoSuchUpload { .. }
            | ErrorKind::Paused
            | ErrorKind::Aborted
            | ErrorKind::AlreadyRunning
            | ErrorKind::AlreadyCompleted
            | ErrorKind::Locked
            | ErrorKind::BatchLocked
            | ErrorKind::ChecksumMismatch(..)
            | ErrorKind::ReadFailed { .. }
            | ErrorKind::PermissionDenied
            | ErrorKind::FileMissing
            | ErrorKind::FileChanged
            | ErrorKind::NoHandle => false,
        }
    }

    /// The HTTP status, when the error is an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ErrorKind::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The key of an object the store holds though the upload failed
    /// ([`ErrorKind::ChecksumMismatch`]): for the page to delete.
    pub fn stored_key(&self) -> Option<&str> {
        match self {
            ErrorKind::ChecksumMismatch(mismatch) => Some(&mismatch.key),
            _ => None,
        }
    }
}

/// Whether an HTTP status is worth a retry: 5xx, 408 and 429.
pub fn is_retryable_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

impl ErrorKind {
    /// The message of an error that carries no values; empty for the
    /// others, whose messages `Display` builds from their fields. Matched
    /// without a wildcard, so that a new kind must be placed here.
    fn fixed_message(&self) -> &'static str {
        match self {
            ErrorKind::NotAFile => {
                "the file must be a File or Blob (from <input type=file>, drag and drop, or new \
                 Blob()), a FileSystemFileHandle, or a streaming source { id, size, read }"
            }
            ErrorKind::Paused => "the upload was paused; call start() to continue",
            ErrorKind::Aborted => "the upload was aborted",
            ErrorKind::AlreadyRunning => {
                "start() was called while this upload is already running; wait for its promise"
            }
            ErrorKind::Locked => {
                "another tab or window is uploading this file now; wait for it to finish or \
                 stop it there (start() can wait for it with lock: \"wait\"; abort() only \
                 once it has stopped)"
            }
            ErrorKind::BatchLocked => {
                "another tab or window is running a queue of these files already; wait for it \
                 to finish, or pass lock: \"wait\" to start when it stops"
            }
            ErrorKind::AlreadyCompleted => {
                "the upload has already completed; there is nothing to abort or resume"
            }
            ErrorKind::ChecksumUnsupported => {
                "checksum: \"sha256\" was asked for, but the signing backend did not confirm \
                 SHA-256 checksums (a plain Uppy Companion cannot sign them): use a backend \
                 with resupload's checksum extension, or checksum: \"none\""
            }
            ErrorKind::PermissionDenied => {
                "read access to the file was not granted: call start() from a click, where the \
                 browser can ask the user (it asks only during one), or pick the file again"
            }
            ErrorKind::FileMissing => {
                "the file is no longer where it was (moved, renamed or deleted): pick it again"
            }
            ErrorKind::FileChanged => {
                "the file changed since its upload began (another name, size or date): its old \
                 parts are not reused; upload it again as a new file"
            }
            ErrorKind::NoHandle => {
                "this upload cannot continue without its file: pick the same file again (only \
                 uploads started from a file handle, or with stage: \"opfs\", continue without \
                 picking)"
            }
            ErrorKind::InvalidOption { .. }
            | ErrorKind::FileTooLarge { .. }
            | ErrorKind::Network { .. }
            | ErrorKind::Http { .. }
            | ErrorKind::BadResponse { .. }
            | ErrorKind::MissingEtag { .. }
            | ErrorKind::NoSuchUpload { .. }
            | ErrorKind::Storage { .. }
            | ErrorKind::ChecksumMismatch(..)
            | ErrorKind::ReadFailed { .. }
            | ErrorKind::HeadersFailed { .. }
            | ErrorKind::NotInBuild { .. }
            | ErrorKind::UnsupportedBrowser { .. } => "",
        }
    }
}

impl ErrorKind {
    /// The message for a person: what went wrong and what to do about it.
    /// Built from pieces, not with `write!`, which would link std's
    /// formatting machinery into the wasm (see [`crate::core::text`]).
    pub fn message(&self) -> String {
        match self {
            ErrorKind::InvalidOption { option, reason } => {
                ["invalid option `", option, "`: ", reason].concat()
            }
            ErrorKind::FileTooLarge { size, max } => [
                "the file is ",
                &decimal(*size),
                " bytes, over the largest object the store accepts (",
                &decimal(*max),
                " bytes); raise `maxObjectSize` only if your store allows larger objects",
            ]
            .concat(),
            ErrorKind::Network { .. }
            | ErrorKind::BadResponse { .. }
            | ErrorKind::MissingEtag { .. }
            | ErrorKind::NoSuchUpload { .. } => self.exchange_message(),
            ErrorKind::Http { .. } => self.http_message(),
            ErrorKind::Storage { detail, .. } => [
                "the browser's upload state store (IndexedDB) failed: ",
                detail,
            ]
            .concat(),
            ErrorKind::ChecksumMismatch(mismatch) => mismatch.message(),
            ErrorKind::ReadFailed { detail } => [
                "the file could not be read: ",
                detail,
                "; if it was moved, changed or deleted, pick it again",
            ]
            .concat(),
            ErrorKind::HeadersFailed { detail } => [
                "the `headers` option failed: ",
                detail,
                "; nothing sent is lost: once it can give the credentials again, call again \
                 what failed (start() continues the upload)",
            ]
            .concat(),
            ErrorKind::NotInBuild { .. } | ErrorKind::UnsupportedBrowser { .. } => {
                self.setup_message()
            }
            fixed => fixed.fixed_message().to_owned(),
        }
    }

    /// The messages of a request that failed without an HTTP status to
    /// show: no answer, an answer of the wrong shape, a part's missing
    /// ETag, an upload the server no longer has.
    fn exchange_message(&self) -> String {
        match self {
            ErrorKind::Network { operation, detail } => [
                "network error while ",
                operation.describe(),
                ": ",
                detail,
                "; check the connection (and, for part uploads, the bucket's CORS rules), then ",
                operation.next_step(),
            ]
            .concat(),
            ErrorKind::BadResponse { operation, detail } => [
                "the signing backend gave an unexpected answer while ",
                operation.describe(),
                ": ",
                detail,
                "; it must speak Uppy Companion's S3 multipart protocol",
            ]
            .concat(),
            ErrorKind::MissingEtag { part_number } => [
                "the upload of part ",
                &decimal(u64::from(*part_number)),
                " succeeded but its response has no ETag header: the bucket's CORS rules must \
                 expose ETag (ExposeHeaders: [\"ETag\"])",
            ]
            .concat(),
            ErrorKind::NoSuchUpload { upload_id } => [
                "the server no longer has multipart upload ",
                upload_id,
                " (it expired or was aborted); call start() again to upload the file afresh",
            ]
            .concat(),
            _ => String::new(),
        }
    }

    /// The messages of a page's set-up errors: a call this build of the
    /// package leaves out, a browser feature missing.
    fn setup_message(&self) -> String {
        match self {
            ErrorKind::NotInBuild { call } => [
                call,
                " is not in this build of resupload, which keeps pages that do not call it \
                 smaller: import Upload from \"resupload/pending\" (or \"resupload/queue\") \
                 instead of \"resupload\"",
            ]
            .concat(),
            ErrorKind::UnsupportedBrowser { feature } => [
                "this browser lacks ",
                feature,
                ", which resupload needs: use a current Chrome, Edge, Firefox or Safari (16 or \
                 later), in a page or a dedicated worker (a service worker has no \
                 XMLHttpRequest)",
            ]
            .concat(),
            _ => String::new(),
        }
    }

    /// The message of [`ErrorKind::Http`]: the status, the body when there is
    /// one, and what to do about a 401.
    fn http_message(&self) -> String {
        let ErrorKind::Http {
            operation,
            status,
            body,
            ..
        } = self
        else {
            return String::new();
        };
        let (colon, body) = if body.is_empty() {
            ("", "")
        } else {
            (": ", body.as_str())
        };
        let credentials = if *status == 401 {
            "; the signing backend wants credentials: give them with the `headers` option (a \
             function is asked again after a 401)"
        } else {
            ""
        };
        [
            "the server answered HTTP ",
            &decimal(u64::from(*status)),
            " while ",
            operation.describe(),
            colon,
            body,
            credentials,
        ]
        .concat()
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl Error {
    /// The message for a person: [`ErrorKind::message`].
    pub fn message(&self) -> String {
        self.0.message()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

impl Mismatch {
    /// The message of [`ErrorKind::ChecksumMismatch`].
    fn message(&self) -> String {
        [
            "the object stored as ",
            &self.key,
            " has the checksum ",
            &self.actual,
            ", not ",
            &self.expected,
            ", computed here from the file: it does not hold the file's bytes; delete it and \
             upload the file again",
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_are_5xx_408_429() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 412, 413] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn expired_urls_and_damaged_bodies_retry_other_refusals_do_not() {
        let refused = |status, refusal| ErrorKind::Http {
            operation: Operation::UploadPart,
            status,
            refusal,
            body: String::new(),
            retry_after_ms: None,
        };
        assert!(refused(403, Refusal::ExpiredUrl).is_retryable());
        assert!(refused(400, Refusal::BadDigest).is_retryable());
        assert!(!refused(403, Refusal::Other).is_retryable());
        assert!(!refused(400, Refusal::InvalidPart).is_retryable());
        assert!(refused(503, Refusal::Other).is_retryable());
    }

    #[test]
    fn network_errors_retry_and_option_errors_do_not() {
        let net = ErrorKind::Network {
            operation: Operation::UploadPart,
            detail: "Failed to fetch".into(),
        };
        assert!(net.is_retryable());
        assert!(!Error::invalid_option("partSize", "too small").is_retryable());
        assert!(!ErrorKind::MissingEtag { part_number: 3 }.is_retryable());
    }

    #[test]
    fn outages_and_refused_credentials_are_queue_wide_a_file_s_own_troubles_are_not() {
        let answered = |operation, status| ErrorKind::Http {
            operation,
            status,
            refusal: Refusal::Other,
            body: String::new(),
            retry_after_ms: None,
        };
        let network = ErrorKind::Network {
            operation: Operation::SignFile,
            detail: "Failed to fetch".into(),
        };
        let headers = ErrorKind::HeadersFailed {
            detail: "rejected".into(),
        };
        let not_protocol = ErrorKind::BadResponse {
            operation: Operation::Create,
            detail: "HTML".into(),
        };
        for wide in [
            network,
            headers,
            not_protocol,
            answered(Operation::SignFile, 401),
            answered(Operation::Create, 403),
            answered(Operation::UploadPart, 503),
            answered(Operation::UploadFile, 429),
            answered(Operation::Create, 404),
        ] {
            assert!(wide.is_queue_wide(), "{wide:?}");
        }
        let unread = ErrorKind::ReadFailed {
            detail: "NotReadableError".into(),
        };
        let too_large = ErrorKind::FileTooLarge { size: 9, max: 8 };
        for own in [
            unread,
            too_large,
            ErrorKind::FileMissing,
            ErrorKind::FileChanged,
            ErrorKind::PermissionDenied,
            ErrorKind::Locked,
            answered(Operation::UploadFile, 400),
            answered(Operation::UploadFile, 413),
            answered(Operation::ListParts, 404),
        ] {
            assert!(!own.is_queue_wide(), "{own:?}");
        }
    }

    #[test]
    fn set_up_errors_name_what_to_do() {
        let not_in_build = ErrorKind::NotInBuild {
            call: "Upload.listPending",
        };
        assert_eq!(not_in_build.code(), "NOT_IN_BUILD");
        let msg = not_in_build.to_string();
        assert!(
            msg.starts_with("Upload.listPending is not in this build"),
            "{msg}"
        );
        assert!(msg.contains("\"resupload/pending\""), "{msg}");
        let msg = ErrorKind::UnsupportedBrowser { feature: "fetch" }.to_string();
        assert!(msg.starts_with("this browser lacks fetch"), "{msg}");
    }

    #[test]
    fn missing_etag_message_names_the_cors_fix() {
        let msg = ErrorKind::MissingEtag { part_number: 2 }.to_string();
        assert!(msg.contains("CORS"), "{msg}");
        assert!(msg.contains("ETag"), "{msg}");
        assert_eq!(
            ErrorKind::MissingEtag { part_number: 2 }.code(),
            "MISSING_ETAG"
        );
    }
}
