//! The state key of an upload.
//!
//! One browser may hold uploads for several users, apps and backends, so the
//! key covers (namespace, endpoint, file name, size, lastModified). Each field
//! is length-prefixed before hashing, so no two different tuples share a key.
//!
//! ```
//! use resupload::core::fingerprint::{fingerprint, FileIdentity};
//! let file = FileIdentity { name: "a.bin".into(), size: 10, last_modified: 1.0e12 };
//! let key = fingerprint("user-42", "/api/s3", &file);
//! assert!(key.starts_with("v1-"));
//! assert_ne!(key, fingerprint("user-43", "/api/s3", &file));
//! ```

use sha2::{Digest, Sha256};

/// What identifies a file across page loads.
#[derive(Debug, Clone, PartialEq)]
pub struct FileIdentity {
    /// `File.name`.
    pub name: String,
    /// `File.size` in bytes.
    pub size: u64,
    /// `File.lastModified` in milliseconds since the epoch.
    pub last_modified: f64,
}

/// The record key for this file, namespace and endpoint: `"v1-"` and 64 hex
/// digits of SHA-256.
pub fn fingerprint(namespace: &str, endpoint: &str, file: &FileIdentity) -> String {
    let mut hasher = Sha256::new();
    for field in [
        namespace.as_bytes(),
        endpoint.as_bytes(),
        file.name.as_bytes(),
    ] {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field);
    }
    hasher.update(file.size.to_le_bytes());
    hasher.update(file.last_modified.to_bits().to_le_bytes());
    let digest = hasher.finalize();
    let mut key = String::with_capacity(3 + 64);
    key.push_str("v1-");
    for byte in digest {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 15)]));
    }
    key
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64, last_modified: f64) -> FileIdentity {
        FileIdentity {
            name: name.into(),
            size,
            last_modified,
        }
    }

    #[test]
    fn same_inputs_same_key() {
        let a = fingerprint("ns", "/api/s3", &file("a", 1, 2.0));
        assert_eq!(a, fingerprint("ns", "/api/s3", &file("a", 1, 2.0)));
        assert_eq!(a.len(), 67);
    }

    #[test]
    fn every_field_counts() {
        let base = fingerprint("ns", "/e", &file("a", 1, 2.0));
        assert_ne!(base, fingerprint("ns2", "/e", &file("a", 1, 2.0)));
        assert_ne!(base, fingerprint("ns", "/e2", &file("a", 1, 2.0)));
        assert_ne!(base, fingerprint("ns", "/e", &file("b", 1, 2.0)));
        assert_ne!(base, fingerprint("ns", "/e", &file("a", 2, 2.0)));
        assert_ne!(base, fingerprint("ns", "/e", &file("a", 1, 3.0)));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        assert_ne!(
            fingerprint("ab", "c", &file("x", 1, 1.0)),
            fingerprint("a", "bc", &file("x", 1, 1.0))
        );
    }
}
