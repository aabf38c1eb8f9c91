//! The SHA-256 checksum extension of the Companion routes (see
//! `server/PROTOCOL.md`): the values clients send, checked before anything
//! is signed or forwarded to the store.
//!
//! A checksum is the standard base64 (with padding) of a 32-byte SHA-256
//! digest, as S3 writes it in `x-amz-checksum-sha256` and `<ChecksumSHA256>`.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::Value;

use crate::parts::parse_part_number;

/// The request header a part PUT carries its checksum in (signed into the
/// part URL).
pub const SHA256_HEADER: &str = "x-amz-checksum-sha256";

/// The CreateMultipartUpload header naming the checksum algorithm.
pub const ALGORITHM_HEADER: &str = "x-amz-checksum-algorithm";

/// The length of a SHA-256 digest, in bytes.
const SHA256_BYTES: usize = 32;

/// A checksum algorithm a client may ask for when it creates an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// SHA-256 per part; the object's checksum is composite (the SHA-256 of
    /// the part digests, with a `-N` suffix).
    Sha256,
}

impl ChecksumAlgorithm {
    /// Its name as S3 and the JSON API write it (`SHA256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
        }
    }
}

/// A checksum value (or algorithm) the API refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChecksum(pub String);

impl std::fmt::Display for BadChecksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `checksumAlgorithm` field of a create body: absent or `null` means
/// none (a plain Companion client), `"SHA256"` means SHA-256.
///
/// # Errors
/// Any other value.
pub fn parse_algorithm(value: Option<&Value>) -> Result<Option<ChecksumAlgorithm>, BadChecksum> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == ChecksumAlgorithm::Sha256.as_str() => {
            Ok(Some(ChecksumAlgorithm::Sha256))
        }
        Some(other) => Err(BadChecksum(format!(
            "checksumAlgorithm {other} is not supported: the only one is \"SHA256\" (or leave it out)"
        ))),
    }
}

/// Checks that `raw` is the standard base64, with padding, of 32 bytes
/// (`what` names it in the error), and returns it unchanged.
///
/// # Errors
/// Anything else, with a message naming `what` and the value.
pub fn parse_sha256<'a>(raw: &'a str, what: &str) -> Result<&'a str, BadChecksum> {
    let decoded = base64::engine::general_purpose::STANDARD.decode(raw);
    if matches!(&decoded, Ok(bytes) if bytes.len() == SHA256_BYTES) {
        return Ok(raw);
    }
    let shown: String = raw.chars().take(60).collect();
    let hint = if raw.contains(' ') {
        " (a `+` in a query string must be sent as %2B: encodeURIComponent the value)"
    } else {
        ""
    };
    Err(BadChecksum(format!(
        "{what} {shown:?} is not the base64 (standard alphabet, with padding) of a 32-byte SHA-256 digest{hint}"
    )))
}

/// The checksums of a batch signing request, by part number:
/// `checksums` (comma separated) is aligned item by item with
/// `part_numbers` (already checked by
/// [`parse_part_numbers`](crate::parts::parse_part_numbers)).
/// A part number given twice must have the same checksum both times.
///
/// # Errors
/// Lists of different lengths, a bad checksum, or two checksums for one
/// part.
pub fn align_checksums(
    part_numbers: &str,
    checksums: &str,
) -> Result<HashMap<u16, String>, BadChecksum> {
    let numbers: Vec<&str> = part_numbers.split(',').map(str::trim).collect();
    let values: Vec<&str> = checksums.split(',').map(str::trim).collect();
    if numbers.len() != values.len() {
        return Err(BadChecksum(format!(
            "checksumsSha256 has {} item(s) but partNumbers has {}: give one checksum per part number, in the same order",
            values.len(),
            numbers.len()
        )));
    }
    let mut by_part = HashMap::with_capacity(numbers.len());
    for (number, value) in numbers.into_iter().zip(values) {
        let number = parse_part_number(number).map_err(|e| BadChecksum(e.to_string()))?;
        let value = parse_sha256(value, &format!("the checksum of part {number}"))?;
        match by_part.get(&number) {
            Some(known) if known != value => {
                return Err(BadChecksum(format!(
                    "part {number} is listed twice with different checksums"
                )))
            }
            Some(_) => {}
            None => {
                by_part.insert(number, value.to_owned());
            }
        }
    }
    Ok(by_part)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// base64(sha256("")).
    const EMPTY: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    /// base64(sha256("abc")).
    const ABC: &str = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";

    #[test]
    fn algorithms() {
        assert_eq!(parse_algorithm(None), Ok(None));
        assert_eq!(parse_algorithm(Some(&Value::Null)), Ok(None));
        assert_eq!(
            parse_algorithm(Some(&json!("SHA256"))),
            Ok(Some(ChecksumAlgorithm::Sha256))
        );
        for bad in [
            json!("sha256"),
            json!("CRC32"),
            json!(""),
            json!(true),
            json!(256),
            json!(["SHA256"]),
        ] {
            assert!(parse_algorithm(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256_values() {
        assert_eq!(parse_sha256(EMPTY, "x"), Ok(EMPTY));
        assert_eq!(parse_sha256(ABC, "x"), Ok(ABC));
        for bad in [
            "",
            // unpadded, URL-safe, with whitespace, a `+` turned into a space
            EMPTY.trim_end_matches('='),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
            " 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "47DEQpj8HBSa /TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            // 31 and 33 bytes, hex, non-canonical trailing bits
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",
        ] {
            assert!(parse_sha256(bad, "x").is_err(), "{bad:?}");
        }
        let message = parse_sha256("47DEQpj8HBSa /TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "x")
            .unwrap_err()
            .0;
        assert!(message.contains("%2B"), "{message}");
    }

    #[test]
    fn batch_checksums_are_aligned_with_part_numbers() {
        let aligned = align_checksums("2,1", &format!("{EMPTY},{ABC}")).unwrap();
        assert_eq!(aligned.len(), 2);
        assert_eq!(aligned[&2], EMPTY);
        assert_eq!(aligned[&1], ABC);
        // A repeat with the same checksum is fine (part numbers are deduplicated too).
        let repeated = align_checksums("1, 1", &format!("{ABC}, {ABC}")).unwrap();
        assert_eq!(repeated.len(), 1);
        for (numbers, checksums) in [
            ("1,2".to_owned(), ABC.to_owned()),
            ("1".to_owned(), format!("{ABC},{ABC}")),
            ("1,2".to_owned(), format!("{ABC},")),
            ("1,2".to_owned(), format!("{ABC},nope")),
            ("1,1".to_owned(), format!("{ABC},{EMPTY}")),
            ("1".to_owned(), String::new()),
        ] {
            assert!(
                align_checksums(&numbers, &checksums).is_err(),
                "{numbers} / {checksums}"
            );
        }
    }
}
