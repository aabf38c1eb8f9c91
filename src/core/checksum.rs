//! Part checksums: SHA-256 digests in the form S3 speaks (standard base64),
//! and the composite checksum S3 gives a multipart object.
//!
//! A part's checksum is `base64(sha256(part bytes))`. A multipart object
//! created with `ChecksumAlgorithm=SHA256` gets the *composite* checksum
//! `base64(sha256(d1 || d2 || … || dN)) + "-N"`, where `dI` are the raw
//! 32-byte digests of parts 1..N.
//!
//! ```
//! use resupload::core::checksum::{composite, sha256_base64, Sha256Digest};
//! let part = sha256_base64(b"hello");
//! assert_eq!(part, "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
//! let digest = Sha256Digest::from_base64(&part).unwrap();
//! assert!(composite(&[digest]).ends_with("-1"));
//! ```

use sha2::{Digest, Sha256};

use crate::core::text::{ascii_string, decimal};

/// A raw SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// Standard base64 with padding, as in `x-amz-checksum-sha256`.
    pub fn to_base64(&self) -> String {
        base64_encode(&self.0)
    }

    /// Reads a base64 SHA-256 checksum; `None` unless it is exactly 32 bytes
    /// of standard base64.
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = base64_decode(text)?;
        Some(Sha256Digest(bytes.try_into().ok()?))
    }
}

/// `base64(sha256(bytes))`: a part's `x-amz-checksum-sha256`.
pub fn sha256_base64(bytes: &[u8]) -> String {
    Sha256Digest::of(bytes).to_base64()
}

/// The composite checksum of a multipart object made of parts with these
/// digests, in part order: `base64(sha256(d1 || … || dN))-N`.
pub fn composite(parts: &[Sha256Digest]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.0);
    }
    let whole: [u8; 32] = hasher.finalize().into();
    [&base64_encode(&whole), "-", &decimal(parts.len() as u64)].concat()
}

/// Whether two composite checksums name the same object. A store may omit
/// the `-N` suffix; the digests must match and, where both give one, the
/// part counts too.
pub fn composites_match(local: &str, remote: &str) -> bool {
    let (local_digest, local_count) = split_composite(local);
    let (remote_digest, remote_count) = split_composite(remote);
    local_digest == remote_digest
        && match (local_count, remote_count) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

fn split_composite(value: &str) -> (&str, Option<&str>) {
    let value = value.trim_ascii();
    // A byte scan: `rsplit_once` links core's memrchr for this one use.
    match value.bytes().rposition(|b| b == b'-') {
        Some(at) => (&value[..at], Some(&value[at + 1..])),
        None => (value, None),
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
    ascii_string(out)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if text.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for (index, quad) in text.chunks(4).enumerate() {
        let last = index == text.len() / 4 - 1;
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            let value = ALPHABET.iter().position(|&a| a == c)? as u32;
            n = (n << 6) | value;
        }
        n <<= 6 * padding as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        // RFC 4648 test vectors.
        for (raw, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), raw.as_bytes());
        }
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Zg==Zg=="), None);
        assert_eq!(base64_decode("Z==="), None);
    }

    #[test]
    fn a_part_checksum_is_base64_of_its_sha256() {
        // sha256("") = e3b0c442...b855
        assert_eq!(
            sha256_base64(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        let digest = Sha256Digest::from_base64(&sha256_base64(b"abc")).unwrap();
        assert_eq!(digest, Sha256Digest::of(b"abc"));
        assert_eq!(Sha256Digest::from_base64("Zm9v"), None, "not 32 bytes");
    }

    #[test]
    fn the_composite_hashes_the_concatenated_digests() {
        let d1 = Sha256Digest::of(b"part one");
        let d2 = Sha256Digest::of(b"part two");
        let mut joined = Vec::new();
        joined.extend_from_slice(&d1.0);
        joined.extend_from_slice(&d2.0);
        assert_eq!(
            composite(&[d1, d2]),
            format!("{}-2", sha256_base64(&joined))
        );
        assert_ne!(composite(&[d1, d2]), composite(&[d2, d1]));
    }

    #[test]
    fn composites_compare_with_or_without_the_part_count() {
        let c = composite(&[Sha256Digest::of(b"x")]);
        let bare = c.trim_end_matches("-1");
        assert!(composites_match(&c, &c));
        assert!(composites_match(&c, bare));
        assert!(!composites_match(&c, &format!("{bare}-2")));
        assert!(!composites_match(&c, &composite(&[Sha256Digest::of(b"y")])));
    }
}
