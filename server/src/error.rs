//! Errors of the HTTP API, answered as
//! `{"error": {"code": "...", "message": "..."}}` with a meaningful status.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::db::DbError;
use crate::keys::KeyError;
use crate::s3::StoreError;

/// An error answer of the API.
#[derive(Debug)]
pub enum ApiError {
    /// The request is wrong (400); `code` names what, like `InvalidPartNumber`.
    BadRequest {
        /// Error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such route or object (404).
    NotFound(String),
    /// No open upload has that id (404 `NoSuchUpload`, as the store says it).
    NoSuchUpload(String),
    /// No credential, or one that does not verify (401, with
    /// `WWW-Authenticate: Bearer`); `code` is `MissingToken`, `ExpiredToken`
    /// or `InvalidToken`.
    Unauthorized {
        /// Error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The caller may not touch that upload (403 `AccessDenied`).
    Forbidden(String),
    /// The route exists, not with this method (405).
    MethodNotAllowed(String),
    /// The request could not be read (body too large, bad JSON, ...).
    Rejected {
        /// The status axum chose for it.
        status: StatusCode,
        /// Why.
        message: String,
    },
    /// The store refused or failed.
    Store(StoreError),
    /// The store no longer has an upload, and could not say whether its
    /// object exists (502 `StoreCannotSay`): neither completed nor aborted.
    StoreCannotSay(StoreError),
    /// Something failed in this server.
    Internal(String),
}

impl ApiError {
    /// A 400 error with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 401 error with `code`.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }

    /// The status, code and message of the answer.
    pub fn parts(&self) -> (StatusCode, String, String) {
        match self {
            Self::BadRequest { code, message } => {
                (StatusCode::BAD_REQUEST, (*code).to_owned(), message.clone())
            }
            Self::NotFound(message) => (StatusCode::NOT_FOUND, "NotFound".into(), message.clone()),
            Self::NoSuchUpload(message) => (
                StatusCode::NOT_FOUND,
                "NoSuchUpload".into(),
                message.clone(),
            ),
            Self::Unauthorized { code, message } => (
                StatusCode::UNAUTHORIZED,
                (*code).to_owned(),
                message.clone(),
            ),
            Self::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                "AccessDenied".into(),
                message.clone(),
            ),
            Self::MethodNotAllowed(message) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed".into(),
                message.clone(),
            ),
            Self::Rejected { status, message } => {
                let code = if *status == StatusCode::PAYLOAD_TOO_LARGE {
                    "EntityTooLarge"
                } else {
                    "InvalidRequest"
                };
                (*status, code.into(), message.clone())
            }
            Self::Store(e) => store_parts(e),
            Self::StoreCannotSay(e) => (
                StatusCode::BAD_GATEWAY,
                "StoreCannotSay".into(),
                format!(
                    "the store no longer has this upload and could not say whether it was \
                     completed ({}); try again",
                    e.summary()
                ),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError".into(),
                "this server failed; its log says why".into(),
            ),
        }
    }

    /// The whole story, for this server's log: what [`parts`](Self::parts)
    /// keeps from the client of a store's or this server's failure (a
    /// store's message may name its account and user, a database's its
    /// tables).
    pub fn detail(&self) -> String {
        match self {
            Self::Store(e) | Self::StoreCannotSay(e) => e.to_string(),
            Self::Internal(message) => message.clone(),
            other => other.parts().2,
        }
    }
}

/// The S3 error codes about the client's own upload or what it sent (the
/// upload is gone, a part or its checksum is wrong, the part list is not
/// acceptable): the store's 4xx with these codes pass through.
const CLIENT_STORE_CODES: [&str; 8] = [
    "NoSuchUpload",
    "InvalidPart",
    "InvalidPartOrder",
    "EntityTooSmall",
    "InvalidDigest",
    "BadDigest",
    "InvalidRequest",
    "MetadataTooLarge",
];

/// The status, code and message of a store error. A 4xx about the client's
/// own upload (NoSuchUpload 404, InvalidPart 400, ... [`CLIENT_STORE_CODES`])
/// passes through. Any other 4xx refuses a request this server made on its
/// own behalf (403 AccessDenied for a missing permission, a clock too far
/// off, a missing bucket): 502 `StoreRefused`, so that it never reads as
/// the client's fault (an ownership 403 looks the same). The store failing
/// is a 502 too.
fn store_parts(e: &StoreError) -> (StatusCode, String, String) {
    match e {
        StoreError::Status {
            status,
            code,
            message,
        } => match StatusCode::from_u16(*status) {
            Ok(s) if s.is_client_error() && CLIENT_STORE_CODES.contains(&code.as_str()) => {
                (s, code.clone(), message.clone())
            }
            Ok(s) if s.is_client_error() => (
                StatusCode::BAD_GATEWAY,
                "StoreRefused".into(),
                format!(
                    "the store refused this server's request ({}); this server's log has the store's message",
                    e.summary()
                ),
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                code.clone(),
                format!("the store failed ({}); try again", e.summary()),
            ),
        },
        StoreError::Unreachable(_) => (
            StatusCode::BAD_GATEWAY,
            "StoreUnreachable".into(),
            e.to_string(),
        ),
        StoreError::BadResponse(_) => (
            StatusCode::BAD_GATEWAY,
            "BadStoreResponse".into(),
            e.to_string(),
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            eprintln!("error: {status} {code}: {}", self.detail());
        }
        let mut response = (
            status,
            Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"resupload\""),
            );
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<KeyError> for ApiError {
    /// A relative path too deep or too long is the client's (400
    /// `InvalidRelativePath`); no random bytes is this server's.
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NoRandom(_) => Self::Internal(e.to_string()),
            KeyError::TooDeep(_) | KeyError::TooLong(_) => {
                Self::bad_request("InvalidRelativePath", e.to_string())
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        // Bad JSON and JSON of the wrong shape are both a 400, as Companion
        // answers; too large (413) and not JSON (415) keep their status.
        let status = match r.status() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            status => status,
        };
        Self::Rejected {
            status,
            message: r.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::Rejected {
            status: r.status(),
            message: r.body_text(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::Rejected {
            status: r.status(),
            message: r.body_text(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_client_errors_pass_through_and_server_errors_are_502() {
        let no_such_upload = ApiError::Store(StoreError::Status {
            status: 404,
            code: "NoSuchUpload".into(),
            message: "gone".into(),
        });
        assert_eq!(
            no_such_upload.parts(),
            (StatusCode::NOT_FOUND, "NoSuchUpload".into(), "gone".into())
        );
        let invalid_part = ApiError::Store(StoreError::Status {
            status: 400,
            code: "InvalidPart".into(),
            message: "m".into(),
        });
        assert_eq!(invalid_part.parts().0, StatusCode::BAD_REQUEST);
        let internal = ApiError::Store(StoreError::Status {
            status: 500,
            code: "InternalError".into(),
            message: "m".into(),
        });
        assert_eq!(internal.parts().0, StatusCode::BAD_GATEWAY);
        assert_eq!(
            internal.parts().2,
            "the store failed (500 InternalError); try again"
        );
        let down = ApiError::Store(StoreError::Unreachable("refused".into()));
        assert_eq!(down.parts().0, StatusCode::BAD_GATEWAY);
        assert_eq!(down.parts().1, "StoreUnreachable");
    }

    fn store_status(status: u16, code: &str) -> StoreError {
        StoreError::Status {
            status,
            code: code.into(),
            message: "HeadObject failed".into(),
        }
    }

    #[test]
    fn store_refusals_of_this_servers_own_requests_are_502() {
        for (status, code) in [
            (403, "AccessDenied"),
            (403, "RequestTimeTooSkewed"),
            (403, "SignatureDoesNotMatch"),
            (404, "NoSuchBucket"),
            (400, "AuthorizationHeaderMalformed"),
            (400, "BadRequest"),
            (409, "OperationAborted"),
        ] {
            let (answered, answered_code, message) =
                ApiError::Store(store_status(status, code)).parts();
            assert_eq!(answered, StatusCode::BAD_GATEWAY, "{code}");
            assert_eq!(answered_code, "StoreRefused", "{code}");
            assert!(message.contains(&format!("{status} {code}")), "{message}");
        }
        for (status, code) in [
            (404, "NoSuchUpload"),
            (400, "InvalidPart"),
            (400, "InvalidPartOrder"),
            (400, "EntityTooSmall"),
            (400, "InvalidDigest"),
            (400, "BadDigest"),
            (400, "InvalidRequest"),
        ] {
            let parts = ApiError::Store(store_status(status, code)).parts();
            assert_eq!((parts.0.as_u16(), parts.1.as_str()), (status, code));
        }
    }

    #[test]
    fn a_store_that_cannot_say_is_502_whatever_it_answered() {
        for e in [
            store_status(403, "AccessDenied"),
            store_status(400, "InvalidRequest"),
            store_status(500, "InternalError"),
            StoreError::Unreachable("reset".into()),
        ] {
            let (status, code, _) = ApiError::StoreCannotSay(e).parts();
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::BAD_GATEWAY, "StoreCannotSay")
            );
        }
    }

    #[test]
    fn a_stores_or_databases_message_stays_in_the_log() {
        let secret = "User: arn:aws:iam::123456789012:user/resupload is not authorized";
        for e in [
            ApiError::Store(StoreError::Status {
                status: 403,
                code: "AccessDenied".into(),
                message: secret.into(),
            }),
            ApiError::Store(StoreError::Status {
                status: 503,
                code: "SlowDown".into(),
                message: secret.into(),
            }),
            ApiError::StoreCannotSay(StoreError::Status {
                status: 403,
                code: "AccessDenied".into(),
                message: secret.into(),
            }),
            ApiError::Internal(format!("error returned from database: {secret}")),
        ] {
            let (_, code, message) = e.parts();
            assert!(!message.contains("arn:aws"), "{code}: {message}");
            assert!(e.detail().contains(secret), "{code}: the log has it");
        }
    }
}
