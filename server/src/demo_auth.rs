//! The demo's identities (`--demo-auth`): an anonymous identity per
//! browser, kept in a signed cookie issued on its first request, and a
//! demo-only sign-in by user name, so that a person can try cross-device
//! resume with two browsers. Never a real login: anyone may claim any name.
//!
//! The cookie is `resupload_demo=v1:<anon>:<user>:<mac>`, HttpOnly,
//! SameSite=Lax, where `<anon>` is 32 random hex digits, `<user>` the
//! signed-in name (or empty) and `<mac>` the HMAC-SHA256 of the rest under
//! the cookie secret (base64url). A cookie that does not verify is ignored,
//! and a fresh anonymous identity issued.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::json_body::JsonBody;
use crate::keys::random_hex;
use crate::routes::SharedState;

/// The cookie's name.
pub const COOKIE_NAME: &str = "resupload_demo";
/// The variable that may hold the cookie secret (else a file in the data dir).
pub const COOKIE_SECRET_VAR: &str = "AUTH_COOKIE_SECRET";
/// The file in the data directory that keeps the cookie secret.
pub const COOKIE_SECRET_FILE: &str = "cookie-secret";
/// The longest user name, in characters.
pub const MAX_USER_CHARS: usize = 64;
/// How long the browser keeps the cookie: a year.
const COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Signs and checks the demo cookie.
pub struct DemoAuth {
    secret: Vec<u8>,
}

impl std::fmt::Debug for DemoAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoAuth").finish_non_exhaustive()
    }
}

/// A browser's demo identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoIdentity {
    /// 32 random hex digits, for this browser.
    pub anon: String,
    /// The signed-in user name, if any.
    pub user: Option<String>,
}

impl DemoIdentity {
    /// The owner of this identity's uploads: `user:<name>` when signed in,
    /// else `anon:<hex>`.
    pub fn owner(&self) -> String {
        match &self.user {
            Some(user) => format!("user:{user}"),
            None => format!("anon:{}", self.anon),
        }
    }
}

/// A user name as the demo keeps it (lowercase), if acceptable: 1 to 64
/// letters, digits, `.`, `-` or `_`.
pub fn normalize_user(raw: &str) -> Option<String> {
    let user = raw.trim().to_ascii_lowercase();
    let ok = !user.is_empty()
        && user.chars().count() <= MAX_USER_CHARS
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    ok.then_some(user)
}

impl DemoAuth {
    /// Signs with `secret`.
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// The secret from [`COOKIE_SECRET_VAR`] (read through `lookup`), else
    /// from the file in `data_dir`, created with 32 random bytes once.
    ///
    /// # Errors
    /// The file cannot be read or written.
    pub fn from_settings(
        lookup: &impl Fn(&str) -> Option<String>,
        data_dir: &Path,
    ) -> Result<Self, String> {
        if let Some(secret) = lookup(COOKIE_SECRET_VAR).filter(|s| !s.trim().is_empty()) {
            return Ok(Self::new(secret.into_bytes()));
        }
        let file = data_dir.join(COOKIE_SECRET_FILE);
        let secret = match std::fs::read_to_string(&file) {
            Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
            _ => write_new_secret(&file)?,
        };
        Ok(Self::new(secret.into_bytes()))
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key size");
        mac.update(payload.as_bytes());
        mac
    }

    /// The cookie value for `identity`.
    pub fn cookie_value(&self, identity: &DemoIdentity) -> String {
        let payload = format!(
            "v1:{}:{}",
            identity.anon,
            identity.user.as_deref().unwrap_or_default()
        );
        let tag = self.mac(&payload).finalize().into_bytes();
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag);
        format!("{payload}:{tag}")
    }

    /// The identity in a cookie value, if its signature holds.
    pub fn verify(&self, value: &str) -> Option<DemoIdentity> {
        let (payload, tag) = value.rsplit_once(':')?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .ok()?;
        self.mac(payload).verify_slice(&tag).ok()?;
        let mut fields = payload.split(':');
        let (Some("v1"), Some(anon), Some(user), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return None;
        };
        let anon_ok = anon.len() == 32 && anon.bytes().all(|b| b.is_ascii_hexdigit());
        let user = match user {
            "" => None,
            name => Some(normalize_user(name).filter(|n| n == name)?),
        };
        anon_ok.then(|| DemoIdentity {
            anon: anon.to_owned(),
            user,
        })
    }

    /// The identity of a request's cookies, if one verifies.
    pub fn identity_of(&self, headers: &HeaderMap) -> Option<DemoIdentity> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == COOKIE_NAME)
            .find_map(|(_, value)| self.verify(value))
    }

    /// The `Set-Cookie` header value that stores `identity`.
    pub fn set_cookie(&self, identity: &DemoIdentity) -> HeaderValue {
        let cookie = format!(
            "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={COOKIE_MAX_AGE_SECS}",
            self.cookie_value(identity)
        );
        HeaderValue::from_str(&cookie).expect("the cookie is printable ASCII")
    }
}

fn write_new_secret(file: &Path) -> Result<String, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let secret = format!(
        "{}{}",
        random_hex().map_err(|e| e.to_string())?,
        random_hex().map_err(|e| e.to_string())?
    );
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("cannot write the cookie secret {}: {e}", file.display()))?;
    out.write_all(secret.as_bytes())
        .map_err(|e| format!("cannot write the cookie secret {}: {e}", file.display()))?;
    Ok(secret)
}

/// Middleware (demo mode): gives every request a [`DemoIdentity`]
/// extension, from its cookie or new, and sets the cookie when it was new.
pub async fn identify(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Auth::Demo(demo) = &state.auth else {
        return next.run(request).await;
    };
    let known = demo.identity_of(request.headers());
    let identity = match &known {
        Some(identity) => identity.clone(),
        None => match random_hex() {
            Ok(anon) => DemoIdentity { anon, user: None },
            Err(e) => return ApiError::Internal(format!("no random bytes: {e}")).into_response(),
        },
    };
    request.extensions_mut().insert(identity.clone());
    let mut response = next.run(request).await;
    if known.is_none() && !response.headers().contains_key(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, demo.set_cookie(&identity));
    }
    response
}

/// The demo routes, relative to `/api`.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/demo/sign-in", post(sign_in))
        .route("/demo/sign-out", post(sign_out))
        .route("/demo/whoami", get(whoami))
}

/// The body of `POST /api/demo/sign-in`.
#[derive(Debug, Deserialize)]
pub struct SignInBody {
    user: String,
}

fn demo_of(state: &SharedState) -> Result<&DemoAuth, ApiError> {
    match &state.auth {
        Auth::Demo(demo) => Ok(demo),
        _ => Err(ApiError::NotFound(
            "the demo routes need --demo-auth".to_owned(),
        )),
    }
}

fn answer(demo: &DemoAuth, identity: &DemoIdentity) -> Response {
    let body = json!({ "owner": identity.owner(), "user": identity.user });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, demo.set_cookie(identity));
    response
}

/// `POST /api/demo/sign-in` `{"user": "alice"}` → `{owner: "user:alice", user}`.
async fn sign_in(
    State(state): State<SharedState>,
    Extension(identity): Extension<DemoIdentity>,
    body: JsonBody<SignInBody>,
) -> Result<Response, ApiError> {
    let demo = demo_of(&state)?;
    let body = body.take()?;
    let user = normalize_user(&body.user).ok_or_else(|| {
        ApiError::bad_request(
            "InvalidUser",
            format!("a user name is 1 to {MAX_USER_CHARS} letters, digits, '.', '-' or '_'"),
        )
    })?;
    let signed_in = DemoIdentity {
        user: Some(user),
        ..identity
    };
    Ok(answer(demo, &signed_in))
}

/// `POST /api/demo/sign-out` → `{owner: "anon:…", user: null}`: back to the
/// browser's anonymous identity.
async fn sign_out(
    State(state): State<SharedState>,
    Extension(identity): Extension<DemoIdentity>,
) -> Result<Response, ApiError> {
    let demo = demo_of(&state)?;
    let anonymous = DemoIdentity {
        user: None,
        ..identity
    };
    Ok(answer(demo, &anonymous))
}

/// `GET /api/demo/whoami` → `{owner, user}`.
async fn whoami(Extension(identity): Extension<DemoIdentity>) -> Json<Value> {
    Json(json!({ "owner": identity.owner(), "user": identity.user }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> DemoAuth {
        DemoAuth::new(b"test secret".to_vec())
    }

    fn alice() -> DemoIdentity {
        DemoIdentity {
            anon: "0123456789abcdef0123456789abcdef".into(),
            user: Some("alice".into()),
        }
    }

    #[test]
    fn a_cookie_round_trips() {
        let demo = demo();
        let value = demo.cookie_value(&alice());
        assert_eq!(demo.verify(&value), Some(alice()));
        assert_eq!(alice().owner(), "user:alice");
        let anon = DemoIdentity {
            user: None,
            ..alice()
        };
        let value = demo.cookie_value(&anon);
        assert_eq!(
            demo.verify(&value).unwrap().owner(),
            "anon:0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn a_tampered_or_foreign_cookie_does_not_verify() {
        let demo = demo();
        let value = demo.cookie_value(&alice());
        let as_bob = value.replace(":alice:", ":bob:");
        assert_eq!(demo.verify(&as_bob), None);
        let other = DemoAuth::new(b"another secret".to_vec());
        assert_eq!(other.verify(&value), None);
        for junk in [
            "",
            "v1",
            "v1:x:y:z",
            "v1:0123:alice:AAAA",
            &value[..value.len() - 2],
        ] {
            assert_eq!(demo.verify(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let demo = demo();
        let mut headers = HeaderMap::new();
        let cookie = format!(
            "a=b; {COOKIE_NAME}=junk; {COOKIE_NAME}={}",
            demo.cookie_value(&alice())
        );
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert_eq!(demo.identity_of(&headers), Some(alice()));
        let set = demo.set_cookie(&alice());
        let set = set.to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
    }

    #[test]
    fn user_names() {
        assert_eq!(normalize_user(" Alice "), Some("alice".into()));
        assert_eq!(normalize_user("a.b-c_d9"), Some("a.b-c_d9".into()));
        for bad in ["", " ", "a:b", "a b", "é", &"x".repeat(65)] {
            assert_eq!(normalize_user(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_secret_file_is_made_once() {
        let dir = std::env::temp_dir().join(format!("resupload-demo-{}", random_hex().unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        let none = |_: &str| None;
        let first = DemoAuth::from_settings(&none, &dir).unwrap();
        let second = DemoAuth::from_settings(&none, &dir).unwrap();
        assert_eq!(first.secret, second.secret);
        assert_eq!(first.secret.len(), 64);
        let given = |_: &str| Some("from the environment".to_owned());
        assert_eq!(
            DemoAuth::from_settings(&given, &dir).unwrap().secret,
            b"from the environment"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
