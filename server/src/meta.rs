//! What a new upload carries besides its bytes: its Content-Type and its
//! user metadata (`x-amz-meta-*` headers).

use base64::Engine as _;
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use crate::error::ApiError;

/// The longest Content-Type accepted, in bytes.
const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// The longest metadata name accepted (without the `x-amz-meta-` prefix).
const MAX_META_NAME_BYTES: usize = 128;

/// The Content-Type to store, if `raw` is a sane MIME type
/// (`type/subtype`, optionally followed by `; parameters`).
pub fn content_type(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    if raw.is_empty() || raw.len() > MAX_CONTENT_TYPE_BYTES {
        return None;
    }
    let (essence, params) = match raw.split_once(';') {
        Some((essence, params)) => (essence.trim(), Some(params)),
        None => (raw, None),
    };
    let (kind, subtype) = essence.split_once('/')?;
    if !is_token(kind) || !is_token(subtype) {
        return None;
    }
    if let Some(params) = params {
        if !params.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return None;
        }
    }
    Some(raw.to_owned())
}

/// S3's limit on an object's user metadata, in bytes: the sum of each
/// `x-amz-meta-*` header's name (without the prefix) and value.
pub const MAX_METADATA_BYTES: usize = 2048;

/// User metadata over [`MAX_METADATA_BYTES`] (its size): the store would
/// refuse the upload, and some stores (Garage) with an answer that does
/// not say why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataTooLarge(pub usize);

impl From<MetadataTooLarge> for ApiError {
    fn from(e: MetadataTooLarge) -> Self {
        ApiError::bad_request(
            "MetadataTooLarge",
            format!(
                "metadata is {} bytes as stored (names and values); S3 allows at most {MAX_METADATA_BYTES}",
                e.0
            ),
        )
    }
}

/// The headers an object is stored with: `content-type` (when `raw_type`
/// is a sane MIME type), then its `x-amz-meta-*` (see
/// [`metadata_headers`]).
///
/// # Errors
/// The metadata is over [`MAX_METADATA_BYTES`].
pub fn object_headers(
    raw_type: Option<&str>,
    metadata: Option<&Map<String, Value>>,
) -> Result<Vec<(String, String)>, MetadataTooLarge> {
    let mut headers = Vec::new();
    if let Some(content_type) = content_type(raw_type) {
        headers.push(("content-type".to_owned(), content_type));
    }
    let metadata = metadata_headers(metadata);
    let size: usize = metadata
        .iter()
        .map(|(name, value)| name.len() - META_PREFIX.len() + value.len())
        .sum();
    if size > MAX_METADATA_BYTES {
        return Err(MetadataTooLarge(size));
    }
    headers.extend(metadata);
    Ok(headers)
}

const META_PREFIX: &str = "x-amz-meta-";

/// An RFC 9110 token: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The `x-amz-meta-*` headers for `metadata`, sorted by name.
///
/// Only string values are kept; names are lowercased and must be made of
/// ASCII letters, digits, `-`, `_` and `.` (others are skipped). Values
/// that are not plain printable ASCII are RFC 2047 encoded
/// (`=?UTF-8?B?...?=`), as Uppy Companion does.
pub fn metadata_headers(metadata: Option<&Map<String, Value>>) -> Vec<(String, String)> {
    let Some(metadata) = metadata else {
        return Vec::new();
    };
    let mut headers: Vec<(String, String)> = metadata
        .iter()
        .filter_map(|(name, value)| {
            let value = value.as_str()?;
            let name = name.trim().to_ascii_lowercase();
            if !is_meta_name(&name) {
                return None;
            }
            Some((format!("{META_PREFIX}{name}"), header_value(value)))
        })
        .collect();
    headers.sort();
    headers.dedup_by(|a, b| a.0 == b.0);
    headers
}

fn is_meta_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_META_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A header value for `value`: as is (whitespace runs collapsed, as the
/// signature canonicalizes them) when it is printable ASCII, else RFC 2047
/// encoded.
fn header_value(value: &str) -> String {
    if value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        value.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    }
}

/// Whether the `x-amz-meta-*` headers among `a` and `b` say the same: the
/// same names, and values equal once decoded and in Unicode's composed form
/// (NFC). So an app that puts the file's name in its metadata gets one
/// file from a Mac, whose names may come decomposed, and from another
/// device. Other headers (the Content-Type) are not compared.
pub fn same_metadata(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let comparable = |headers: &[(String, String)]| -> Vec<(String, String)> {
        headers
            .iter()
            .filter(|(name, _)| name.starts_with(META_PREFIX))
            .map(|(name, value)| (name.clone(), composed_value(value)))
            .collect()
    };
    comparable(a) == comparable(b)
}

/// A header value as [`header_value`] was given it, in composed form
/// (values it did not encode are ASCII, which composing leaves alone).
fn composed_value(value: &str) -> String {
    let decoded = value
        .strip_prefix("=?UTF-8?B?")
        .and_then(|rest| rest.strip_suffix("?="))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    decoded.as_deref().unwrap_or(value).nfc().collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_sane_mime_types() {
        assert_eq!(
            content_type(Some("image/png")).as_deref(),
            Some("image/png")
        );
        assert_eq!(
            content_type(Some("text/plain; charset=utf-8")).as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            content_type(Some(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            ))
            .as_deref(),
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        );
    }

    #[test]
    fn rejects_insane_mime_types() {
        for bad in [
            None,
            Some(""),
            Some("png"),
            Some("/png"),
            Some("image/"),
            Some("image/png\r\nx-evil: 1"),
            Some("im age/png"),
            Some("text/plain; charset=\u{e9}"),
        ] {
            assert_eq!(content_type(bad), None, "{bad:?}");
        }
        assert_eq!(content_type(Some(&format!("a/{}", "b".repeat(300)))), None);
    }

    #[test]
    fn metadata_keeps_strings_with_valid_names() {
        let meta = json!({
            "Name": "report.pdf",
            "size": 12,
            "bad name": "x",
            "bad/name": "x",
            "": "x",
            "note": "  two   spaces  ",
            "city": "Zürich",
            "obj": {"a": 1},
        });
        let headers = metadata_headers(meta.as_object());
        assert_eq!(
            headers,
            [
                (
                    "x-amz-meta-city".to_owned(),
                    "=?UTF-8?B?WsO8cmljaA==?=".to_owned()
                ),
                ("x-amz-meta-name".to_owned(), "report.pdf".to_owned()),
                ("x-amz-meta-note".to_owned(), "two spaces".to_owned()),
            ]
        );
    }

    #[test]
    fn metadata_is_the_same_in_either_unicode_form_and_only_by_its_own_headers() {
        let headers = |name: &str, kind: &str| {
            let mut h = metadata_headers(json!({ "name": name, "ticket": "A" }).as_object());
            h.push(("content-type".into(), kind.into()));
            h
        };
        let on_mac = headers("cafe\u{301}.bin", "application/octet-stream");
        let elsewhere = headers("caf\u{e9}.bin", "");
        assert_ne!(on_mac, elsewhere, "each kept as sent");
        assert!(same_metadata(&on_mac, &elsewhere));
        assert!(!same_metadata(&on_mac, &headers("cafe.bin", "")));
        assert!(!same_metadata(
            &on_mac,
            &metadata_headers(json!({ "name": "caf\u{e9}.bin" }).as_object())
        ));
    }

    #[test]
    fn metadata_control_characters_are_encoded() {
        let meta = json!({"a": "line\nbreak"});
        let headers = metadata_headers(meta.as_object());
        assert!(headers[0].1.starts_with("=?UTF-8?B?"));
        assert!(metadata_headers(None).is_empty());
    }

    #[test]
    fn metadata_is_refused_past_s3s_two_kilobytes_of_names_and_values() {
        let of = |value_len: usize| json!({ "a": "x".repeat(value_len), "b": "y" });
        // "a" + value + "b" + "y": 3 bytes besides the value.
        let fits = of(MAX_METADATA_BYTES - 3);
        let headers = object_headers(Some("text/plain"), fits.as_object()).unwrap();
        assert_eq!(headers.len(), 3, "content-type is not metadata");
        let over = of(MAX_METADATA_BYTES - 2);
        assert_eq!(
            object_headers(None, over.as_object()),
            Err(MetadataTooLarge(MAX_METADATA_BYTES + 1))
        );
        // Measured as stored: an encoded value counts its encoding.
        let encoded = json!({ "n": "é".repeat(800) });
        let stored = object_headers(None, encoded.as_object());
        assert!(
            matches!(stored, Err(MetadataTooLarge(n)) if n > 2_000),
            "{stored:?}"
        );
    }
}
