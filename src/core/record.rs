//! The persisted upload record: everything needed to resume, nothing secret.
//!
//! One record per upload, keyed by its [fingerprint](super::fingerprint). It
//! holds no presigned URL and no credential: URLs are signed afresh on every
//! run. The record is written before a part starts (state `InFlight`) and again
//! when it finishes (state `Done`, with its ETag), so a crash at any moment
//! leaves a record that is consistent with the server, given that resuming asks
//! the server which parts it holds.

use super::plan::PartPlan;
use crate::core::text::{ascii_string, pieces};

/// The record layout's version; a record of another version is ignored.
pub const SCHEMA_VERSION: u32 = 1;

/// Where one part stands, as far as this browser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartState {
    /// Not started.
    #[default]
    Pending,
    /// A request was started; it may or may not have reached the server.
    InFlight,
    /// The server confirmed it with an ETag.
    Done,
}

/// One part of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    /// The part number, 1-based.
    pub number: u32,
    /// The part's size in bytes.
    pub size: u64,
    /// Where it stands.
    pub state: PartState,
    /// The ETag the server gave, exactly as it came (quotes included).
    pub etag: Option<String>,
    /// The part's SHA-256 (base64), once hashed: saved before its first
    /// `PUT`, or taken from the server's part list on resume.
    pub checksum: Option<String>,
}

/// The persisted state of one unfinished upload.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRecord {
    /// [`SCHEMA_VERSION`] when written.
    pub schema: u32,
    /// The fingerprint: the record's key.
    pub id: String,
    /// The namespace the upload was started in.
    pub namespace: String,
    /// The signing backend's base URL.
    pub endpoint: String,
    /// The multipart upload id the server gave.
    pub upload_id: String,
    /// The object key the server chose.
    pub key: String,
    /// `File.name`.
    pub file_name: String,
    /// `File.size` in bytes.
    pub file_size: u64,
    /// `File.lastModified` (ms since the epoch).
    pub last_modified: f64,
    /// `File.type` (may be empty).
    pub file_type: String,
    /// The part size the upload began with; resuming keeps it.
    pub part_size: u64,
    /// The file's content fingerprint
    /// ([`sample_digest`](super::fingerprint::sample_digest)), when known.
    pub sample_sha256: Option<String>,
    /// The checksum algorithm the multipart upload was created with
    /// (`"SHA256"`), or `None` when the server checks no part checksums.
    pub checksum_algorithm: Option<String>,
    /// When the multipart upload was created (ms since the epoch).
    pub created_at: f64,
    /// When the record was last written (ms since the epoch).
    pub updated_at: f64,
    /// The backend answered the create with it (started on another
    /// device): until it completes, every part the server holds is
    /// verified against its checksum before it is trusted.
    pub adopted: bool,
    /// The upload is a file of an upload queue: listed with its batch
    /// (`UploadQueue.listPending`), not on its own.
    pub queued: bool,
    /// Every part, in order.
    pub parts: Vec<PartRecord>,
}

/// What a freshly created upload's record starts from.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    /// The fingerprint.
    pub id: &'a str,
    /// The namespace.
    pub namespace: &'a str,
    /// The endpoint.
    pub endpoint: &'a str,
    /// The multipart upload id.
    pub upload_id: &'a str,
    /// The object key.
    pub key: &'a str,
    /// `File.name`.
    pub file_name: &'a str,
    /// `File.lastModified`.
    pub last_modified: f64,
    /// `File.type`.
    pub file_type: &'a str,
    /// The creation time (ms since the epoch).
    pub now: f64,
    /// The file's content fingerprint, when known.
    pub sample_sha256: Option<&'a str>,
    /// The checksum algorithm the upload was created with, if any.
    pub checksum_algorithm: Option<&'a str>,
}

impl UploadRecord {
    /// A record with every part of `plan` pending.
    pub fn new(fresh: NewRecord<'_>, plan: &PartPlan) -> Self {
        UploadRecord {
            schema: SCHEMA_VERSION,
            id: fresh.id.to_owned(),
            namespace: fresh.namespace.to_owned(),
            endpoint: fresh.endpoint.to_owned(),
            upload_id: fresh.upload_id.to_owned(),
            key: fresh.key.to_owned(),
            file_name: fresh.file_name.to_owned(),
            file_size: plan.total_size(),
            last_modified: fresh.last_modified,
            file_type: fresh.file_type.to_owned(),
            part_size: plan.part_size(),
            sample_sha256: fresh.sample_sha256.map(str::to_owned),
            checksum_algorithm: fresh.checksum_algorithm.map(str::to_owned),
            created_at: fresh.now,
            updated_at: fresh.now,
            adopted: false,
            queued: false,
            parts: pending_parts(plan),
        }
    }

    /// The plan this record was made with.
    pub fn plan(&self) -> PartPlan {
        PartPlan::with_part_size(self.file_size, self.part_size)
    }

    /// Whether the record is one this version can resume: the right schema,
    /// a valid plan, and one part entry per planned part, in order.
    pub fn is_usable(&self) -> bool {
        let plan = self.plan();
        self.schema == SCHEMA_VERSION
            && plan.is_valid()
            && self.parts.len() == plan.count() as usize
            && self
                .parts
                .iter()
                .zip(plan.numbers())
                .all(|(part, n)| part.number == n && part.size == plan.size_of(n))
    }

    /// Whether every part is confirmed stored (with its ETag): all that is
    /// left is to complete. Always, for an empty file: its one empty part
    /// is never sent (the object is completed from an empty part list).
    pub fn all_done(&self) -> bool {
        self.file_size == 0
            || self
                .parts
                .iter()
                .all(|p| p.state == PartState::Done && p.etag.is_some())
    }

    /// The part with this number, if any.
    pub fn part_mut(&mut self, number: u32) -> Option<&mut PartRecord> {
        self.parts.get_mut(number.checked_sub(1)? as usize)
    }

    /// A short summary for "unfinished uploads" lists.
    pub fn summary(&self) -> PendingUpload {
        let done = self.parts.iter().filter(|p| p.state == PartState::Done);
        PendingUpload {
            id: self.id.clone(),
            endpoint: self.endpoint.clone(),
            namespace: self.namespace.clone(),
            upload_id: self.upload_id.clone(),
            key: self.key.clone(),
            file_name: self.file_name.clone(),
            file_size: self.file_size,
            last_modified: self.last_modified,
            file_type: self.file_type.clone(),
            part_size: self.part_size,
            created_at: self.created_at,
            parts_done: done.clone().count() as u32,
            parts_total: self.parts.len() as u32,
            bytes_done: done.map(|p| p.size).sum(),
            running: false,
        }
    }
}

/// A record's part states, ETags and checksums as three strings, the way
/// the browser stores them: one character per part (`p`ending, `i`n flight,
/// `d`one), and the ETags and checksums joined by newlines (empty for none;
/// neither can hold a newline). Three strings cross into IndexedDB and back
/// far faster than 10,000 small objects (measured here: a 10,000-part
/// record in this form loads in about 1 ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactParts {
    /// One state character per part.
    pub states: String,
    /// The ETags, newline-joined.
    pub etags: String,
    /// The checksums, newline-joined.
    pub checksums: String,
}

impl PartState {
    /// This state's letter (an ASCII byte) in [`CompactParts::states`].
    pub fn letter(self) -> u8 {
        match self {
            PartState::Pending => b'p',
            PartState::InFlight => b'i',
            PartState::Done => b'd',
        }
    }

    /// The state of a [`CompactParts::states`] letter (byte).
    pub fn from_letter(letter: u8) -> Option<Self> {
        match letter {
            b'p' => Some(PartState::Pending),
            b'i' => Some(PartState::InFlight),
            b'd' => Some(PartState::Done),
            _ => None,
        }
    }
}

/// Every part of `plan`, pending. (A loop: mapping the numbers and
/// collecting them was more code in the wasm.)
fn pending_parts(plan: &PartPlan) -> Vec<PartRecord> {
    let mut parts = Vec::with_capacity(plan.count() as usize);
    for number in plan.numbers() {
        parts.push(PartRecord {
            number,
            size: plan.size_of(number),
            state: PartState::Pending,
            etag: None,
            checksum: None,
        });
    }
    parts
}

impl CompactParts {
    /// The parts of `record`, compacted.
    pub fn of(parts: &[PartRecord]) -> Self {
        let mut states = Vec::with_capacity(parts.len());
        for part in parts {
            states.push(part.state.letter());
        }
        let join = |field: fn(&PartRecord) -> Option<&str>| {
            let (mut out, mut newline) = (String::new(), "");
            for part in parts {
                out.push_str(newline);
                out.push_str(field(part).unwrap_or_default());
                newline = "\n";
            }
            out
        };
        CompactParts {
            states: ascii_string(states),
            etags: join(|p| p.etag.as_deref()),
            checksums: join(|p| p.checksum.as_deref()),
        }
    }

    /// The parts again, numbered and sized by `plan`; `None` when the
    /// strings do not describe exactly `plan`'s parts.
    pub fn parts(&self, plan: &PartPlan) -> Option<Vec<PartRecord>> {
        // One loop over the three (iterator chains and fallible collects
        // are more code in the wasm).
        let mut states = self.states.bytes();
        let mut etags = pieces(&self.etags, b'\n');
        let mut checksums = pieces(&self.checksums, b'\n');
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        // Reserved by what the strings hold (one letter a part), not by
        // the plan, whose count may be anything.
        let mut parts = Vec::with_capacity(self.states.len());
        for number in plan.numbers() {
            parts.push(PartRecord {
                number,
                size: plan.size_of(number),
                state: PartState::from_letter(states.next()?)?,
                etag: some(etags.next()?),
                checksum: some(checksums.next()?),
            });
        }
        // An empty string splits into one empty item: right for one part,
        // and zero parts are written as empty strings too.
        if parts.is_empty() {
            etags.next();
            checksums.next();
        }
        let exact = states.next().is_none() && etags.next().is_none();
        (exact && checksums.next().is_none()).then_some(parts)
    }
}

/// What `Upload.findPrevious` and `Upload.listPending` give JavaScript.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingUpload {
    /// The record key.
    pub id: String,
    /// The signing backend's base URL.
    pub endpoint: String,
    /// The namespace.
    pub namespace: String,
    /// The multipart upload id.
    pub upload_id: String,
    /// The object key.
    pub key: String,
    /// The file's name.
    pub file_name: String,
    /// The file's size in bytes.
    pub file_size: u64,
    /// The file's `lastModified`.
    pub last_modified: f64,
    /// The file's type.
    pub file_type: String,
    /// The part size.
    pub part_size: u64,
    /// When the upload began (ms since the epoch).
    pub created_at: f64,
    /// Parts this browser saw confirmed.
    pub parts_done: u32,
    /// All parts.
    pub parts_total: u32,
    /// Bytes in confirmed parts.
    pub bytes_done: u64,
    /// Whether a run holds it now (of another tab, or of this page and not
    /// paused): resuming it waits for that run or fails with
    /// `UPLOAD_LOCKED`, and clearing leaves it out. Set by
    /// [`pending`](crate::pending)'s lookups; `false` in a
    /// [`summary`](UploadRecord::summary).
    pub running: bool,
}

/// A record for tests: `size` bytes in 5 MiB parts, every part pending.
#[cfg(test)]
pub(crate) fn test_record(id: &str, size: u64) -> UploadRecord {
    UploadRecord::new(
        NewRecord {
            id,
            namespace: "",
            endpoint: "/e",
            upload_id: "u",
            key: "k",
            file_name: "f",
            last_modified: 0.0,
            file_type: "",
            now: 0.0,
            sample_sha256: None,
            checksum_algorithm: None,
        },
        &PartPlan::with_part_size(size, 5 * super::plan::MIB),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::MIB;

    #[test]
    fn new_record_has_every_part_pending() {
        let r = test_record("v1-x", 11 * MIB);
        assert_eq!(r.parts.len(), 3);
        assert!(r
            .parts
            .iter()
            .all(|p| p.state == PartState::Pending && p.etag.is_none()));
        assert_eq!(r.parts[2].size, MIB);
        assert!(r.is_usable());
    }

    #[test]
    fn tampered_records_are_not_usable() {
        let mut r = test_record("v1-x", 11 * MIB);
        r.parts.pop();
        assert!(!r.is_usable());
        let mut r = test_record("v1-x", 11 * MIB);
        r.schema = 99;
        assert!(!r.is_usable());
        let mut r = test_record("v1-x", 11 * MIB);
        r.parts[0].size += 1;
        assert!(!r.is_usable());
    }

    #[test]
    fn compact_parts_round_trip() {
        for size in [0, 1, 5 * MIB, 11 * MIB] {
            let mut r = test_record("v1-x", size);
            for (i, part) in r.parts.iter_mut().enumerate() {
                part.state = [PartState::Done, PartState::InFlight, PartState::Pending][i % 3];
                if i % 3 == 0 {
                    part.etag = Some(format!("\"etag-{i}\""));
                }
                if i % 2 == 0 {
                    part.checksum = Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into());
                }
            }
            let compact = CompactParts::of(&r.parts);
            assert_eq!(
                compact.parts(&r.plan()),
                Some(r.parts.clone()),
                "{size} bytes"
            );
        }
        let r = test_record("v1-x", 11 * MIB);
        let mut compact = CompactParts::of(&r.parts);
        compact.states.push('p');
        assert_eq!(compact.parts(&r.plan()), None, "one state too many");
        let mut compact = CompactParts::of(&r.parts);
        compact.states = compact.states.replace('p', "x");
        assert_eq!(compact.parts(&r.plan()), None, "an unknown state");
        let mut compact = CompactParts::of(&r.parts);
        compact.etags.push('\n');
        assert_eq!(compact.parts(&r.plan()), None, "one ETag too many");
        let mut compact = CompactParts::of(&r.parts);
        compact.checksums.push('\n');
        assert_eq!(compact.parts(&r.plan()), None, "one checksum too many");
        let mut compact = CompactParts::of(&r.parts);
        compact.states.pop();
        assert_eq!(compact.parts(&r.plan()), None, "one state too few");
        let mut compact = CompactParts::of(&r.parts);
        compact.etags.truncate(compact.etags.rfind('\n').unwrap());
        assert_eq!(compact.parts(&r.plan()), None, "one ETag too few");
        let empty = test_record("v1-x", 0);
        let mut compact = CompactParts::of(&empty.parts);
        compact.states.push('p');
        assert_eq!(compact.parts(&empty.plan()), None, "a state for no part");
    }

    #[test]
    fn summary_counts_done_parts() {
        let mut r = test_record("v1-x", 11 * MIB);
        let p = r.part_mut(2).unwrap();
        p.state = PartState::Done;
        p.etag = Some("\"e\"".into());
        let s = r.summary();
        assert_eq!((s.parts_done, s.parts_total, s.bytes_done), (1, 3, 5 * MIB));
        assert!(r.part_mut(0).is_none());
        assert!(r.part_mut(4).is_none());
    }
}
