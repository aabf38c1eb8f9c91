use std::path::PathBuf;

use axum::http::HeaderValue;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

/// Test keys only, made for these tests.
const RSA_PRIVATE: &[u8] = include_bytes!("test-rsa-private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("test-rsa-public.pem");
const SECRET: &str = "a test secret of at least thirty-two bytes";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn rs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap()
}

fn headers(authorization: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(authorization).unwrap(),
    );
    headers
}

fn code(result: Result<String, ApiError>) -> String {
    match result {
        Ok(owner) => format!("ok {owner}"),
        Err(ApiError::Unauthorized { code, .. }) => code.to_owned(),
        Err(other) => panic!("{other:?}"),
    }
}

fn hs_auth() -> JwtAuth {
    JwtAuth::new(hs256_key(SECRET).unwrap(), None, None)
}

#[test]
fn a_valid_hs256_token_names_its_owner() {
    let token = hs256(&json!({ "sub": "user-1", "exp": now() + 60 }), SECRET);
    assert_eq!(
        code(hs_auth().verify(&headers(&format!("Bearer {token}")))),
        "ok user-1"
    );
    assert_eq!(
        code(hs_auth().verify(&headers(&format!("bearer  {token} ")))),
        "ok user-1"
    );
}

#[test]
fn missing_expired_forged_and_incomplete_tokens_are_refused() {
    let auth = hs_auth();
    assert_eq!(code(auth.verify(&HeaderMap::new())), "MissingToken");
    assert_eq!(
        code(auth.verify(&headers("Basic dXNlcjpwYXNz"))),
        "MissingToken"
    );
    assert_eq!(code(auth.verify(&headers("Bearer "))), "MissingToken");
    let expired = hs256(&json!({ "sub": "u", "exp": now() - 3600 }), SECRET);
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {expired}")))),
        "ExpiredToken"
    );
    let forged = hs256(
        &json!({ "sub": "u", "exp": now() + 60 }),
        "another secret, also long enough!!",
    );
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {forged}")))),
        "InvalidToken"
    );
    let no_exp = hs256(&json!({ "sub": "u" }), SECRET);
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {no_exp}")))),
        "InvalidToken"
    );
    let no_sub = hs256(&json!({ "exp": now() + 60 }), SECRET);
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {no_sub}")))),
        "InvalidToken"
    );
    let empty_sub = hs256(&json!({ "sub": "", "exp": now() + 60 }), SECRET);
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {empty_sub}")))),
        "InvalidToken"
    );
    assert_eq!(
        code(auth.verify(&headers("Bearer not.a.jwt"))),
        "InvalidToken"
    );
    // Another algorithm than the configured one.
    let rs = rs256(&json!({ "sub": "u", "exp": now() + 60 }));
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {rs}")))),
        "InvalidToken"
    );
}

#[test]
fn a_token_not_yet_valid_is_refused_like_any_invalid_token() {
    let auth = hs_auth();
    let bearer = |claims: Value| format!("Bearer {}", hs256(&claims, SECRET));
    let ahead = json!({ "sub": "u", "exp": now() + 7200, "nbf": now() + 3600 });
    assert_eq!(code(auth.verify(&headers(&bearer(ahead)))), "InvalidToken");
    let past = json!({ "sub": "u", "exp": now() + 60, "nbf": now() - 60 });
    assert_eq!(code(auth.verify(&headers(&bearer(past)))), "ok u");
    // Within the leeway: a clock a few seconds ahead of this server's.
    let skewed = json!({ "sub": "u", "exp": now() + 60, "nbf": now() + 10 });
    assert_eq!(code(auth.verify(&headers(&bearer(skewed)))), "ok u");
}

#[test]
fn rs256_tokens_verify_with_the_public_key_only() {
    let auth = JwtAuth::new(DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap(), None, None);
    assert_eq!(auth.algorithm(), Algorithm::RS256);
    let token = rs256(&json!({ "sub": "user-2", "exp": now() + 60 }));
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {token}")))),
        "ok user-2"
    );
    // The old confusion: an HS256 token "signed" with the public key.
    let public = String::from_utf8(RSA_PUBLIC.to_vec()).unwrap();
    let confused = hs256(&json!({ "sub": "user-2", "exp": now() + 60 }), &public);
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {confused}")))),
        "InvalidToken"
    );
}

#[test]
fn issuer_and_audience_are_required_when_configured() {
    let auth = JwtAuth::new(
        hs256_key(SECRET).unwrap(),
        Some("https://id.example"),
        Some("resupload"),
    );
    let good =
        json!({ "sub": "u", "exp": now() + 60, "iss": "https://id.example", "aud": "resupload" });
    assert_eq!(
        code(auth.verify(&headers(&format!("Bearer {}", hs256(&good, SECRET))))),
        "ok u"
    );
    for bad in [
        json!({ "sub": "u", "exp": now() + 60, "iss": "https://other", "aud": "resupload" }),
        json!({ "sub": "u", "exp": now() + 60, "iss": "https://id.example", "aud": "other" }),
        json!({ "sub": "u", "exp": now() + 60 }),
    ] {
        let token = hs256(&bad, SECRET);
        assert_eq!(
            code(auth.verify(&headers(&format!("Bearer {token}")))),
            "InvalidToken",
            "{bad}"
        );
    }
    // Without a configured audience, a token's aud is not held against it.
    let plain = hs256(
        &json!({ "sub": "u", "exp": now() + 60, "aud": "x" }),
        SECRET,
    );
    assert_eq!(
        code(hs_auth().verify(&headers(&format!("Bearer {plain}")))),
        "ok u"
    );
}

#[test]
fn one_mode_at_a_time() {
    let dir = PathBuf::from("/nonexistent");
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert!(matches!(
        Auth::from_settings(env(&[]), false, &dir),
        Ok(Auth::Off)
    ));
    assert!(matches!(
        Auth::from_settings(env(&[(HS256_SECRET_VAR, SECRET)]), false, &dir),
        Ok(Auth::Jwt(_))
    ));
    assert!(Auth::from_settings(env(&[(HS256_SECRET_VAR, SECRET)]), true, &dir).is_err());
    assert!(Auth::from_settings(env(&[(HS256_SECRET_VAR, "short")]), false, &dir).is_err());
    assert!(Auth::from_settings(
        env(&[(HS256_SECRET_VAR, SECRET), (RS256_KEY_FILE_VAR, "/k.pem")]),
        false,
        &dir
    )
    .is_err());
    // Set but blank, or a token check without a key: refused, not off.
    let blanks: [&'static [(&str, &str)]; 3] = [
        &[(HS256_SECRET_VAR, "")],
        &[(HS256_SECRET_VAR, " \n")],
        &[(RS256_KEY_FILE_VAR, "")],
    ];
    for blank in blanks {
        let refused = Auth::from_settings(env(blank), false, &dir);
        assert!(refused.unwrap_err().contains("set but empty"), "{blank:?}");
    }
    let checks: [&'static [(&str, &str)]; 2] = [&[(ISSUER_VAR, "x")], &[(AUDIENCE_VAR, "x")]];
    for check in checks {
        let refused = Auth::from_settings(env(check), false, &dir);
        assert!(refused.unwrap_err().contains("without a key"), "{check:?}");
    }
    // With --demo-auth, auth is on whatever they say: a blank one is left.
    for left in blanks.into_iter().chain(checks) {
        let cookie = [(crate::demo_auth::COOKIE_SECRET_VAR, SECRET)];
        let settings: &'static [_] = Box::leak([left, &cookie[..]].concat().into_boxed_slice());
        let demo = Auth::from_settings(env(settings), true, &dir);
        assert!(matches!(demo, Ok(Auth::Demo(_))), "{left:?}");
    }
    let missing = Auth::from_settings(env(&[(RS256_KEY_FILE_VAR, "/no/such.pem")]), false, &dir);
    assert!(missing.unwrap_err().contains("/no/such.pem"));
}

#[test]
fn a_secret_with_a_trailing_newline_verifies_the_tokens_of_the_secret() {
    let dir = PathBuf::from("/nonexistent");
    let with_newline = format!("{SECRET}\n");
    let auth = Auth::from_settings(
        |name| (name == HS256_SECRET_VAR).then(|| with_newline.clone()),
        false,
        &dir,
    )
    .unwrap();
    let Auth::Jwt(jwt) = auth else {
        panic!("JWT auth")
    };
    let token = hs256(&json!({ "sub": "user-1", "exp": now() + 60 }), SECRET);
    assert_eq!(
        code(jwt.verify(&headers(&format!("Bearer {token}")))),
        "ok user-1"
    );
}

#[test]
fn the_start_up_line_warns_when_no_audience_is_checked() {
    let without = Auth::Jwt(Box::new(hs_auth()));
    assert!(
        without.describe().contains("no audience is checked"),
        "{}",
        without.describe()
    );
    let with = Auth::Jwt(Box::new(JwtAuth::new(
        hs256_key(SECRET).unwrap(),
        None,
        Some("resupload"),
    )));
    assert!(!with.describe().contains("warning"), "{}", with.describe());
}
