//! The small interfaces the upload logic runs on.
//!
//! [`driver`](crate::driver) knows only these traits, as trait objects. The
//! browser's adapters in `web/` implement them (fetch, XMLHttpRequest,
//! IndexedDB, timers), and [`MemoryStore`](crate::memory::MemoryStore) is a
//! real in-memory [`RecordStore`]. Each is one file; `web/compose.rs` is
//! the one place that puts the browser's together.
//!
//! A port's calls answer [`PortFuture`]s: boxed, so that each adapter's
//! state machine is compiled once, behind a pointer, instead of inlined
//! into every caller (it was most of the bundle). They are not `Send`: a
//! browser page has one thread. An adapter writes
//! `Box::pin(async move { … })`.

use std::cell::RefCell;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

use crate::core::checksum::Sha256Digest;
use crate::core::reconcile::ServerPart;
use crate::core::record::UploadRecord;
use crate::error::{Error, ErrorKind, StorageFailure};

/// The future of a port's call.
pub type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + 'a>>;

/// The future of a wait.
pub type Wait<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// A port's answer that is known already (an in-memory store's).
pub fn ready<'a, T: 'a>(result: Result<T, Error>) -> PortFuture<'a, T> {
    Box::pin(std::future::ready(result))
}

/// The checksum algorithm resupload asks the backend for.
pub const SHA256: &str = "SHA256";

/// What starting a multipart upload tells the backend.
#[derive(Debug, Clone, Copy)]
pub struct NewUpload<'a> {
    /// The uploader's namespace (a backend may use it as the key's prefix).
    pub namespace: &'a str,
    /// The file's name.
    pub file_name: &'a str,
    /// Its content type (may be empty).
    pub file_type: &'a str,
    /// Metadata stored with the object.
    pub metadata: &'a [(String, String)],
    /// `Some("SHA256")` asks for an upload whose parts carry checksums.
    pub checksum_algorithm: Option<&'a str>,
    /// The file's size in bytes (resupload's extension: with the name and
    /// the sample, the content identity an [adoption](NewUpload::adopt)
    /// matches).
    pub size: u64,
    /// The file's content sample
    /// ([`sample_digest`](crate::core::fingerprint::sample_digest)), when
    /// it could be read.
    pub sample_sha256: Option<&'a str>,
    /// The planned part size in bytes.
    pub part_size: u64,
    /// The file's path in the folder it was added from, which the backend
    /// makes part of the key.
    pub relative_path: Option<&'a str>,
    /// Asks the backend to answer, instead of a new upload, the caller's
    /// newest unfinished upload of the same content with SHA-256 part
    /// checksums, perhaps begun on another device ([`Created::adopted`]).
    /// resupload's extension: a plain Companion ignores it and creates.
    pub adopt: bool,
}

/// What a single-request upload of a whole (small) file tells the backend
/// (Companion's `GET {endpoint}/params`).
#[derive(Debug, Clone, Copy)]
pub struct NewSingle<'a> {
    /// The uploader's namespace.
    pub namespace: &'a str,
    /// The file's name.
    pub file_name: &'a str,
    /// Its path in the folder it was added from.
    pub relative_path: Option<&'a str>,
    /// Its content type (may be empty).
    pub file_type: &'a str,
    /// Metadata stored with the object.
    pub metadata: &'a [(String, String)],
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (base64), for the backend to sign into the request.
    pub checksum_sha256: Option<&'a str>,
}

/// How the whole file goes to the store in one request, as the backend
/// signed it: a `PUT` with these headers (resupload's dev server), or a
/// `POST` form with these fields and the file last (Uppy Companion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSingle {
    /// `PUT` or `POST`.
    pub method: SingleMethod,
    /// Where to send it.
    pub url: String,
    /// Headers a `PUT` must carry (those the URL signs).
    pub headers: Vec<(String, String)>,
    /// Form fields a `POST` carries before the file.
    pub fields: Vec<(String, String)>,
    /// The object key.
    pub key: String,
    /// Whether the request carries the file's SHA-256 for the store to
    /// check (the backend signed it).
    pub checksum_signed: bool,
    /// How long the signature lasts (s), when the backend says
    /// (`expires`): it is used for half of it at most.
    pub expires_secs: Option<u32>,
}

/// How a [`SignedSingle`] is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleMethod {
    /// A presigned `PUT` of the bytes.
    Put,
    /// A presigned `POST` form (multipart/form-data, the file last).
    Post,
}

impl SingleMethod {
    /// The HTTP method.
    pub fn as_str(self) -> &'static str {
        match self {
            SingleMethod::Put => "PUT",
            SingleMethod::Post => "POST",
        }
    }
}

/// An unfinished upload the backend answered a create with, in place of a
/// new one (see [`NewUpload::adopt`]): the caller's, of the same content
/// (name, size and content sample, no date), perhaps begun on another
/// device.
#[derive(Debug, Clone, PartialEq)]
pub struct Adopted {
    /// The part size it was created with, if the creator said.
    pub part_size: Option<u64>,
    /// When it was created (ms since the epoch), if known.
    pub created_at: Option<f64>,
}

/// What `POST {endpoint}/multipart` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The object key chosen by the backend.
    pub key: String,
    /// The multipart upload id.
    pub upload_id: String,
    /// The checksum algorithm the backend confirmed it created the upload
    /// with (`"SHA256"`), if any.
    pub checksum_algorithm: Option<String>,
    /// Set when the backend answered an unfinished upload it already had
    /// instead of creating one.
    pub adopted: Option<Adopted>,
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// The part number.
    pub part_number: u32,
    /// Its ETag, as the store gave it.
    pub etag: String,
    /// Its SHA-256 (base64), for an upload created with checksums.
    pub checksum_sha256: Option<String>,
}

/// The signing backend (Uppy Companion's S3 multipart routes).
pub trait Backend {
    /// Starts a multipart upload.
    fn create<'a>(&'a self, upload: NewUpload<'a>) -> PortFuture<'a, Created>;
    /// A presigned URL for one part's `PUT`; with `checksum_sha256`, the URL
    /// signs that `x-amz-checksum-sha256` header.
    fn sign_part<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
        part_number: u32,
        checksum_sha256: Option<&'a str>,
    ) -> PortFuture<'a, String>;
    /// Every part the server holds (all pages).
    fn list_parts<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
    ) -> PortFuture<'a, Vec<ServerPart>>;
    /// Completes the upload with these parts (in part order).
    fn complete<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
        parts: &'a [CompletedPart],
    ) -> PortFuture<'a, CompleteAnswer>;
    /// Aborts the upload on the server.
    fn abort<'a>(&'a self, upload_id: &'a str, key: &'a str) -> PortFuture<'a, ()>;
    /// The object of an upload completed before (on another device that
    /// adopted it, or by a run whose answer was lost), as its complete
    /// answered. An error when it was not completed, or the backend cannot
    /// say (a plain Companion has no such route; the default answers so).
    fn completed<'a>(&'a self, upload_id: &'a str, key: &'a str) -> PortFuture<'a, CompleteAnswer> {
        let _ = key;
        Box::pin(async move {
            Err(ErrorKind::NoSuchUpload {
                upload_id: upload_id.to_owned(),
            }
            .into())
        })
    }
}

/// The signing backend's single-request uploads of whole small files
/// (Companion's `GET {endpoint}/params`), which only an upload queue makes.
/// A port of its own, not part of [`Backend`], so that a build without the
/// queue links none of it (a trait object keeps every method it has).
pub trait SingleSigner {
    /// How to upload a whole small file in one request.
    fn sign_single<'a>(&'a self, file: NewSingle<'a>) -> PortFuture<'a, SignedSingle>;
    /// How to upload each of several small files in one request each, in
    /// one call (resupload's batch route; the default asks one by one).
    /// Answers one signing per file, in order; fewer answers are the first
    /// files' (the others are then signed alone), and never more.
    fn sign_singles<'a>(&'a self, files: &'a [NewSingle<'a>]) -> PortFuture<'a, Vec<SignedSingle>> {
        Box::pin(async move {
            let mut signed = Vec::with_capacity(files.len());
            for file in files {
                signed.push(self.sign_single(*file).await?);
            }
            Ok(signed)
        })
    }
}

/// Where a part's bytes come from: a file, a streaming source, a staged
/// copy. `B` is a part's bytes, ready to send (in a browser, a `Blob`).
/// Reading is cheap for a file (a lazy slice), real work for a streaming
/// source.
pub trait PartSource<B> {
    /// The bytes `range` of the source.
    fn body(&self, range: Range<u64>) -> PortFuture<'_, B>;
    /// The SHA-256 of a body (read in bounded chunks, off the page's main
    /// thread where the platform allows).
    fn sha256<'a>(&'a self, body: &'a B) -> PortFuture<'a, Sha256Digest>;
    /// `Ok` while `body` can still be read, [`ErrorKind::ReadFailed`] once it
    /// cannot (the file changed or went since it was picked): asked after a
    /// part's network error, as a browser sends no part it cannot read and
    /// reports that as a network error. The default: always readable.
    fn readable<'a>(&'a self, body: &'a B) -> PortFuture<'a, ()> {
        let _ = body;
        ready(Ok(()))
    }
}

/// One part's `PUT` to its presigned URL.
#[derive(Debug)]
pub struct PartPut<'a, B> {
    /// The multipart upload it belongs to (named by a `NoSuchUpload`).
    pub upload_id: &'a str,
    /// The part number.
    pub part_number: u32,
    /// The presigned URL.
    pub url: &'a str,
    /// The bytes.
    pub body: &'a B,
    /// Sent as `x-amz-checksum-sha256` when given (the URL signs it).
    pub checksum_sha256: Option<&'a str>,
}

/// Sends part bodies (XMLHttpRequest, fetch).
pub trait PartSender<B> {
    /// `PUT`s the part and answers its ETag, as the store gave it. A sender
    /// that can tell calls `progress` with the bytes of this part sent so
    /// far. A request that makes no progress for the stall timeout (or, for
    /// a sender that cannot tell, does not finish within it) is given up as
    /// a network error. Failed answers go through [`crate::http::failure`].
    fn send<'a>(
        &'a self,
        put: &'a PartPut<'a, B>,
        progress: &'a dyn Fn(u64),
    ) -> PortFuture<'a, String>;
}

/// Sends whole small files in one request each (an upload queue's small
/// files; a port of its own for the reason [`SingleSigner`] is).
pub trait WholeSender<B> {
    /// Sends a whole small file in the one request `signed` describes,
    /// with a part's progress and stall rules ([`PartSender::send`]).
    fn send_whole<'a>(
        &'a self,
        signed: &'a SignedSingle,
        body: &'a B,
        progress: &'a dyn Fn(u64),
    ) -> PortFuture<'a, ()>;
}

/// The ports of a single-request upload of a whole small file
/// ([`Driver::put_whole`](crate::driver::Driver::put_whole)).
pub struct WholePorts<'a, B> {
    /// Signs the request.
    pub signer: &'a dyn SingleSigner,
    /// Sends it.
    pub sender: &'a dyn WholeSender<B>,
}

/// Where upload records persist.
pub trait RecordStore {
    /// The record with this key, if any.
    fn load<'a>(&'a self, id: &'a str) -> PortFuture<'a, Option<UploadRecord>>;
    /// Writes (inserts or replaces) a record.
    fn save<'a>(&'a self, record: &'a UploadRecord) -> PortFuture<'a, ()>;
    /// Writes the entries (state, ETag, checksum) of parts `numbers` of
    /// `record`, which was saved before: the write of the hot path (one part,
    /// twice per part), and of a resume (the parts it changed).
    ///
    /// The record is read when the call is made, before the future is
    /// polled (so the write reflects it as it was then, and writes begun in
    /// order reach the store in order). The default rewrites the
    /// whole record; a store that keeps part entries apart writes only
    /// these, so the cost of a part does not grow with the number of parts.
    fn save_parts<'a>(
        &'a self,
        record: &'a RefCell<UploadRecord>,
        numbers: &'a [u32],
    ) -> PortFuture<'a, ()> {
        let _ = numbers;
        let snapshot = record.borrow().clone();
        Box::pin(async move { self.save(&snapshot).await })
    }
    /// Deletes a record; deleting a missing one is not an error.
    fn remove<'a>(&'a self, id: &'a str) -> PortFuture<'a, ()>;
    /// Every record.
    fn list(&self) -> PortFuture<'_, Vec<UploadRecord>>;
    /// The id of every record. The default lists them; a store that can
    /// read ids alone does (a record of 10,000 parts is not decoded for
    /// its id).
    fn ids(&self) -> PortFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut ids = Vec::new();
            for record in self.list().await? {
                ids.push(record.id);
            }
            Ok(ids)
        })
    }
}

/// Which uploads a run holds: the runs of other tabs too, where the
/// browser can tell (a run holds its record's Web Lock).
pub trait Claims {
    /// Whether a run holds record `id`. `false` when it cannot tell.
    fn held<'a>(&'a self, id: &'a str) -> Pin<Box<dyn Future<Output = bool> + 'a>>;
}

/// [`Claims`] that a call outside any run can take as a run does (a trait
/// of its own, so that a build without `clearPending` carries none of it).
pub trait Claiming: Claims {
    /// Takes record `id` as a run does, without waiting, while it is
    /// worked on outside any run (forgotten by `clearPending`), so that no
    /// run of any tab starts on it meanwhile: `None` when a run holds it.
    /// The claim ends when the answer is dropped. Where it cannot tell,
    /// the work goes on unclaimed.
    fn claim<'a>(&'a self, id: &'a str) -> Pin<Box<dyn Future<Output = Option<Claim<'a>>> + 'a>>;
}

/// A record taken by [`Claiming::claim`], until dropped (whatever holds it:
/// a Web Lock's guard, nothing where the browser cannot lock).
pub type Claim<'a> = Box<dyn Holds + 'a>;

/// Anything a [`Claim`] keeps until it is dropped.
pub trait Holds {}

impl<T> Holds for T {}

/// Time: the clock and waiting.
pub trait Timer {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> f64;
    /// Waits `ms` milliseconds.
    fn sleep(&self, ms: u32) -> Wait<'_>;
    /// Waits while the device is offline (returns at once when online or
    /// when it cannot tell).
    fn until_online(&self) -> Wait<'_> {
        Box::pin(async {})
    }
}

/// Progress of the whole upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes handed to the network (confirmed ones included); never goes
    /// backwards, even when a part is retried. Only a restart
    /// ([`Events::restarted`]: the upload could not be continued, and the
    /// parts the server held are gone) starts it from 0 again.
    pub sent_bytes: u64,
    /// Bytes in parts the server confirmed.
    pub confirmed_bytes: u64,
    /// The file's size.
    pub total_bytes: u64,
}

/// A part the server confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCompleted {
    /// The part number.
    pub part_number: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag.
    pub etag: String,
}

/// A stored upload was found and continued (reconciled with the server's
/// part list, or found completed with this file's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The multipart upload id.
    pub upload_id: String,
    /// Parts not sent again: those the server already held (every part of
    /// an upload found completed).
    pub skipped_parts: u32,
    /// Their bytes.
    pub skipped_bytes: u64,
    /// Where the upload was found.
    pub source: ResumeSource,
}

/// Where a resumed upload was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeSource {
    /// In this browser's records.
    Local,
    /// Through the backend, which answered the create with it: started
    /// elsewhere (another device, a cleared browser), every part the
    /// server holds verified before use.
    Backend,
}

impl ResumeSource {
    /// The name JavaScript sees (`onResume({ source })`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResumeSource::Local => "local",
            ResumeSource::Backend => "backend",
        }
    }
}

/// Why a stored upload could not be continued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// The server no longer has the upload, or it is past its expiry.
    Expired,
    /// The file changed: a new date, or new content under the same name,
    /// size and date (seen in the content sample, or in a part the server
    /// holds whose checksum no longer matches).
    FileChanged,
}

impl RestartReason {
    /// The name JavaScript sees (`onRestart({ reason })`). The TypeScript
    /// types (`src/web/api.rs`) list every one (tests/e2e/types.test.mjs).
    pub fn as_str(self) -> &'static str {
        match self {
            RestartReason::Expired => "expired",
            RestartReason::FileChanged => "file-changed",
        }
    }
}

/// A resumed upload will soon be expired by the server.
#[derive(Debug, Clone, PartialEq)]
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
    /// How long the part's sending slot waited for it, in milliseconds:
    /// its first write and the signing of its URL run while it waits for
    /// the slot, and the second write after the slot is handed on, so only
    /// a part whose write or signing outlasts that wait holds a slot idle.
    pub blocking_ms: f64,
}

/// The kinds of problem that do not stop an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningCode {
    /// IndexedDB cannot be opened: the record lives in memory.
    StorageUnavailable,
    /// A write hit the quota: the record moves to memory.
    StorageFull,
    /// Another IndexedDB failure: the record moves to memory.
    StorageFailed,
    /// The backend cannot sign checksums: the upload goes on without.
    ChecksumUnsupported,
    /// The object's checksum could not be compared at completion.
    ChecksumUnverified,
    /// The browser cannot lock the upload across tabs: it goes on unlocked.
    LockUnavailable,
    /// No staged copy was made (no room, or no origin-private file system):
    /// after a restart the file must be picked again.
    StagingSkipped,
    /// The staged copy failed midway and was deleted.
    StagingFailed,
    /// Files or folders an upload queue was given could not be read: the
    /// others were added.
    FilesUnreadable,
    /// A file of an upload queue was cancelled after the store had
    /// completed its upload: the object is stored, under the warning's
    /// `key` (which its message names too).
    CancelledStored,
}

impl WarningCode {
    /// Whether an upload tells it once (a state that lasts, such as
    /// IndexedDB failing), not at each call that meets it (the files of
    /// one `add()` that could not be read).
    pub fn once_per_upload(self) -> bool {
        !matches!(
            self,
            WarningCode::FilesUnreadable | WarningCode::CancelledStored
        )
    }

    /// The stable code JavaScript sees, such as `"STORAGE_UNAVAILABLE"`.
    /// The TypeScript types (`src/web/api.rs`) list every one
    /// (tests/e2e/types.test.mjs).
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::StorageUnavailable => "STORAGE_UNAVAILABLE",
            WarningCode::StorageFull => "STORAGE_FULL",
            WarningCode::StorageFailed => "STORAGE_FAILED",
            WarningCode::ChecksumUnsupported => "CHECKSUM_UNSUPPORTED",
            WarningCode::ChecksumUnverified => "CHECKSUM_UNVERIFIED",
            WarningCode::LockUnavailable => "LOCK_UNAVAILABLE",
            WarningCode::StagingSkipped => "STAGING_SKIPPED",
            WarningCode::StagingFailed => "STAGING_FAILED",
            WarningCode::FilesUnreadable => "FILES_UNREADABLE",
            WarningCode::CancelledStored => "CANCELLED_STORED",
        }
    }
}

/// Something the page should know that does not stop the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What kind of problem.
    pub code: WarningCode,
    /// What happened and what it means, for a person.
    pub message: String,
}

impl Warning {
    /// The warning of a store of records or markers failing with `error`:
    /// its code by the failure's kind (`STORAGE_UNAVAILABLE`,
    /// `STORAGE_FULL`, else `STORAGE_FAILED`), its message `error`, then
    /// `then` (what goes on).
    pub fn storage(error: &Error, then: &str) -> Self {
        let code = match error.kind() {
            ErrorKind::Storage {
                failure: StorageFailure::Unavailable,
                ..
            } => WarningCode::StorageUnavailable,
            ErrorKind::Storage {
                failure: StorageFailure::Full,
                ..
            } => WarningCode::StorageFull,
            _ => WarningCode::StorageFailed,
        };
        Warning {
            code,
            message: [&error.message(), "; ", then].concat(),
        }
    }
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
    fn restarted(&self, reason: RestartReason);
    /// A resumed upload is close to its expiry on the server.
    fn expiring_soon(&self, soon: ExpiringSoon);
    /// Something the page should know that does not stop the upload.
    fn warning(&self, warning: Warning);
    /// The store holds the object, under `key` (its complete answered):
    /// what the run does after only tidies up (the record's removal, the
    /// checksum's check), so a pause or an abort must let it end rather
    /// than drop it, or, dropped, not send the file again. Ignored unless
    /// implemented.
    fn object_stored(&self, key: &str) {
        let _ = key;
    }
    /// The time a confirmed part spent in resupload's own bookkeeping: for
    /// benchmarks and telemetry. Ignored unless implemented.
    fn part_bookkeeping(&self, bookkeeping: PartBookkeeping) {
        let _ = bookkeeping;
    }
    /// An upload alone on the link sent its parts at this rate (bytes per
    /// second, over at least [`LINK_MEASURE_MIN_BYTES`]): a later upload's
    /// part size may follow it. Ignored unless implemented.
    fn link_measured(&self, bytes_per_second: f64) {
        let _ = bytes_per_second;
    }
}

/// The fewest bytes an upload sends before its rate counts as the link's
/// (8 parts of the default size).
pub const LINK_MEASURE_MIN_BYTES: u64 = 64 << 20;
