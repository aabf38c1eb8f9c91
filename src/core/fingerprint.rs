//! The state key of an upload.
//!
//! One browser may hold uploads for several users, apps and backends, so the
//! key covers (namespace, endpoint, file name, size, lastModified). Each field
//! is length-prefixed before hashing, so no two different tuples share a key.
//!
//! ```
//! use resupload::core::fingerprint::{fingerprint, FileIdentity};
//! let file = FileIdentity { name: "a.bin".into(), size: 10, last_modified: 1.0e12, source_id: None, relative_path: None, content_sample: None };
//! let key = fingerprint("user-42", "/api/s3", &file);
//! assert!(key.starts_with("v1-"));
//! assert_ne!(key, fingerprint("user-43", "/api/s3", &file));
//! ```

use sha2::{Digest, Sha256};

use crate::core::text::ascii_string;

/// What identifies a file across page loads.
#[derive(Debug, Clone, PartialEq)]
pub struct FileIdentity {
    /// `File.name`.
    pub name: String,
    /// `File.size` in bytes.
    pub size: u64,
    /// `File.lastModified` in milliseconds since the epoch.
    pub last_modified: f64,
    /// A streaming source's `id`, given by the page (a source has no file
    /// metadata to tell it apart); `None` for a `File` or `Blob`.
    pub source_id: Option<String>,
    /// The file's path in the folder it was added from
    /// (`photos/2024/a.jpg`), for a file of an upload queue; `None`
    /// otherwise.
    pub relative_path: Option<String>,
    /// A plain `Blob`'s content sample (it has no name or date to tell it
    /// from another of its size: two such Blobs are two uploads, and a
    /// Blob of the same bytes made again after a reload resumes); `None`
    /// otherwise.
    pub content_sample: Option<String>,
}

impl FileIdentity {
    /// Whether this is a streaming source (its bytes are produced on
    /// demand, not read from a file).
    pub fn is_stream(&self) -> bool {
        self.source_id.is_some()
    }
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
    // Files keep the key they had before streaming sources existed.
    for (tag, value) in [
        (&b"source"[..], &file.source_id),
        (b"folder", &file.relative_path),
        (b"content", &file.content_sample),
    ] {
        if let Some(value) = value {
            hasher.update(tag);
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value.as_bytes());
        }
    }
    ["v1-", &hex(&hasher.finalize())].concat()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(digest: &[u8]) -> String {
    let mut out = Vec::with_capacity(digest.len() * 2);
    for byte in digest {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 15)]);
    }
    ascii_string(out)
}

/// The bytes of each sample of the content fingerprint.
pub const SAMPLE_BYTES: u64 = 64 * 1024;

/// The byte ranges the content fingerprint reads: the first, middle and last
/// [`SAMPLE_BYTES`] of the file (the whole file when it is that small), in
/// order and without overlap.
pub fn sample_ranges(size: u64) -> Vec<std::ops::Range<u64>> {
    if size <= 3 * SAMPLE_BYTES {
        let whole = 0..size;
        return vec![whole];
    }
    let middle = size / 2 - SAMPLE_BYTES / 2;
    vec![
        0..SAMPLE_BYTES,
        middle..middle + SAMPLE_BYTES,
        size - SAMPLE_BYTES..size,
    ]
}

/// The content fingerprint: SHA-256 (hex) of the size and the sampled bytes
/// read from [`sample_ranges`]. Cheap (192 KiB read at most), it tells a file
/// whose content changed under the same name, size and date.
pub fn sample_digest(size: u64, samples: &[impl AsRef<[u8]>]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(size.to_le_bytes());
    for sample in samples {
        let sample = sample.as_ref();
        hasher.update((sample.len() as u64).to_le_bytes());
        hasher.update(sample);
    }
    hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64, last_modified: f64) -> FileIdentity {
        FileIdentity {
            name: name.into(),
            size,
            last_modified,
            source_id: None,
            relative_path: None,
            content_sample: None,
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
        let mut stream = file("a", 1, 2.0);
        stream.source_id = Some("export-7".into());
        let keyed = fingerprint("ns", "/e", &stream);
        assert_ne!(base, keyed, "a source id counts");
        stream.source_id = Some("export-8".into());
        assert_ne!(keyed, fingerprint("ns", "/e", &stream));
        let mut blob = file("blob", 1, 0.0);
        let bare = fingerprint("ns", "/e", &blob);
        blob.content_sample = Some("ab".repeat(32));
        let sampled = fingerprint("ns", "/e", &blob);
        assert_ne!(bare, sampled, "a content sample counts");
        blob.content_sample = Some("cd".repeat(32));
        assert_ne!(sampled, fingerprint("ns", "/e", &blob));
        // A tag of its own: the same text as a stream's id is another key.
        let mut as_stream = file("blob", 1, 0.0);
        as_stream.source_id = Some("ab".repeat(32));
        assert_ne!(sampled, fingerprint("ns", "/e", &as_stream));
    }

    #[test]
    fn samples_cover_small_files_whole_and_large_files_in_three() {
        for size in [0, 1, 3 * SAMPLE_BYTES] {
            let r = sample_ranges(size);
            assert_eq!(r.len(), 1);
            assert_eq!(r[0], 0..size);
        }
        let size = 10 * SAMPLE_BYTES + 1;
        let r = sample_ranges(size);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], 0..SAMPLE_BYTES);
        assert_eq!(r[2], size - SAMPLE_BYTES..size);
        assert!(r[0].end <= r[1].start && r[1].end <= r[2].start);
        assert_eq!(r[1].end - r[1].start, SAMPLE_BYTES);
    }

    #[test]
    fn sample_digest_tells_content_apart() {
        let a = sample_digest(3, &[vec![1, 2, 3]]);
        assert_eq!(a, sample_digest(3, &[vec![1, 2, 3]]));
        assert_ne!(a, sample_digest(3, &[vec![1, 2, 4]]));
        assert_ne!(a, sample_digest(4, &[vec![1, 2, 3]]));
        assert_ne!(
            sample_digest(2, &[vec![1], vec![2]]),
            sample_digest(2, &[vec![1, 2]])
        );
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        assert_ne!(
            fingerprint("ab", "c", &file("x", 1, 1.0)),
            fingerprint("a", "bc", &file("x", 1, 1.0))
        );
    }
}
