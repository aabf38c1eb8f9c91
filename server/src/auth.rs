//! Who is asking: the owner of a request comes from authentication, never
//! from what the client says, once auth is on.
//!
//! One mode at a time:
//! - **JWT**: `Authorization: Bearer <jwt>`, checked with an HS256 secret
//!   (`AUTH_JWT_HS256_SECRET`) or an RS256 public key
//!   (`AUTH_JWT_RS256_PUBLIC_KEY_FILE`); `exp` is required and checked,
//!   `nbf` checked when present, `iss`/`aud` when configured; the owner is
//!   `sub`.
//! - **Demo** (`--demo-auth`): a signed cookie (see [`crate::demo_auth`]).
//! - **Off**: no identity; the owner is the client's `namespace`, as before
//!   (so plain Companion clients keep working).

use std::path::Path;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::demo_auth::{DemoAuth, DemoIdentity};
use crate::error::ApiError;
use crate::routes::SharedState;

/// The environment variables of the JWT mode.
pub const HS256_SECRET_VAR: &str = "AUTH_JWT_HS256_SECRET";
/// The PEM file of the RS256 public key.
pub const RS256_KEY_FILE_VAR: &str = "AUTH_JWT_RS256_PUBLIC_KEY_FILE";
/// The issuer a token must name (optional).
pub const ISSUER_VAR: &str = "AUTH_JWT_ISSUER";
/// The audience a token must name (optional).
pub const AUDIENCE_VAR: &str = "AUTH_JWT_AUDIENCE";

/// Seconds of clock difference allowed when checking `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// How requests are authenticated.
#[derive(Debug)]
pub enum Auth {
    /// No authentication: owners are the clients' namespaces.
    Off,
    /// Bearer JWTs.
    Jwt(Box<JwtAuth>),
    /// The demo's signed cookie.
    Demo(DemoAuth),
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Auth is off: nobody in particular (the create body's namespace
    /// names the owner).
    Anyone,
    /// A verified identity.
    Owner(String),
}

impl Caller {
    /// The owner of what this caller creates: the verified identity, or
    /// with auth off the client's `namespace` (`""` when absent).
    pub fn owner_or(self, namespace: Option<String>) -> String {
        match self {
            Self::Owner(owner) => owner,
            Self::Anyone => namespace.unwrap_or_default(),
        }
    }
}

impl Auth {
    /// The mode the settings ask for: `demo` (the `--demo-auth` flag), or
    /// the JWT variables read through `lookup`, or off. `data_dir` keeps
    /// the demo's cookie secret.
    ///
    /// # Errors
    /// Two modes at once, an unreadable key file, an unusable secret.
    pub fn from_settings(
        lookup: impl Fn(&str) -> Option<String>,
        demo: bool,
        data_dir: &Path,
    ) -> Result<Self, String> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // Without --demo-auth, a key set but blank
        // (`AUTH_JWT_HS256_SECRET=${UNSET}`), or a token check asked for
        // without a key, would run with auth off.
        for name in [HS256_SECRET_VAR, RS256_KEY_FILE_VAR] {
            if !demo && lookup(name).is_some() && get(name).is_none() {
                return Err(format!(
                    "{name} is set but empty: give it a value, or unset it for no auth"
                ));
            }
        }
        let secret = get(HS256_SECRET_VAR);
        let key_file = get(RS256_KEY_FILE_VAR);
        if !demo && secret.is_none() && key_file.is_none() {
            if let Some(name) = [ISSUER_VAR, AUDIENCE_VAR]
                .into_iter()
                .find(|n| get(n).is_some())
            {
                return Err(format!(
                    "{name} is set, but neither {HS256_SECRET_VAR} nor {RS256_KEY_FILE_VAR}: tokens cannot be checked without a key"
                ));
            }
        }
        let jwt = match (secret, key_file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "set {HS256_SECRET_VAR} or {RS256_KEY_FILE_VAR}, not both"
                ))
            }
            // A secret read from a file or a `.env` line often ends in a
            // newline the token issuer does not sign with.
            (Some(secret), None) => Some(hs256_key(secret.trim())?),
            (None, Some(file)) => Some(read_rs256_key(Path::new(file.trim()))?),
            (None, None) => None,
        };
        match (jwt, demo) {
            (Some(_), true) => Err("--demo-auth and JWT auth cannot be on together".to_owned()),
            (Some(key), false) => Ok(Self::Jwt(Box::new(JwtAuth::new(
                key,
                get(ISSUER_VAR).as_deref(),
                get(AUDIENCE_VAR).as_deref(),
            )))),
            (None, true) => Ok(Self::Demo(DemoAuth::from_settings(&lookup, data_dir)?)),
            (None, false) => Ok(Self::Off),
        }
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        match self {
            Self::Off => "off (owner = the client's namespace)".to_owned(),
            Self::Jwt(jwt) if jwt.checks_audience() => {
                format!("JWT {:?} (owner = sub)", jwt.algorithm())
            }
            Self::Jwt(jwt) => format!(
                "JWT {:?} (owner = sub); warning: no audience is checked, so a token the \
                 same issuer made for another service is accepted too: set {AUDIENCE_VAR}",
                jwt.algorithm()
            ),
            Self::Demo(_) => {
                "demo cookie (anonymous per browser; POST /api/demo/sign-in)".to_owned()
            }
        }
    }

    /// The caller of a request with these `headers` and extensions.
    ///
    /// # Errors
    /// A 401 for a missing, expired or invalid credential.
    pub fn caller(&self, parts: &Parts) -> Result<Caller, ApiError> {
        match self {
            Self::Off => Ok(Caller::Anyone),
            Self::Jwt(jwt) => jwt.verify(&parts.headers).map(Caller::Owner),
            Self::Demo(_) => parts
                .extensions
                .get::<DemoIdentity>()
                .map(|identity| Caller::Owner(identity.owner()))
                .ok_or_else(|| ApiError::unauthorized("MissingToken", "no demo identity cookie")),
        }
    }
}

/// The shortest HS256 secret accepted, in bytes (RFC 7518 asks for at least
/// the hash's size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

fn hs256_key(secret: &str) -> Result<DecodingKey, String> {
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(format!(
            "{HS256_SECRET_VAR} must be at least {MIN_HS256_SECRET_BYTES} bytes"
        ));
    }
    DecodingKey::from_secret(secret.as_bytes()).map_err(|e| format!("{HS256_SECRET_VAR}: {e}"))
}

fn read_rs256_key(file: &Path) -> Result<DecodingKey, String> {
    let pem =
        std::fs::read(file).map_err(|e| format!("{RS256_KEY_FILE_VAR} {}: {e}", file.display()))?;
    DecodingKey::from_rsa_pem(&pem).map_err(|e| {
        format!(
            "{RS256_KEY_FILE_VAR} {}: not an RSA public key in PEM: {e}",
            file.display()
        )
    })
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        state.auth.caller(parts)
    }
}

/// Verifies bearer JWTs.
pub struct JwtAuth {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// The claims this server reads.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
}

impl JwtAuth {
    /// A verifier for `key` (an HS256 secret or an RS256 public key), with
    /// optional issuer and audience to require.
    pub fn new(key: DecodingKey, issuer: Option<&str>, audience: Option<&str>) -> Self {
        let algorithm = match key.family() {
            jsonwebtoken::AlgorithmFamily::Hmac => Algorithm::HS256,
            _ => Algorithm::RS256,
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        // `nbf` is checked when the token has one (it is not required).
        validation.validate_nbf = true;
        // A configured issuer or audience must also be present in the token.
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Self { key, validation }
    }

    /// The one algorithm accepted.
    pub fn algorithm(&self) -> Algorithm {
        self.validation.algorithms[0]
    }

    /// Whether a token must name the configured audience (`aud`).
    pub fn checks_audience(&self) -> bool {
        self.validation.validate_aud
    }

    /// The owner (`sub`) of the request's bearer token.
    ///
    /// # Errors
    /// A 401: no token, or one that is expired, not yet valid (`nbf`),
    /// forged, of another algorithm, issuer or audience, or without `sub`
    /// or `exp`.
    pub fn verify(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let token = bearer_token(headers).ok_or_else(|| {
            ApiError::unauthorized("MissingToken", "send Authorization: Bearer <JWT>")
        })?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("ExpiredToken", "the bearer token has expired")
                }
                _ => ApiError::unauthorized(
                    "InvalidToken",
                    format!("the bearer token is refused: {e}"),
                ),
            },
        )?;
        if data.claims.sub.is_empty() {
            return Err(ApiError::unauthorized(
                "InvalidToken",
                "the bearer token's sub is empty",
            ));
        }
        Ok(data.claims.sub)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests;
