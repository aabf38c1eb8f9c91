//! The small interfaces the upload logic runs on.
//!
//! [`driver`](crate::driver) knows only these traits; the browser adapters in
//! `web/` implement them with fetch, XMLHttpRequest, IndexedDB and timers, and
//! [`MemoryStore`] is a real in-memory [`RecordStore`]. Futures here are not
//! `Send`: a browser page has one thread.

use std::cell::RefCell;
use std::ops::Range;

use serde::Serialize;

use crate::core::checksum::Sha256Digest;
use crate::core::reconcile::ServerPart;
use crate::core::record::UploadRecord;
use crate::error::Error;

/// What `POST {endpoint}/multipart` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The object key chosen by the backend.
    pub key: String,
    /// The multipart upload id.
    pub upload_id: String,
    /// The checksum algorithm the backend confirmed it created the upload
    /// with (`"SHA256"`), if any.
    pub checksum_algorithm: Option<String>,
}

/// The checksum algorithm resupload asks the backend for.
pub const SHA256: &str = "SHA256";

/// What the completion call answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompleteAnswer {
    /// The object's location, as the backend gave it.
    pub location: String,
    /// The object's composite checksum as the store reported it
    /// (`base64-N`), when the backend passes it on.
    pub checksum_sha256: Option<String>,
}

/// One entry of the completion call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompletedPart {
    /// The part number.
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    /// Its ETag, as the store gave it.
    #[serde(rename = "ETag")]
    pub etag: String,
    /// Its SHA-256 (base64), for an upload created with checksums.
    #[serde(rename = "ChecksumSHA256", skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<String>,
}

/// The signing backend (Uppy Companion's S3 multipart routes).
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// Starts a multipart upload.
    /// `namespace` is the uploader's namespace (a backend may use it as the
    /// key's prefix); `checksum_algorithm` (`Some("SHA256")`) asks for an
    /// upload whose parts carry checksums.
    async fn create(
        &self,
        namespace: &str,
        file_name: &str,
        file_type: &str,
        metadata: &[(String, String)],
        checksum_algorithm: Option<&str>,
    ) -> Result<Created, Error>;
    /// A presigned URL for one part's `PUT`; with `checksum_sha256`, the URL
    /// signs that `x-amz-checksum-sha256` header.
    async fn sign_part(
        &self,
        upload_id: &str,
        key: &str,
        part_number: u32,
        checksum_sha256: Option<&str>,
    ) -> Result<String, Error>;
    /// Every part the server holds (all pages).
    async fn list_parts(&self, upload_id: &str, key: &str) -> Result<Vec<ServerPart>, Error>;
    /// Completes the upload with these parts (in part order).
    async fn complete(
        &self,
        upload_id: &str,
        key: &str,
        parts: &[CompletedPart],
    ) -> Result<CompleteAnswer, Error>;
    /// Aborts the upload on the server.
    async fn abort(&self, upload_id: &str, key: &str) -> Result<(), Error>;
}

/// The data plane of one upload: produces a part's bytes, hashes them, and
/// sends them to a presigned URL.
#[allow(async_fn_in_trait)]
pub trait PartIo {
    /// A part's bytes, ready to send (in a browser, a `Blob`: a lazy slice
    /// of a file, or the bytes a streaming source produced).
    type Body;
    /// The bytes `range` of the source.
    async fn body(&self, range: Range<u64>) -> Result<Self::Body, Error>;
    /// The SHA-256 of a body (streamed through the hasher in bounded
    /// chunks, off the page's main thread where the platform allows).
    async fn sha256(&self, body: &Self::Body) -> Result<Sha256Digest, Error>;
    /// `PUT`s `body` to `url` (with `x-amz-checksum-sha256` when given) and
    /// answers the response's ETag. With `watch_progress`, `progress` is
    /// called with the bytes of this part sent so far, and a request that
    /// makes no progress for a while is given up; without, `progress` may
    /// not be called, and only a request that does not finish in that while
    /// is given up (watching costs: in Chromium here, an upload progress
    /// listener slowed Blob PUTs by 15-19%).
    async fn send(
        &self,
        url: &str,
        part_number: u32,
        body: &Self::Body,
        checksum_sha256: Option<&str>,
        watch_progress: bool,
        progress: &dyn Fn(u64),
    ) -> Result<String, Error>;
}

/// Where upload records persist.
#[allow(async_fn_in_trait)]
pub trait RecordStore {
    /// The record with this key, if any.
    async fn load(&self, id: &str) -> Result<Option<UploadRecord>, Error>;
    /// Writes (inserts or replaces) a record.
    async fn save(&self, record: &UploadRecord) -> Result<(), Error>;
    /// Writes the entries (state, ETag, checksum) of parts `numbers` of
    /// `record`, which was saved before: the write of the hot path (one part,
    /// twice per part), and of a resume (the parts it changed).
    ///
    /// The record is read before the first `.await` (so the write reflects
    /// it as it was when the call began, and writes begun in order reach the
    /// store in order). The default rewrites the whole record; a store that
    /// keeps part entries apart writes only these, so the cost of a part
    /// does not grow with the number of parts.
    async fn save_parts(
        &self,
        record: &RefCell<UploadRecord>,
        numbers: &[u32],
    ) -> Result<(), Error> {
        let _ = numbers;
        let snapshot = record.borrow().clone();
        self.save(&snapshot).await
    }
    /// Deletes a record; deleting a missing one is not an error.
    async fn remove(&self, id: &str) -> Result<(), Error>;
    /// Every record.
    async fn list(&self) -> Result<Vec<UploadRecord>, Error>;
}

/// Time: the clock and waiting.
#[allow(async_fn_in_trait)]
pub trait Timer {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> f64;
    /// Waits `ms` milliseconds.
    async fn sleep(&self, ms: u32);
    /// Waits while the device is offline (returns at once when online or
    /// when it cannot tell).
    async fn until_online(&self) {}
}

/// Progress of the whole upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Bytes handed to the network (confirmed ones included); never goes
    /// backwards, even when a part is retried.
    pub sent_bytes: u64,
    /// Bytes in parts the server confirmed.
    pub confirmed_bytes: u64,
    /// The file's size.
    pub total_bytes: u64,
}

/// A part the server confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartCompleted {
    /// The part number.
    pub part_number: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag.
    pub etag: String,
}

/// A stored upload was found and reconciled with the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resumed {
    /// The multipart upload id.
    pub upload_id: String,
    /// Parts the server already held.
    pub skipped_parts: u32,
    /// Their bytes.
    pub skipped_bytes: u64,
}

/// The stored upload could not be continued, so the file is uploaded afresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restarted {
    /// Why: `"expired"` (the server no longer has the upload, or it is past
    /// its expiry) or `"file-changed"` (a new date, or new content under the
    /// same name, size and date, seen in the content sample or in a part the
    /// server holds whose checksum no longer matches).
    pub reason: &'static str,
}

/// A resumed upload will soon be expired by the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiringSoon {
    /// The multipart upload id.
    pub upload_id: String,
    /// When the server expires it (ms since the epoch).
    pub expires_at: f64,
}

/// A confirmed part's time in resupload's own bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartBookkeeping {
    /// The part number.
    pub part_number: u32,
    /// Its two state writes (before it is sent, once it is confirmed), each
    /// awaited until stored, in milliseconds.
    pub state_writes_ms: f64,
    /// How much of that the part's request waited for, in milliseconds: the
    /// first write runs beside the signing of its URL, and the second after
    /// its sending slot is handed on, so only a first write that outlasts
    /// the signing holds the part back.
    pub blocking_ms: f64,
}

/// Something the page should know that does not stop the upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// A stable code, such as `"STORAGE_UNAVAILABLE"`.
    pub code: &'static str,
    /// What happened and what it means, for a person.
    pub message: String,
}

/// Receives what happens during an upload.
pub trait Events {
    /// Progress changed.
    fn progress(&self, progress: Progress);
    /// A part was confirmed.
    fn part_completed(&self, part: PartCompleted);
    /// A stored upload is being resumed.
    fn resumed(&self, resumed: Resumed);
    /// The stored upload could not be continued; a fresh one starts.
    fn restarted(&self, restarted: Restarted);
    /// A resumed upload is close to its expiry on the server.
    fn expiring_soon(&self, soon: ExpiringSoon);
    /// Something the page should know that does not stop the upload.
    fn warning(&self, warning: Warning);
    /// The time a confirmed part spent in resupload's own bookkeeping: for
    /// benchmarks and telemetry. Ignored unless implemented.
    fn part_bookkeeping(&self, bookkeeping: PartBookkeeping) {
        let _ = bookkeeping;
    }
}

/// A real [`RecordStore`] in memory: the fallback where IndexedDB is missing,
/// and the store of native tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// A few records: a Vec is smaller code than a map.
    records: RefCell<Vec<UploadRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RecordStore for MemoryStore {
    async fn load(&self, id: &str) -> Result<Option<UploadRecord>, Error> {
        Ok(self.records.borrow().iter().find(|r| r.id == id).cloned())
    }

    async fn save(&self, record: &UploadRecord) -> Result<(), Error> {
        let mut records = self.records.borrow_mut();
        records.retain(|r| r.id != record.id);
        records.push(record.clone());
        Ok(())
    }

    async fn save_parts(
        &self,
        record: &RefCell<UploadRecord>,
        numbers: &[u32],
    ) -> Result<(), Error> {
        let record = record.borrow();
        let mut records = self.records.borrow_mut();
        match records.iter_mut().find(|r| r.id == record.id) {
            Some(stored) if stored.parts.len() == record.parts.len() => {
                for &number in numbers {
                    let i = number as usize - 1;
                    if let Some(part) = record.parts.get(i) {
                        stored.parts[i] = part.clone();
                    }
                }
                stored.updated_at = record.updated_at;
            }
            _ => {
                records.retain(|r| r.id != record.id);
                records.push(record.clone());
            }
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        self.records.borrow_mut().retain(|r| r.id != id);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<UploadRecord>, Error> {
        Ok(self.records.borrow().clone())
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::core::plan::MIB;
    use crate::core::record::{test_record, PartState};

    #[test]
    fn the_memory_store_writes_parts_in_place() {
        let store = MemoryStore::new();
        let record = RefCell::new(test_record("r", 11 * MIB));
        block_on(store.save_parts(&record, &[2])).unwrap();
        assert_eq!(
            block_on(store.load("r")).unwrap().as_ref(),
            Some(&*record.borrow()),
            "inserted whole when missing"
        );
        {
            let mut r = record.borrow_mut();
            r.parts[1].state = PartState::Done;
            r.parts[1].etag = Some("\"e2\"".into());
            r.parts[2].state = PartState::InFlight; // not written by save_parts([2])
        }
        block_on(store.save_parts(&record, &[2])).unwrap();
        let stored = block_on(store.load("r")).unwrap().unwrap();
        assert_eq!(stored.parts[1], record.borrow().parts[1]);
        assert_eq!(stored.parts[2].state, PartState::Pending);
    }
}
