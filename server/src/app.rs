//! The whole HTTP application: API routes, static files, shared layers.

use std::path::Path;

use axum::extract::{DefaultBodyLimit, OriginalUri};
use axum::http::{header, HeaderValue, Method};
use axum::{middleware, Router};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::routes::SharedState;
use crate::{debug, demo_auth, routes};

/// The largest JSON body the API reads, but a complete's
/// ([`MAX_COMPLETE_BODY`]).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// The largest body of a complete request: 10,000 parts, each with its
/// ETag and SHA-256, are about 1.3 MB; 4 MiB leaves room for longer ETags.
pub const MAX_COMPLETE_BODY: usize = 4 * 1024 * 1024;

/// Builds the application:
/// - `/api/s3/...`: the Companion S3 routes, plus `/api/debug/...` when
///   `debug_routes`;
/// - `/pkg/...`: files of `pkg` (the wasm-pack output);
/// - anything else: files of `www` (`/` is `index.html`).
///
/// Every answer carries `Cache-Control: no-store`. With `debug_routes` the API
/// also answers CORS requests from loopback origins (the in-browser tests'
/// runner), with any request header (`Authorization` included); a page of
/// any other site cannot read the debug routes' answers. With demo auth, every
/// request gets its identity from the demo cookie (issued if missing), and
/// `/api/demo/...` is served.
pub fn build(state: SharedState, www: &Path, pkg: &Path, debug_routes: bool) -> Router {
    let demo = matches!(state.auth, Auth::Demo(_));
    let mut api = routes::router();
    if debug_routes {
        api = api.merge(debug::router());
    }
    if demo {
        api = api.merge(demo_auth::router());
    }
    let mut api = api
        .fallback(api_not_found)
        .method_not_allowed_fallback(api_method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    if debug_routes {
        // Test pages served from another origin (wasm-bindgen-test-runner's)
        // call the API too; only test runs switch this on.
        // `Access-Control-Allow-Headers: *` does not cover Authorization:
        // the request's own list is mirrored instead.
        api = api.layer(
            CorsLayer::permissive()
                .allow_origin(AllowOrigin::predicate(|origin, _| {
                    is_loopback_origin(origin)
                }))
                .allow_headers(AllowHeaders::mirror_request()),
        );
    }
    let mut app = Router::new()
        .nest("/api", api)
        .nest_service("/pkg", ServeDir::new(pkg))
        .fallback_service(ServeDir::new(www));
    if demo {
        app = app.layer(middleware::from_fn_with_state(
            state.clone(),
            demo_auth::identify,
        ));
    }
    app.layer(SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
    .with_state(state)
}

/// Whether `origin` is a page of this machine: `http(s)://` and a loopback
/// host (`localhost`, `127.x.x.x`, `[::1]`), any port.
fn is_loopback_origin(origin: &HeaderValue) -> bool {
    let Some(url) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && match url.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

async fn api_not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no API route {}", uri.path()))
}

async fn api_method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not answer {method}", uri.path()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::is_loopback_origin;

    #[test]
    fn only_pages_of_this_machine_are_loopback_origins() {
        for origin in [
            "http://127.0.0.1:41234",
            "http://localhost:8000",
            "https://[::1]",
            "http://127.9.9.9",
        ] {
            assert!(
                is_loopback_origin(&HeaderValue::from_static(origin)),
                "{origin}"
            );
        }
        for origin in [
            "https://example.com",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "null",
            "file://",
            "http://192.168.1.2:8080",
        ] {
            assert!(
                !is_loopback_origin(&HeaderValue::from_static(origin)),
                "{origin}"
            );
        }
    }
}
