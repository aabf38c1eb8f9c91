//! Resume on another device: the content identity a client gives at create
//! (`size`, `sampleSha256`, beside the file name) and the lookup route that
//! finds the caller's unfinished upload of that identity; or, in one round
//! trip, `adopt: true` in the create body, which answers that upload
//! instead of creating one (see [`adopt_open`]).
//!
//! `GET /api/s3/multipart/lookup?name=N&size=S&sample=HEX` →
//! `{uploadId, key, partSize, checksumAlgorithm, createdAt}`, or `null` when
//! there is none (a 200: a miss is the common answer, and a 404 would print
//! an error in every browser console). The identity has no file date: it
//! differs between devices.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use crate::auth::Caller;
use crate::checksum::ChecksumAlgorithm;
use crate::db::{now_ms, text_refusal, Identity, UploadRow, MAX_TEXT_BYTES};
use crate::error::ApiError;
use crate::keys;
use crate::meta;
use crate::routes::{AppState, SharedState};

/// The largest size or part size accepted (what the table's BIGINT holds).
const MAX_BYTES: u64 = i64::MAX as u64;

/// The identity fields of a create body and its `adopt`, as sent (checked
/// by [`CreateIdentity::parse`]).
#[derive(Debug, Default, Deserialize)]
pub struct CreateIdentity {
    size: Option<Value>,
    #[serde(rename = "sampleSha256")]
    sample_sha256: Option<Value>,
    #[serde(rename = "partSize")]
    part_size: Option<Value>,
    adopt: Option<Value>,
}

/// The identity fields of a create body and its `adopt`, checked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ContentIdentity {
    /// The file's size in bytes.
    pub size: Option<u64>,
    /// The SHA-256 of the content sample, 64 lowercase hex digits.
    pub sample_sha256: Option<String>,
    /// The planned part size in bytes.
    pub part_size: Option<u64>,
    /// Whether the caller's open upload of this identity is answered
    /// instead of a new one, if there is one to adopt (see [`adoptable`]).
    pub adopt: bool,
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("InvalidArgument", message)
}

/// A file name as the uploads table keeps and matches it: in Unicode's
/// composed form (NFC), so that the same file picked on a Mac (whose names
/// may come in decomposed form, NFD) and on another device is one identity,
/// as it is one object key ([`keys::sanitize_file_name`]). Checked as
/// [`check_table_text`] does, as `field`: `"cafe\u{301}.jpg"` is kept
/// as `"caf\u{e9}.jpg"`.
///
/// # Errors
/// A 400 `InvalidArgument` naming the field and what is wrong.
pub fn table_name(field: &str, raw: &str) -> Result<String, ApiError> {
    let name: String = raw.nfc().collect();
    check_table_text(field, &name)?;
    Ok(name)
}

/// Checks that the uploads table can take `text` as `field` (an owner or a
/// file name: no NUL, at most 1024 bytes, on either backend).
///
/// # Errors
/// A 400 `InvalidArgument` naming the field and what is wrong.
pub fn check_table_text(field: &str, text: &str) -> Result<(), ApiError> {
    match text_refusal(text) {
        Some(why) => Err(invalid(format!("{field} {why}"))),
        None => Ok(()),
    }
}

/// The caller's owner for a request that names `namespace` (used with auth
/// off only), checked for the table ([`check_table_text`]).
///
/// # Errors
/// A 400 `InvalidArgument` for an owner the table cannot take.
pub fn checked_owner(caller: Caller, namespace: Option<String>) -> Result<String, ApiError> {
    let field = match caller {
        Caller::Anyone => "namespace",
        Caller::Owner(_) => "the caller's identity (the token's sub)",
    };
    let owner = caller.owner_or(namespace);
    check_table_text(field, &owner)?;
    Ok(owner)
}

/// A byte count: a whole number from `min`, or absent (`null`).
fn bytes(value: Option<&Value>, field: &str, min: u64) -> Result<Option<u64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (min..=MAX_BYTES).contains(n))
            .map(Some)
            .ok_or_else(|| {
                invalid(format!(
                    "{field} {v} is not a whole number of bytes from {min}"
                ))
            }),
    }
}

/// Whether `text` is 64 lowercase hex digits.
pub fn is_sample(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl CreateIdentity {
    /// The checked fields.
    ///
    /// # Errors
    /// A 400 `InvalidArgument` naming the first bad field.
    pub fn parse(&self) -> Result<ContentIdentity, ApiError> {
        let sample_sha256 = match &self.sample_sha256 {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if is_sample(s) => Some(s.clone()),
            Some(v) => {
                return Err(invalid(format!(
                    "sampleSha256 {v} is not 64 lowercase hex digits"
                )))
            }
        };
        let adopt = match &self.adopt {
            None | Some(Value::Null) => false,
            Some(Value::Bool(adopt)) => *adopt,
            Some(v) => return Err(invalid(format!("adopt {v} is not true or false"))),
        };
        Ok(ContentIdentity {
            size: bytes(self.size.as_ref(), "size", 0)?,
            sample_sha256,
            part_size: bytes(self.part_size.as_ref(), "partSize", 1)?,
            adopt,
        })
    }
}

/// What a create with `identity` (by `owner`, of the file `name`) may
/// adopt: only with `adopt: true`, SHA-256 checksums asked, `size` and
/// `sampleSha256` given; else `None`, and the create goes on.
pub fn adoptable<'a>(
    algorithm: Option<ChecksumAlgorithm>,
    identity: &'a ContentIdentity,
    owner: &'a str,
    name: &'a str,
) -> Option<Identity<'a>> {
    if !identity.adopt || algorithm != Some(ChecksumAlgorithm::Sha256) {
        return None;
    }
    Some(Identity {
        owner,
        name,
        size: identity.size?,
        sample_sha256: identity.sample_sha256.as_deref()?,
    })
}

/// The create answer for `row`, adopted: `None` unless its parts carry
/// SHA-256 checksums (nothing else shows that its parts are this file's).
pub fn adopted_answer(row: &UploadRow, bucket: &str) -> Option<Value> {
    let algorithm = ChecksumAlgorithm::Sha256.as_str();
    (row.checksum_algorithm.as_deref() == Some(algorithm)).then(|| {
        json!({
            "key": row.key,
            "uploadId": row.upload_id,
            "bucket": bucket,
            "checksumAlgorithm": algorithm,
            "adopted": true,
            "partSize": row.part_size,
            "createdAt": row.created_at_ms,
        })
    })
}

/// Where a create would put its object: the key it would make, and the
/// object's headers (Content-Type, `x-amz-meta-*`).
pub struct Placed<'a> {
    pub key: &'a str,
    pub headers: &'a [(String, String)],
}

/// How many of the caller's open uploads of one identity a create looks
/// through for one to adopt (newest first): a bound on its work.
const ADOPT_CANDIDATES: i64 = 32;

/// The create answer of the caller's newest open upload of `identity` that
/// can be adopted, if the create asks to adopt one (see [`adoptable`]): its
/// parts carry SHA-256 checksums ([`adopted_answer`]), it is in the place
/// of the key this create would make ([`keys::same_place`]), and it has the
/// same `x-amz-meta-*` headers in either Unicode form
/// ([`meta::same_metadata`]; an app that tells two objects apart by their
/// metadata gets two; the Content-Type, which browsers guess differently
/// for one file, may differ). A newer upload that cannot be
/// adopted (another folder's copy of the file, one without checksums) does
/// not hide an older one that can. `None`: create a new one. Nothing is
/// written.
///
/// # Errors
/// The table failed.
pub async fn adopt_open(
    state: &AppState,
    algorithm: Option<ChecksumAlgorithm>,
    identity: &ContentIdentity,
    owner: &str,
    name: &str,
    placed: &Placed<'_>,
) -> Result<Option<Value>, ApiError> {
    let Some(wanted) = adoptable(algorithm, identity, owner, name) else {
        return Ok(None);
    };
    let rows = state
        .db
        .open_uploads_of(&wanted, offered_since(state), ADOPT_CANDIDATES)
        .await?;
    Ok(rows
        .iter()
        .filter(|row| {
            keys::same_place(&row.key, placed.key)
                && meta::same_metadata(&row.headers, placed.headers)
        })
        .find_map(|row| adopted_answer(row, state.store.bucket_name())))
}

/// The owner's newest open upload of `identity` that is still offered,
/// not near its expiry (what a lookup answers; see
/// [`JanitorSettings::offered_for`](crate::janitor::JanitorSettings::offered_for)).
///
/// # Errors
/// The table failed.
pub async fn newest_open(
    state: &AppState,
    identity: &Identity<'_>,
) -> Result<Option<UploadRow>, ApiError> {
    Ok(state.db.lookup(identity, offered_since(state)).await?)
}

/// The creation time from which an open upload is still offered.
fn offered_since(state: &AppState) -> i64 {
    let offered_ms = i64::try_from(state.janitor.offered_for().as_millis()).unwrap_or(i64::MAX);
    now_ms().saturating_sub(offered_ms)
}

/// The query of the lookup route.
#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    name: Option<String>,
    size: Option<String>,
    sample: Option<String>,
    /// With auth off only: whose uploads (the namespace given at create).
    namespace: Option<String>,
}

/// The checked `(name, size, sample)` of a lookup.
fn parse_lookup(query: &LookupQuery) -> Result<(String, u64, &str), ApiError> {
    let name = query
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "name must be the file name (1 to {MAX_TEXT_BYTES} bytes)"
            ))
        })?;
    let name = table_name("name", name)?;
    let size = query
        .size
        .as_deref()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s <= MAX_BYTES)
        .ok_or_else(|| invalid("size must be the file size in bytes".to_owned()))?;
    let sample = query
        .sample
        .as_deref()
        .filter(|s| is_sample(s))
        .ok_or_else(|| {
            invalid("sample must be the sample's SHA-256, 64 lowercase hex digits".to_owned())
        })?;
    Ok((name, size, sample))
}

/// `GET /api/s3/multipart/lookup?name=N&size=S&sample=HEX` → the caller's
/// newest open upload of that identity (created with that sample, not past
/// expiry), or `null`.
pub async fn lookup(
    State(state): State<SharedState>,
    caller: Caller,
    query: Result<Query<LookupQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let (name, size, sample_sha256) = parse_lookup(&query)?;
    let owner = checked_owner(caller, query.namespace.clone())?;
    let identity = Identity {
        owner: &owner,
        name: &name,
        size,
        sample_sha256,
    };
    let Some(row) = newest_open(&state, &identity).await? else {
        return Ok(Json(Value::Null));
    };
    Ok(Json(json!({
        "uploadId": row.upload_id,
        "key": row.key,
        "partSize": row.part_size,
        "checksumAlgorithm": row.checksum_algorithm,
        "createdAt": row.created_at_ms,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn create(body: Value) -> Result<ContentIdentity, ApiError> {
        serde_json::from_value::<CreateIdentity>(body)
            .unwrap()
            .parse()
    }

    #[test]
    fn create_fields_are_optional_and_checked() {
        assert_eq!(create(json!({})).unwrap(), ContentIdentity::default());
        let full =
            create(json!({ "size": 0, "sampleSha256": SAMPLE, "partSize": 8_388_608 })).unwrap();
        assert_eq!(full.size, Some(0));
        assert_eq!(full.sample_sha256.as_deref(), Some(SAMPLE));
        assert_eq!(full.part_size, Some(8_388_608));
        for bad in [
            json!({ "size": -1 }),
            json!({ "size": 1.5 }),
            json!({ "size": "5" }),
            json!({ "partSize": 0 }),
            json!({ "sampleSha256": SAMPLE.to_uppercase() }),
            json!({ "sampleSha256": &SAMPLE[1..] }),
            json!({ "sampleSha256": 5 }),
        ] {
            assert!(create(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn adopt_is_a_boolean_false_by_default() {
        assert!(!create(json!({})).unwrap().adopt);
        assert!(!create(json!({ "adopt": null })).unwrap().adopt);
        assert!(!create(json!({ "adopt": false })).unwrap().adopt);
        assert!(create(json!({ "adopt": true })).unwrap().adopt);
        for bad in [json!("true"), json!(1), json!({}), json!([true])] {
            match create(json!({ "adopt": bad })) {
                Err(ApiError::BadRequest { code, message }) => {
                    assert_eq!(code, "InvalidArgument");
                    assert!(message.starts_with("adopt "), "{message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    const SHA256: Option<ChecksumAlgorithm> = Some(ChecksumAlgorithm::Sha256);

    #[test]
    fn only_an_adopt_with_checksums_and_the_whole_identity_looks() {
        let body = json!({ "adopt": true, "size": 42, "sampleSha256": SAMPLE });
        let identity = create(body.clone()).unwrap();
        assert_eq!(
            adoptable(SHA256, &identity, "alice", "a.bin"),
            Some(Identity {
                owner: "alice",
                name: "a.bin",
                size: 42,
                sample_sha256: SAMPLE,
            })
        );
        assert_eq!(adoptable(None, &identity, "alice", "a.bin"), None);
        for field in ["adopt", "size", "sampleSha256"] {
            let mut partial = body.clone();
            partial.as_object_mut().unwrap().remove(field);
            let partial = create(partial).unwrap();
            assert_eq!(
                adoptable(SHA256, &partial, "alice", "a.bin"),
                None,
                "{field}"
            );
        }
        let declined =
            create(json!({ "adopt": false, "size": 42, "sampleSha256": SAMPLE })).unwrap();
        assert_eq!(adoptable(SHA256, &declined, "alice", "a.bin"), None);
    }

    fn row(checksum_algorithm: Option<&str>, part_size: Option<u64>) -> UploadRow {
        UploadRow {
            upload_id: "up-1".into(),
            owner: "alice".into(),
            key: "uploads/alice/0123456789abcdef0123456789abcdef/a.bin".into(),
            name: "a.bin".into(),
            size: Some(42),
            sample_sha256: Some(SAMPLE.into()),
            part_size,
            checksum_algorithm: checksum_algorithm.map(str::to_owned),
            headers: Vec::new(),
            created_at_ms: 1_767_225_600_000,
            state: crate::db::UploadState::Open,
        }
    }

    #[test]
    fn only_an_upload_with_sha256_checksums_is_adopted() {
        assert_eq!(
            adopted_answer(&row(Some("SHA256"), Some(8_388_608)), "bucket"),
            Some(json!({
                "key": "uploads/alice/0123456789abcdef0123456789abcdef/a.bin",
                "uploadId": "up-1",
                "bucket": "bucket",
                "checksumAlgorithm": "SHA256",
                "adopted": true,
                "partSize": 8_388_608,
                "createdAt": 1_767_225_600_000_i64,
            }))
        );
        let no_plan = adopted_answer(&row(Some("SHA256"), None), "bucket").unwrap();
        assert_eq!(no_plan["partSize"], Value::Null);
        assert_eq!(adopted_answer(&row(None, Some(8_388_608)), "bucket"), None);
        assert_eq!(adopted_answer(&row(Some("CRC32"), None), "bucket"), None);
    }

    fn query(name: &str, size: &str, sample: &str) -> LookupQuery {
        LookupQuery {
            name: Some(name.into()),
            size: Some(size.into()),
            sample: Some(sample.into()),
            namespace: None,
        }
    }

    #[test]
    fn lookup_queries_are_checked() {
        assert_eq!(
            parse_lookup(&query("a b.bin", "42", SAMPLE)).unwrap(),
            ("a b.bin".to_owned(), 42, SAMPLE)
        );
        for bad in [
            query("", "42", SAMPLE),
            query("a", "", SAMPLE),
            query("a", "-1", SAMPLE),
            query("a", "4.2", SAMPLE),
            query("a", "99999999999999999999", SAMPLE),
            query("a", "42", "abc"),
            query(&"x".repeat(1025), "42", SAMPLE),
            query("a\0b", "42", SAMPLE),
        ] {
            assert!(parse_lookup(&bad).is_err(), "{bad:?}");
        }
        assert!(parse_lookup(&query(&"é".repeat(512), "42", SAMPLE)).is_ok());
    }

    #[test]
    fn file_names_are_kept_and_matched_in_composed_form() {
        let decomposed = "Cafe\u{301} cre\u{300}me.jpg";
        let composed = "Caf\u{e9} cr\u{e8}me.jpg";
        assert_eq!(table_name("filename", decomposed).unwrap(), composed);
        assert_eq!(table_name("filename", composed).unwrap(), composed);
        let (looked_up, _, _) = parse_lookup(&query(decomposed, "42", SAMPLE)).unwrap();
        assert_eq!(looked_up, composed);
        // Checked as it is kept: 1,200 bytes sent are 800 once composed.
        assert!(table_name("filename", &"e\u{301}".repeat(400)).is_ok());
        match table_name("filename", &"\u{e9}".repeat(513)) {
            Err(ApiError::BadRequest { message, .. }) => {
                assert!(message.starts_with("filename "), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn owners_the_table_cannot_take_are_refused() {
        let namespace = |n: &str| checked_owner(Caller::Anyone, Some(n.to_owned()));
        assert_eq!(namespace("alice").unwrap(), "alice");
        assert_eq!(checked_owner(Caller::Anyone, None).unwrap(), "");
        for bad in ["a\0b".to_owned(), "x".repeat(1025)] {
            match namespace(&bad) {
                Err(ApiError::BadRequest { code, message }) => {
                    assert_eq!(code, "InvalidArgument");
                    assert!(message.starts_with("namespace "), "{message}");
                }
                other => panic!("{other:?}"),
            }
            match checked_owner(Caller::Owner(bad), Some("ignored".into())) {
                Err(ApiError::BadRequest { message, .. }) => {
                    assert!(message.contains("sub"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
