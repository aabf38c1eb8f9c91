//! The whole HTTP application: API routes, static files, shared layers.

use std::path::Path;

use axum::extract::{DefaultBodyLimit, OriginalUri};
use axum::http::{header, HeaderValue, Method};
use axum::Router;
use tower_http::cors::CorsLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::routes::SharedState;
use crate::{debug, routes};

/// The largest JSON body the API reads (a complete request of 10000 parts
/// fits easily).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// Builds the application:
/// - `/api/s3/...`: the Companion S3 routes, plus `/api/debug/...` when
///   `debug_routes`;
/// - `/pkg/...`: files of `pkg` (the wasm-pack output);
/// - anything else: files of `www` (`/` is `index.html`).
///
/// Every answer carries `Cache-Control: no-store`. With `debug_routes` the API
/// also answers CORS requests from any origin (for in-browser tests).
pub fn build(state: SharedState, www: &Path, pkg: &Path, debug_routes: bool) -> Router {
    let mut api = routes::router();
    if debug_routes {
        api = api.merge(debug::router());
    }
    let mut api = api
        .fallback(api_not_found)
        .method_not_allowed_fallback(api_method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    if debug_routes {
        // Test pages served from another origin (wasm-bindgen-test-runner's)
        // call the API too; only test runs switch this on.
        api = api.layer(CorsLayer::permissive());
    }
    Router::new()
        .nest("/api", api)
        .nest_service("/pkg", ServeDir::new(pkg))
        .fallback_service(ServeDir::new(www))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

async fn api_not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no API route {}", uri.path()))
}

async fn api_method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not answer {method}", uri.path()))
}
