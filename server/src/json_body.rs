//! A JSON request body, read the way axum's `Json` reads it, whose refusal
//! says what the request sent: a caller told "expected `Content-Type:
//! application/json`" learns which header its request carried instead.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::Json;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A handler's JSON body, or the error its request is answered with. It
/// never refuses by itself, so a handler decides which of its checks comes
/// first (`let body = body.take()?;`).
pub struct JsonBody<T>(Result<T, ApiError>);

impl<T> JsonBody<T> {
    /// The body, or the error that says why it could not be read.
    pub fn take(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let sent = request
            .headers()
            .get(CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let body = Json::<T>::from_request(request, state).await;
        Ok(JsonBody(
            body.map(|Json(body)| body)
                .map_err(|rejection| refused(rejection, sent.as_deref())),
        ))
    }
}

/// The error for a body axum refused; one not said to be JSON names the
/// `Content-Type` it was sent with.
fn refused(rejection: JsonRejection, sent: Option<&str>) -> ApiError {
    let unsaid = matches!(rejection, JsonRejection::MissingJsonContentType(_));
    match ApiError::from(rejection) {
        ApiError::Rejected { status, message } if unsaid => ApiError::Rejected {
            status,
            message: format!("{message}; {}", said(sent)),
        },
        error => error,
    }
}

/// What a message says of a request's `Content-Type`.
fn said(sent: Option<&str>) -> String {
    match sent {
        Some(value) => format!("this request's Content-Type was `{value}`"),
        None => "this request had no Content-Type".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;

    async fn read(content_type: Option<&str>, body: &str) -> Result<serde_json::Value, ApiError> {
        let mut request = Request::builder().method("POST").uri("/");
        if let Some(value) = content_type {
            request = request.header(CONTENT_TYPE, value);
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        let Ok(body) = JsonBody::from_request(request, &()).await;
        body.take()
    }

    fn message_of(error: ApiError) -> (StatusCode, String) {
        match error {
            ApiError::Rejected { status, message } => (status, message),
            other => panic!("not a rejection: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_body_said_to_be_json_is_read() {
        let body = read(Some("application/json"), r#"{"a":1}"#).await.unwrap();
        assert_eq!(body["a"], 1);
    }

    #[tokio::test]
    async fn a_body_not_said_to_be_json_names_the_type_it_was_sent_with() {
        let (status, message) = message_of(
            read(Some("text/plain;charset=UTF-8"), "{}")
                .await
                .unwrap_err(),
        );
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(message.contains("application/json"), "{message}");
        assert!(
            message.ends_with("; this request's Content-Type was `text/plain;charset=UTF-8`"),
            "{message}"
        );
        let (_, message) = message_of(read(None, "{}").await.unwrap_err());
        assert!(
            message.ends_with("; this request had no Content-Type"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn bad_json_is_a_400_without_the_type() {
        let (status, message) =
            message_of(read(Some("application/json"), "{nope").await.unwrap_err());
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!message.contains("this request"), "{message}");
    }
}
