//! Small files in one request each (see `server/PROTOCOL.md`):
//!
//! - `GET /api/s3/params?filename=F&type=T&metadata[name]=value` is
//!   Companion's route; this server answers a presigned **PUT** (Companion
//!   answers a POST form), with every header the PUT must carry. Optional
//!   extensions: `relativePath`, `size`, `checksumSha256`, `namespace`.
//! - `POST /api/s3/params/batch` `{files: [...], namespace?}` signs up to
//!   [`MAX_BATCH_FILES`] of them in one call.
//!
//! Signing asks the store nothing and writes no row: a single PUT has no
//! upload id to resume, list, complete or abort.

use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::checksum;
use crate::error::ApiError;
use crate::json_body::JsonBody;
use crate::keys;
use crate::meta;
use crate::routes::{AppState, SharedState};

/// The most files one batch signs.
pub const MAX_BATCH_FILES: usize = 100;

/// The largest object one PUT may store: S3's PutObject limit, 5 GiB.
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// The small-file routes, relative to `/api`.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/s3/params", get(sign_params))
        .route("/s3/params/batch", post(sign_params_batch))
}

/// One file to sign a PUT for: the query of `GET /s3/params`, or one entry
/// of a batch. Other fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct SmallFile {
    /// The file's name (required, not empty): the key's last segment.
    filename: Option<String>,
    /// Its MIME type: stored as the object's Content-Type when sane.
    #[serde(rename = "type")]
    content_type: Option<String>,
    /// String values become `x-amz-meta-*` headers.
    metadata: Option<Map<String, Value>>,
    /// A folder-relative path (`photos/2024/a.jpg`): its directories go
    /// into the key.
    #[serde(rename = "relativePath")]
    relative_path: Option<String>,
    /// Its size in bytes, if the client says: at most [`MAX_PUT_BYTES`].
    size: Option<Value>,
    /// Its SHA-256 (base64), signed into the URL for the store to check.
    #[serde(rename = "checksumSha256")]
    checksum_sha256: Option<String>,
}

/// The body of `POST /s3/params/batch`.
#[derive(Debug, Deserialize)]
pub struct BatchBody {
    files: BatchFiles,
    /// With auth off: whose files (the key's prefix), as on create.
    namespace: Option<String>,
}

/// The `files` of a batch, bounded while parsing: the first
/// [`MAX_BATCH_FILES`] entries are built; the rest are only counted (read
/// past as any JSON, never built), so a 1 MiB body of some 350,000 entries
/// builds no more than a body of 101 does.
#[derive(Debug, Default)]
pub struct BatchFiles {
    built: Vec<SmallFile>,
    count: usize,
}

impl BatchFiles {
    /// How many entries the body has (built or not).
    pub fn len(&self) -> usize {
        self.count
    }

    /// The entries built: all of them when [`BatchFiles::len`] is at most
    /// [`MAX_BATCH_FILES`].
    pub fn iter(&self) -> std::slice::Iter<'_, SmallFile> {
        self.built.iter()
    }
}

impl<'de> Deserialize<'de> for BatchFiles {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(BatchFilesVisitor)
    }
}

/// Builds up to [`MAX_BATCH_FILES`] entries, then counts the rest.
struct BatchFilesVisitor;

impl<'de> Visitor<'de> for BatchFilesVisitor {
    type Value = BatchFiles;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of files")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BatchFiles, A::Error> {
        let capacity = seq.size_hint().unwrap_or(0).min(MAX_BATCH_FILES);
        let mut files = BatchFiles {
            built: Vec::with_capacity(capacity),
            count: 0,
        };
        while files.count < MAX_BATCH_FILES {
            match seq.next_element::<SmallFile>()? {
                Some(file) => files.built.push(file),
                None => return Ok(files),
            }
            files.count += 1;
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {
            files.count += 1;
        }
        Ok(files)
    }
}

/// The query of `GET /s3/params`, with `metadata[NAME]=VALUE` pairs (the
/// way Companion clients send metadata) gathered into `metadata`; and the
/// `namespace` parameter.
fn parse_params_query(raw: &str) -> (SmallFile, Option<String>) {
    let mut file = SmallFile::default();
    let mut metadata = Map::new();
    let mut namespace = None;
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let value = value.into_owned();
        match name.as_ref() {
            "filename" => file.filename = Some(value),
            "type" => file.content_type = Some(value),
            "relativePath" => file.relative_path = Some(value),
            "checksumSha256" => file.checksum_sha256 = Some(value),
            "namespace" => namespace = Some(value),
            "size" => {
                let number = value.parse::<u64>();
                file.size = Some(number.map_or(Value::String(value), Value::from));
            }
            other => {
                if let Some(meta_name) = other
                    .strip_prefix("metadata[")
                    .and_then(|n| n.strip_suffix(']'))
                {
                    metadata.insert(meta_name.to_owned(), Value::String(value));
                }
            }
        }
    }
    if !metadata.is_empty() {
        file.metadata = Some(metadata);
    }
    (file, namespace)
}

/// `size`: absent, `null`, or a whole number of bytes up to 5 GiB.
fn check_size(size: Option<&Value>) -> Result<(), ApiError> {
    match size {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match v.as_u64() {
            Some(n) if n <= MAX_PUT_BYTES => Ok(()),
            Some(n) => Err(ApiError::bad_request(
                "EntityTooLarge",
                format!("size {n} is more than one PUT may store ({MAX_PUT_BYTES} bytes): use the multipart routes"),
            )),
            None => Err(ApiError::bad_request(
                "InvalidArgument",
                format!("size {v} is not a whole number of bytes"),
            )),
        },
    }
}

/// Checks `file` and signs its PUT under `owner`'s prefix →
/// `{method: "PUT", url, fields: {}, headers, key, expires}`.
fn sign_one(state: &AppState, owner: &str, file: &SmallFile) -> Result<Value, ApiError> {
    let filename = file
        .filename
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidArgument",
                "filename is required (a non-empty string)",
            )
        })?;
    check_size(file.size.as_ref())?;
    let checksum = file
        .checksum_sha256
        .as_deref()
        .map(|c| checksum::parse_sha256(c, "checksumSha256"))
        .transpose()
        .map_err(|e| ApiError::bad_request("InvalidChecksum", e.0))?;
    let key = keys::new_object_key_in(owner, file.relative_path.as_deref(), filename)?;
    let mut headers = meta::object_headers(file.content_type.as_deref(), file.metadata.as_ref())?;
    if let Some(checksum) = checksum {
        headers.push((checksum::SHA256_HEADER.to_owned(), checksum.to_owned()));
    }
    let url = state
        .store
        .presign_put_object(&key, state.part_url_expires, &headers);
    let headers: Map<String, Value> = headers
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    Ok(json!({
        "method": "PUT",
        "url": url.as_str(),
        "fields": {},
        "headers": headers,
        "key": key,
        "expires": state.part_url_expires.as_secs(),
    }))
}

/// `GET /api/s3/params?filename=F&type=T&metadata[name]=value` (plus
/// `relativePath`, `size`, `checksumSha256`, `namespace`) → one signed PUT.
async fn sign_params(
    State(state): State<SharedState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (file, namespace) = parse_params_query(raw.as_deref().unwrap_or_default());
    let owner = caller.owner_or(namespace);
    Ok(Json(sign_one(&state, &owner, &file)?))
}

/// An entry's error, its message prefixed with `files[index]: `.
fn at_index(index: usize, e: ApiError) -> ApiError {
    match e {
        ApiError::BadRequest { code, message } => ApiError::BadRequest {
            code,
            message: format!("files[{index}]: {message}"),
        },
        other => other,
    }
}

/// `POST /api/s3/params/batch` `{files: [...], namespace?}` →
/// `{uploads: [...]}`, aligned with `files`; one bad entry fails the call.
async fn sign_params_batch(
    State(state): State<SharedState>,
    caller: Caller,
    body: JsonBody<BatchBody>,
) -> Result<Json<Value>, ApiError> {
    let body = body.take()?;
    if !(1..=MAX_BATCH_FILES).contains(&body.files.len()) {
        return Err(ApiError::bad_request(
            "InvalidArgument",
            format!(
                "files has {} entries: send 1 to {MAX_BATCH_FILES} per call",
                body.files.len()
            ),
        ));
    }
    let owner = caller.owner_or(body.namespace);
    let uploads = body
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| sign_one(&state, &owner, file).map_err(|e| at_index(i, e)))
        .collect::<Result<Vec<Value>, ApiError>>()?;
    Ok(Json(json!({ "uploads": uploads })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(count: usize) -> Vec<Value> {
        (0..count)
            .map(|i| json!({ "filename": format!("f{i}.txt") }))
            .collect()
    }

    #[test]
    fn a_batch_stops_building_entries_past_the_limit() {
        // 100 files, then entries that are not files at all: were they
        // built, the body would not parse.
        let mut entries = files(MAX_BATCH_FILES);
        entries.extend([json!(7), json!({ "filename": 7 }), json!([[]])]);
        let body: BatchBody = serde_json::from_value(json!({ "files": entries })).unwrap();
        assert_eq!(
            body.files.len(),
            MAX_BATCH_FILES + 3,
            "every entry is counted"
        );
        assert_eq!(
            body.files.iter().count(),
            MAX_BATCH_FILES,
            "only 100 are built"
        );
        // Within the limit, every entry is built, and a bad one is refused.
        let body: BatchBody = serde_json::from_value(json!({ "files": files(3) })).unwrap();
        assert_eq!(body.files.iter().count(), 3);
        let bad = json!({ "files": [{ "filename": "a" }, { "filename": 7 }] });
        assert!(serde_json::from_value::<BatchBody>(bad).is_err());
    }

    #[test]
    fn the_query_takes_companions_metadata_brackets_and_our_extensions() {
        let raw = "filename=a%20b.jpg&type=image%2Fjpeg&metadata%5Bname%5D=a%20b.jpg\
                   &metadata[caption]=x%2By&relativePath=photos%2F2024%2Fa%20b.jpg&size=12\
                   &checksumSha256=ungWv48Bz%2BpBQUDeXa4iI7ADYaOWF3qctBD%2FYfIAFa0%3D&namespace=ns&other=1";
        let (file, namespace) = parse_params_query(raw);
        assert_eq!(file.filename.as_deref(), Some("a b.jpg"));
        assert_eq!(file.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(file.relative_path.as_deref(), Some("photos/2024/a b.jpg"));
        assert_eq!(file.size, Some(json!(12)));
        assert_eq!(
            file.checksum_sha256.as_deref(),
            Some("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
        );
        assert_eq!(namespace.as_deref(), Some("ns"));
        assert_eq!(
            Value::Object(file.metadata.unwrap()),
            json!({ "name": "a b.jpg", "caption": "x+y" })
        );
        let (bare, namespace) = parse_params_query("");
        assert!(bare.filename.is_none() && bare.metadata.is_none() && namespace.is_none());
        let (bad, _) = parse_params_query("size=12.5");
        assert_eq!(bad.size, Some(json!("12.5")));
    }

    #[test]
    fn sizes_are_whole_numbers_up_to_five_gib() {
        for ok in [
            None,
            Some(json!(null)),
            Some(json!(0)),
            Some(json!(MAX_PUT_BYTES)),
        ] {
            assert!(check_size(ok.as_ref()).is_ok(), "{ok:?}");
        }
        let code = |v: Value| match check_size(Some(&v)) {
            Err(ApiError::BadRequest { code, .. }) => code,
            other => panic!("{v}: {other:?}"),
        };
        assert_eq!(code(json!(MAX_PUT_BYTES + 1)), "EntityTooLarge");
        for bad in [json!(-1), json!(1.5), json!("12"), json!("x")] {
            assert_eq!(code(bad), "InvalidArgument");
        }
    }

    #[test]
    fn an_entry_error_names_its_index() {
        let e = at_index(7, ApiError::bad_request("InvalidChecksum", "bad"));
        match e {
            ApiError::BadRequest { code, message } => {
                assert_eq!(code, "InvalidChecksum");
                assert_eq!(message, "files[7]: bad");
            }
            other => panic!("{other:?}"),
        }
    }
}
