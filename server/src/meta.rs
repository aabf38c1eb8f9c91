//! What a new upload carries besides its bytes: its Content-Type and its
//! user metadata (`x-amz-meta-*` headers).

use base64::Engine as _;
use serde_json::{Map, Value};

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

/// The headers an object is stored with: `content-type` (when `raw_type`
/// is a sane MIME type), then its `x-amz-meta-*` (see
/// [`metadata_headers`]).
pub fn object_headers(
    raw_type: Option<&str>,
    metadata: Option<&Map<String, Value>>,
) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if let Some(content_type) = content_type(raw_type) {
        headers.push(("content-type".to_owned(), content_type));
    }
    headers.extend(metadata_headers(metadata));
    headers
}

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
            Some((format!("x-amz-meta-{name}"), header_value(value)))
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
    fn metadata_control_characters_are_encoded() {
        let meta = json!({"a": "line\nbreak"});
        let headers = metadata_headers(meta.as_object());
        assert!(headers[0].1.starts_with("=?UTF-8?B?"));
        assert!(metadata_headers(None).is_empty());
    }
}
