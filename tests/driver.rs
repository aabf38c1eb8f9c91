//! Native tests of the upload driver over a scripted in-memory S3.
//!
//! The fake keeps real bytes: a completed object is the concatenation of the
//! parts named at completion, so every test checks the object against the file.

#![cfg(not(target_arch = "wasm32"))]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Context;

mod support;
use support::{poll_pending, yield_now};

use futures::executor::block_on;
use resupload::core::checksum::{composite, Sha256Digest};
use resupload::core::fingerprint::FileIdentity;
use resupload::core::plan::MIB;
use resupload::core::reconcile::ServerPart;
use resupload::core::record::PartState;
use resupload::error::{ErrorKind, Mismatch};
use resupload::http::{failure, Answer};
use resupload::memory::{MemoryClaims, MemoryStore};
use resupload::options::ChecksumMode;
use resupload::ports::{
    Adopted, Backend, Claim, Claiming, Claims, CompleteAnswer, CompletedPart, Created, Events,
    ExpiringSoon, NewSingle, NewUpload, PartBookkeeping, PartCompleted, PartPut, PartSender,
    PartSource, PortFuture, Progress, RecordStore, RestartReason, ResumeSource, Resumed,
    SignedSingle, SingleMethod, SingleSigner, Timer, Wait, Warning, WarningCode, WholePorts,
    WholeSender,
};
use resupload::slots::RampedSlots;
use resupload::{Completed, Driver, Error, FileInfo, Operation, UploadOptions};

/// A fault to inject into one part's next PUT.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Status(u16),
    Network,
    /// 429 with `Retry-After` (ms).
    SlowDown(u32),
    /// The connection breaks after this many bytes went out.
    NetworkAfter(u64),
    Hang,
    /// The store keeps the bytes but the answer is lost on the way back.
    StoredButLost,
    /// The same, and the part list asked next is lost too (the link is
    /// down a moment).
    StoredButLostWithList,
    /// The store forgets the whole upload (a lifecycle rule, an abort).
    Gone,
    /// The same, and the part's request ends as a network error (Firefox
    /// and WebKit when the store refuses the part before its body and
    /// closes the connection).
    GoneUnseen,
    /// A second send of a stored part, cut off midway: the store still lists
    /// the old part but refuses it at completion (seen with Garage).
    CutOffResend,
    /// The same, seen by the sender: its request ends as a network error.
    CutOffResendFailed,
    /// Another device that adopted the upload completes it with the file's
    /// bytes as they are now (every part sent from there) while this part
    /// goes: the store answers NoSuchUpload.
    CompletedElsewhere,
    /// One byte of the body is flipped on the way to the store.
    Corrupt,
    /// The file changed since it was picked: it can no longer be read, and
    /// the browser reports the part's request as a network error.
    Unreadable,
}

/// The composite SHA-256 of `bytes` as an object of 5 MiB parts.
fn composite_of(bytes: &[u8]) -> String {
    let digests: Vec<Sha256Digest> = bytes
        .chunks(5 * MIB as usize)
        .map(Sha256Digest::of)
        .collect();
    composite(&digests)
}

/// One stored part: its bytes, ETag and checksum (base64 SHA-256).
type StoredPart = (Vec<u8>, String, Option<String>);

/// The parts of one multipart upload, and whether it was created with
/// SHA-256 checksums.
#[derive(Default)]
struct StoredUpload {
    parts: BTreeMap<u32, StoredPart>,
    checksums: bool,
}

#[derive(Default)]
struct FakeS3 {
    /// The source's bytes now (tests change them to play a changed file).
    file: RefCell<Vec<u8>>,
    next_id: Cell<u32>,
    uploads: RefCell<HashMap<String, StoredUpload>>,
    objects: RefCell<HashMap<String, Vec<u8>>>,
    faults: RefCell<HashMap<u32, VecDeque<Fault>>>,
    puts: RefCell<Vec<u32>>,
    in_flight: Cell<usize>,
    max_in_flight: Cell<usize>,
    list_calls: Cell<u32>,
    poisoned: RefCell<Vec<u32>>,
    /// Uploads forgotten by a [`Fault::GoneUnseen`]: every later part
    /// request to them ends as a network error too.
    gone_unseen: RefCell<Vec<String>>,
    /// Whether the backend confirms SHA-256 checksums on create (as the dev
    /// server does; a plain Companion does not).
    no_checksums: Cell<bool>,
    /// Parts hashed through [`PartIo::sha256`].
    hashed: RefCell<Vec<u64>>,
    /// The complete call reports this object checksum instead of the true one.
    lying_checksum: RefCell<Option<String>>,
    /// The backend's uploads table: what each create said of its file.
    rows: RefCell<Vec<Row>>,
    /// Creates asked for, and how many of them offered to adopt an upload
    /// begun elsewhere.
    creates: Cell<u32>,
    adoptions_asked: Cell<u32>,
    /// Single-request uploads signed.
    singles_signed: Cell<u32>,
    /// Creates ignore `adopt` (a plain Companion, a backend without the
    /// extension).
    ignores_adopt: Cell<bool>,
    /// Creates adopt even uploads without checksums; or even when not
    /// asked to (broken backends).
    adopts_unchecked: Cell<bool>,
    adopts_unasked: Cell<bool>,
    /// Creates are refused with this status (401: no credentials).
    create_refused: Cell<Option<u16>>,
    /// Aborts meet a network error (the device is offline).
    aborts_offline: Cell<bool>,
    /// Aborts are refused with this status (401: no credentials; 403: not
    /// the caller's upload).
    aborts_refused: Cell<Option<u16>>,
    /// Signing takes a turn of the executor (a round trip), as it does in a
    /// browser.
    slow_signing: Cell<bool>,
    /// Part URLs signed (their part numbers), and how many of them before
    /// the first part PUT.
    signed: Cell<usize>,
    signed_parts: RefCell<Vec<u32>>,
    signed_before_first_put: Cell<Option<usize>>,
    /// Reading the file's first bytes fails (the file went away).
    unreadable_start: Cell<bool>,
    /// Listing the parts takes a round trip (three turns of the executor:
    /// longer than hashing a part here); the part numbers signed by the
    /// time it answers.
    slow_listing: Cell<bool>,
    signed_while_listing: RefCell<Option<Vec<u32>>>,
    /// Creating an upload takes a round trip (three turns of the executor);
    /// the sizes of the parts hashed by the time it answers.
    slow_create: Cell<bool>,
    hashed_while_creating: RefCell<Option<Vec<u64>>>,
    /// Hashing takes this many turns of the executor; how many hashes
    /// finished (a dropped one never does).
    hash_turns: Cell<usize>,
    hashes_finished: Cell<usize>,
    /// Every part list is answered with this status and body.
    list_refused: Cell<Option<(u16, &'static str)>>,
    /// Part lists answered 2xx with a body that is no part list (a
    /// catch-all page of the app, a sign-in page).
    list_unreadable: Cell<bool>,
    /// The next part lists that fail as the network does.
    lists_lost: Cell<u32>,
    /// The file can no longer be read (a [`Fault::Unreadable`] met).
    file_unreadable: Cell<bool>,
    /// The next complete completes the upload, and its answer never comes
    /// (a pause drops the run meanwhile).
    complete_answer_lost: Cell<bool>,
    /// What each complete answered, by upload id: the dev server answers a
    /// repeated complete as it did then, unless `forgets_completes` (a
    /// plain Companion: the store's NoSuchUpload).
    completed: RefCell<HashMap<String, CompleteAnswer>>,
    forgets_completes: Cell<bool>,
    /// Asked whether an upload was completed, answers as a repeated complete
    /// would (the dev server's `GET …/complete`); else NoSuchUpload (a
    /// plain Companion has no such route).
    tells_completed: Cell<bool>,
    /// How many times it was asked.
    completed_asked: Cell<u32>,
    /// A byte the other device's copy has flipped
    /// ([`Fault::CompletedElsewhere`]).
    elsewhere_differs_at: Cell<Option<usize>>,
    /// Completes meet a network error (the device went offline).
    completes_offline: Cell<bool>,
    /// The test's clock (the timer's), read when a URL is signed and used.
    clock: Rc<Cell<f64>>,
    /// When each URL was signed (`clock`), by the number in its path.
    signed_at: RefCell<Vec<f64>>,
    /// A presigned URL older than this is refused as S3 refuses it (403
    /// "Request has expired"); `expired_puts` counts those PUTs.
    url_lifetime_ms: Cell<Option<f64>>,
    expired_puts: Cell<u32>,
    /// Single-request signatures say their lifetime (`url_lifetime_ms`),
    /// as `/params` answers `expires`.
    tells_lifetime: Cell<bool>,
}

/// One row of the backend's uploads table.
struct Row {
    namespace: String,
    name: String,
    size: u64,
    sample: Option<String>,
    /// The file's folder path (the dev server keys it into its folder, and
    /// adopts only an upload of the same folder).
    folder: Option<String>,
    part_size: u64,
    upload_id: String,
    key: String,
    checksums: bool,
}

impl FakeS3 {
    fn new(size: usize) -> Self {
        FakeS3 {
            file: RefCell::new((0..size).map(|i| (i * 31 % 251) as u8).collect()),
            ..Default::default()
        }
    }

    fn file(&self) -> Vec<u8> {
        self.file.borrow().clone()
    }

    fn fail(&self, part: u32, faults: &[Fault]) {
        self.faults
            .borrow_mut()
            .entry(part)
            .or_default()
            .extend(faults.iter().cloned());
    }

    fn puts(&self) -> Vec<u32> {
        let mut p = self.puts.borrow().clone();
        p.sort();
        p
    }
}

/// The error an answer of the store or backend becomes, as the browser's
/// adapters make it (`resupload::http::failure`).
fn answer(
    operation: Operation,
    upload_id: Option<&str>,
    status: u16,
    body: &str,
    retry_after: Option<&str>,
) -> Error {
    failure(
        operation,
        upload_id,
        Answer {
            status,
            body,
            retry_after,
        },
    )
}

fn http(operation: Operation, status: u16) -> Error {
    answer(operation, None, status, "", None)
}

/// The fake's answers, as plain async functions; the ports box them.
impl FakeS3 {
    async fn fake_create(&self, upload: NewUpload<'_>) -> Result<Created, Error> {
        if self.slow_create.get() {
            for _ in 0..3 {
                yield_now().await;
            }
            *self.hashed_while_creating.borrow_mut() = Some(self.hashed.borrow().clone());
        }
        self.creates.set(self.creates.get() + 1);
        if let Some(status) = self.create_refused.get() {
            return Err(http(Operation::Create, status));
        }
        self.adoptions_asked
            .set(self.adoptions_asked.get() + u32::from(upload.adopt));
        if let Some(adopted) = self.adoptable(&upload) {
            return Ok(adopted);
        }
        let (name, checksum_algorithm) = (upload.file_name, upload.checksum_algorithm);
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        let upload_id = format!("up{n}");
        let checksums = checksum_algorithm == Some("SHA256") && !self.no_checksums.get();
        self.rows.borrow_mut().push(Row {
            namespace: upload.namespace.into(),
            name: name.into(),
            size: upload.size,
            sample: upload.sample_sha256.map(Into::into),
            folder: upload.relative_path.map(Into::into),
            part_size: upload.part_size,
            upload_id: upload_id.clone(),
            key: format!("uploads/{n}/{name}"),
            checksums,
        });
        self.uploads.borrow_mut().insert(
            upload_id.clone(),
            StoredUpload {
                parts: BTreeMap::new(),
                checksums,
            },
        );
        Ok(Created {
            key: format!("uploads/{n}/{name}"),
            upload_id,
            checksum_algorithm: checksums.then(|| "SHA256".into()),
            adopted: None,
        })
    }

    /// The caller's newest open upload of the same content with checksums,
    /// as the dev server answers a create with `adopt`.
    fn adoptable(&self, upload: &NewUpload<'_>) -> Option<Created> {
        let asked = upload.adopt || self.adopts_unasked.get();
        if !asked || self.ignores_adopt.get() {
            return None;
        }
        let uploads = self.uploads.borrow();
        let rows = self.rows.borrow();
        let row = rows.iter().rev().find(|r| {
            r.namespace == upload.namespace
                && r.name == upload.file_name
                && r.size == upload.size
                && r.sample.as_deref() == upload.sample_sha256
                && r.folder.as_deref() == upload.relative_path
                && (r.checksums || self.adopts_unchecked.get())
                && uploads.contains_key(&r.upload_id)
        })?;
        Some(Created {
            key: row.key.clone(),
            upload_id: row.upload_id.clone(),
            checksum_algorithm: row.checksums.then(|| "SHA256".into()),
            adopted: Some(Adopted {
                part_size: Some(row.part_size),
                created_at: Some(1_700_000_000_000.0 - 60_000.0),
            }),
        })
    }

    async fn fake_sign_part(
        &self,
        upload_id: &str,
        _key: &str,
        part: u32,
        checksum: Option<&str>,
    ) -> Result<String, Error> {
        // A backend that signs without asking the store (the dev server,
        // Companion) still signs for an upload the store forgot unseen.
        let unseen = self.gone_unseen.borrow().iter().any(|id| id == upload_id);
        if !unseen && !self.uploads.borrow().contains_key(upload_id) {
            return Err(ErrorKind::NoSuchUpload {
                upload_id: upload_id.into(),
            }
            .into());
        }
        self.signed.set(self.signed.get() + 1);
        self.signed_parts.borrow_mut().push(part);
        if self.slow_signing.get() {
            yield_now().await;
        }
        // The "URL" names the signed checksum, as a presigned URL signs it,
        // and its signing, whose time is kept.
        let signing = self.signed_at.borrow().len();
        self.signed_at.borrow_mut().push(self.clock.get());
        Ok(format!(
            "{upload_id}/{part}/{signing}/{}",
            checksum.unwrap_or("-")
        ))
    }

    async fn fake_list_parts(&self, upload_id: &str, _key: &str) -> Result<Vec<ServerPart>, Error> {
        self.list_calls.set(self.list_calls.get() + 1);
        if let Some((status, body)) = self.list_refused.get() {
            return Err(answer(
                Operation::ListParts,
                Some(upload_id),
                status,
                body,
                None,
            ));
        }
        if self.lists_lost.get() > 0 {
            self.lists_lost.set(self.lists_lost.get() - 1);
            return Err(ErrorKind::Network {
                operation: Operation::ListParts,
                detail: "connection reset".into(),
            }
            .into());
        }
        if self.list_unreadable.get() {
            return Err(ErrorKind::BadResponse {
                operation: Operation::ListParts,
                detail: "not JSON: <!doctype html>".into(),
            }
            .into());
        }
        if self.slow_listing.get() {
            for _ in 0..3 {
                yield_now().await;
            }
            let signed = self.signed_parts.borrow().clone();
            *self.signed_while_listing.borrow_mut() = Some(signed);
        }
        let uploads = self.uploads.borrow();
        let upload = uploads.get(upload_id).ok_or(ErrorKind::NoSuchUpload {
            upload_id: upload_id.into(),
        })?;
        Ok(upload
            .parts
            .iter()
            .map(|(n, (bytes, etag, checksum))| ServerPart {
                part_number: *n,
                size: bytes.len() as u64,
                etag: etag.clone(),
                checksum_sha256: checksum.clone(),
            })
            .collect())
    }

    /// The composite SHA-256 of the file's bytes now, in 5 MiB parts.
    fn composite_of_file(&self) -> String {
        composite_of(&self.file())
    }

    /// What a complete of `upload_id` from another device answers, made
    /// of the file's bytes now in 5 MiB parts (see
    /// [`Fault::CompletedElsewhere`]).
    fn complete_elsewhere(&self, upload_id: &str) {
        let mut file = self.file();
        if let Some(at) = self.elsewhere_differs_at.get() {
            file[at] ^= 1;
        }
        let answer = CompleteAnswer {
            location: format!("http://store/elsewhere/{upload_id}"),
            checksum_sha256: Some(composite_of(&file)),
        };
        self.completed.borrow_mut().insert(upload_id.into(), answer);
    }

    async fn fake_complete(
        &self,
        upload_id: &str,
        key: &str,
        parts: &[CompletedPart],
    ) -> Result<CompleteAnswer, Error> {
        if self.completes_offline.get() {
            return Err(ErrorKind::Network {
                operation: Operation::Complete,
                detail: "offline".into(),
            }
            .into());
        }
        let poisoned = |p: &&CompletedPart| self.poisoned.borrow().contains(&p.part_number);
        if let Some(bad) = parts.iter().find(poisoned) {
            let body = format!(
                r#"{{"error":{{"code":"InvalidPart","message":"part {} is not complete"}}}}"#,
                bad.part_number
            );
            return Err(answer(
                Operation::Complete,
                Some(upload_id),
                400,
                &body,
                None,
            ));
        }
        let answered_before = self.completed.borrow().get(upload_id).cloned();
        if let Some(before) = answered_before.filter(|_| !self.forgets_completes.get()) {
            return Ok(before);
        }
        let stored =
            self.uploads
                .borrow_mut()
                .remove(upload_id)
                .ok_or(ErrorKind::NoSuchUpload {
                    upload_id: upload_id.into(),
                })?;
        let mut object = Vec::new();
        let mut digests = Vec::new();
        let mut last = 0;
        for p in parts {
            assert!(p.part_number > last, "parts in order");
            last = p.part_number;
            let (bytes, etag, checksum) = stored
                .parts
                .get(&p.part_number)
                .expect("completed part exists");
            assert_eq!(etag, &p.etag, "the ETag of part {}", p.part_number);
            if stored.checksums {
                // S3 wants every part's checksum at completion.
                assert_eq!(p.checksum_sha256.as_ref(), checksum.as_ref());
                digests.push(Sha256Digest::from_base64(checksum.as_ref().unwrap()).unwrap());
            } else {
                assert_eq!(p.checksum_sha256, None);
            }
            object.extend_from_slice(bytes);
        }
        self.objects.borrow_mut().insert(key.into(), object);
        let checksum = stored.checksums.then(|| composite(&digests));
        let answer = CompleteAnswer {
            location: format!("http://store/{key}"),
            checksum_sha256: self.lying_checksum.borrow().clone().or(checksum),
        };
        self.completed
            .borrow_mut()
            .insert(upload_id.into(), answer.clone());
        if self.complete_answer_lost.replace(false) {
            std::future::pending::<()>().await;
        }
        Ok(answer)
    }

    async fn fake_abort(&self, upload_id: &str, _key: &str) -> Result<(), Error> {
        if self.aborts_offline.get() {
            return Err(ErrorKind::Network {
                operation: Operation::Abort,
                detail: "offline".into(),
            }
            .into());
        }
        if let Some(status) = self.aborts_refused.get() {
            return Err(http(Operation::Abort, status));
        }
        self.uploads
            .borrow_mut()
            .remove(upload_id)
            .map(|_| ())
            .ok_or(
                ErrorKind::NoSuchUpload {
                    upload_id: upload_id.into(),
                }
                .into(),
            )
    }
}

impl FakeS3 {
    async fn fake_body(&self, range: Range<u64>) -> Result<Vec<u8>, Error> {
        if self.unreadable_start.get() && range.start == 0 {
            return Err(ErrorKind::ReadFailed {
                detail: "NotFoundError".into(),
            }
            .into());
        }
        Ok(self.file.borrow()[range.start as usize..range.end as usize].to_vec())
    }

    async fn fake_sha256(&self, body: &[u8]) -> Result<Sha256Digest, Error> {
        self.hashed.borrow_mut().push(body.len() as u64);
        for _ in 0..self.hash_turns.get().max(1) {
            yield_now().await;
        }
        self.hashes_finished.set(self.hashes_finished.get() + 1);
        Ok(Sha256Digest::of(body))
    }
}

impl FakeS3 {
    async fn fake_send(
        &self,
        put: &PartPut<'_, Vec<u8>>,
        progress: &dyn Fn(u64),
    ) -> Result<String, Error> {
        let (url, part, body, checksum) = (put.url, put.part_number, put.body, put.checksum_sha256);
        let mut fields = url.splitn(4, '/');
        let (upload_id, number, signing, signed) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        assert_eq!(number.parse::<u32>().unwrap(), part);
        assert_eq!(upload_id, put.upload_id);
        assert_eq!(
            checksum.unwrap_or("-"),
            signed,
            "the header is the signed one"
        );
        self.puts.borrow_mut().push(part);
        let age = self.clock.get() - self.signed_at.borrow()[signing.parse::<usize>().unwrap()];
        if self
            .url_lifetime_ms
            .get()
            .is_some_and(|lifetime| age > lifetime)
        {
            self.expired_puts.set(self.expired_puts.get() + 1);
            return Err(expired(Operation::UploadPart, Some(upload_id)));
        }
        if self.signed_before_first_put.get().is_none() {
            self.signed_before_first_put.set(Some(self.signed.get()));
        }
        self.in_flight.set(self.in_flight.get() + 1);
        self.max_in_flight
            .set(self.max_in_flight.get().max(self.in_flight.get()));
        yield_now().await;
        let unseen = self.gone_unseen.borrow().iter().any(|id| id == upload_id);
        let fault = match unseen {
            true => Some(Fault::GoneUnseen),
            false => self
                .faults
                .borrow_mut()
                .get_mut(&part)
                .and_then(|f| f.pop_front()),
        };
        let fault = match fault {
            Some(Fault::StoredButLostWithList) => {
                self.lists_lost.set(self.lists_lost.get() + 1);
                Some(Fault::StoredButLost)
            }
            other => other,
        };
        let result = match fault {
            Some(Fault::Status(s)) => Err(http(Operation::UploadPart, s)),
            Some(Fault::Network) => Err(ErrorKind::Network {
                operation: Operation::UploadPart,
                detail: "connection reset".into(),
            }
            .into()),
            Some(Fault::SlowDown(ms)) => Err(slow_down(Operation::UploadPart, Some(upload_id), ms)),
            Some(Fault::NetworkAfter(bytes)) => {
                progress(bytes);
                Err(ErrorKind::Network {
                    operation: Operation::UploadPart,
                    detail: "connection reset midway".into(),
                }
                .into())
            }
            Some(Fault::Hang) => std::future::pending().await,
            Some(Fault::Gone) => {
                self.uploads.borrow_mut().remove(upload_id);
                Err(no_such_upload(upload_id))
            }
            Some(Fault::CompletedElsewhere) => {
                self.uploads.borrow_mut().remove(upload_id);
                self.complete_elsewhere(upload_id);
                Err(no_such_upload(upload_id))
            }
            Some(Fault::Unreadable) => {
                self.file_unreadable.set(true);
                Err(ErrorKind::Network {
                    operation: Operation::UploadPart,
                    detail: "net::ERR_UPLOAD_FILE_CHANGED".into(),
                }
                .into())
            }
            Some(Fault::GoneUnseen) => {
                self.uploads.borrow_mut().remove(upload_id);
                self.gone_unseen.borrow_mut().push(upload_id.to_string());
                Err(ErrorKind::Network {
                    operation: Operation::UploadPart,
                    detail: "connection reset".into(),
                }
                .into())
            }
            Some(Fault::CutOffResend) => {
                self.poisoned.borrow_mut().push(part);
                std::future::pending().await
            }
            Some(Fault::CutOffResendFailed) => {
                self.poisoned.borrow_mut().push(part);
                Err(ErrorKind::Network {
                    operation: Operation::UploadPart,
                    detail: "connection reset".into(),
                }
                .into())
            }
            Some(Fault::StoredButLost | Fault::StoredButLostWithList | Fault::Corrupt) | None => {
                let mut bytes = body.clone();
                if matches!(fault, Some(Fault::Corrupt)) {
                    let middle = bytes.len() / 2;
                    bytes[middle] ^= 0xff;
                }
                progress(bytes.len() as u64 / 2);
                yield_now().await;
                progress(bytes.len() as u64);
                let etag = format!("\"{upload_id}-{part}-{}\"", bytes.len());
                let stored_checksum = checksum.map(|_| Sha256Digest::of(&bytes).to_base64());
                let mut uploads = self.uploads.borrow_mut();
                let upload = uploads.get_mut(upload_id);
                if stored_checksum.is_some() && stored_checksum.as_deref() != checksum {
                    // As Garage does: the bytes do not match the signed checksum.
                    drop(uploads);
                    self.in_flight.set(self.in_flight.get() - 1);
                    let body = "<Error><Code>InvalidDigest</Code></Error>";
                    return Err(answer(
                        Operation::UploadPart,
                        Some(upload_id),
                        400,
                        body,
                        None,
                    ));
                }
                self.poisoned.borrow_mut().retain(|&p| p != part);
                match upload.map(|u| &mut u.parts) {
                    Some(parts) if fault.is_some() => {
                        parts.insert(part, (bytes, etag, stored_checksum));
                        Err(ErrorKind::Network {
                            operation: Operation::UploadPart,
                            detail: "the answer was lost".into(),
                        }
                        .into())
                    }
                    Some(parts) => {
                        parts.insert(part, (bytes, etag.clone(), stored_checksum));
                        Ok(etag)
                    }
                    None => Err(no_such_upload(upload_id)),
                }
            }
        };
        self.in_flight.set(self.in_flight.get() - 1);
        result
    }
}

impl Backend for FakeS3 {
    fn create<'a>(&'a self, upload: NewUpload<'a>) -> PortFuture<'a, Created> {
        Box::pin(self.fake_create(upload))
    }
    fn sign_part<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
        part: u32,
        checksum: Option<&'a str>,
    ) -> PortFuture<'a, String> {
        Box::pin(self.fake_sign_part(upload_id, key, part, checksum))
    }
    fn list_parts<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
    ) -> PortFuture<'a, Vec<ServerPart>> {
        Box::pin(self.fake_list_parts(upload_id, key))
    }
    fn complete<'a>(
        &'a self,
        upload_id: &'a str,
        key: &'a str,
        parts: &'a [CompletedPart],
    ) -> PortFuture<'a, CompleteAnswer> {
        Box::pin(self.fake_complete(upload_id, key, parts))
    }
    fn abort<'a>(&'a self, upload_id: &'a str, key: &'a str) -> PortFuture<'a, ()> {
        Box::pin(self.fake_abort(upload_id, key))
    }
    fn completed<'a>(
        &'a self,
        upload_id: &'a str,
        _key: &'a str,
    ) -> PortFuture<'a, CompleteAnswer> {
        Box::pin(async move {
            self.completed_asked.set(self.completed_asked.get() + 1);
            let known = self.completed.borrow().get(upload_id).cloned();
            // The dev server answers it; a plain Companion has no such route.
            known.filter(|_| self.tells_completed.get()).ok_or(
                ErrorKind::NoSuchUpload {
                    upload_id: upload_id.into(),
                }
                .into(),
            )
        })
    }
}

impl SingleSigner for FakeS3 {
    fn sign_single<'a>(&'a self, file: NewSingle<'a>) -> PortFuture<'a, SignedSingle> {
        Box::pin(self.fake_sign_single(file))
    }
}

impl PartSource<Vec<u8>> for FakeS3 {
    fn body(&self, range: Range<u64>) -> PortFuture<'_, Vec<u8>> {
        Box::pin(self.fake_body(range))
    }
    fn sha256<'a>(&'a self, body: &'a Vec<u8>) -> PortFuture<'a, Sha256Digest> {
        Box::pin(self.fake_sha256(body))
    }
    fn readable<'a>(&'a self, _body: &'a Vec<u8>) -> PortFuture<'a, ()> {
        let unreadable = self.file_unreadable.get().then(|| {
            ErrorKind::ReadFailed {
                detail: "NotReadableError: the file changed".into(),
            }
            .into()
        });
        Box::pin(std::future::ready(unreadable.map_or(Ok(()), Err)))
    }
}

impl PartSender<Vec<u8>> for FakeS3 {
    fn send<'a>(
        &'a self,
        put: &'a PartPut<'a, Vec<u8>>,
        progress: &'a dyn Fn(u64),
    ) -> PortFuture<'a, String> {
        Box::pin(self.fake_send(put, progress))
    }
}

impl WholeSender<Vec<u8>> for FakeS3 {
    fn send_whole<'a>(
        &'a self,
        signed: &'a SignedSingle,
        body: &'a Vec<u8>,
        progress: &'a dyn Fn(u64),
    ) -> PortFuture<'a, ()> {
        Box::pin(self.fake_send_whole(signed, body, progress))
    }
}

/// Single-request uploads: signed like the dev server's `/params` (a `PUT`
/// whose checksum header is signed), or like Companion's (a `POST` form
/// with no checksum) when `no_checksums` is set.
impl FakeS3 {
    async fn fake_sign_single(&self, file: NewSingle<'_>) -> Result<SignedSingle, Error> {
        self.singles_signed.set(self.singles_signed.get() + 1);
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        // As the dev server: the path's folders, then the file's name.
        let folders = file.relative_path.and_then(|p| p.rsplit_once('/'));
        let folder = folders.map_or(String::new(), |(dirs, _)| format!("{dirs}/"));
        let key = format!("uploads/{n}/{folder}{}", file.file_name);
        let companion = self.no_checksums.get();
        let checksum = file.checksum_sha256.filter(|_| !companion);
        let headers = checksum.map(|c| ("x-amz-checksum-sha256".to_owned(), c.to_owned()));
        // The URL names its signing, whose time is kept (as a part's does).
        let signing = self.signed_at.borrow().len();
        self.signed_at.borrow_mut().push(self.clock.get());
        Ok(SignedSingle {
            method: if companion {
                SingleMethod::Post
            } else {
                SingleMethod::Put
            },
            url: format!("single/{key}?signing={signing}"),
            headers: headers.into_iter().collect(),
            fields: vec![("key".into(), key.clone())],
            key,
            checksum_signed: checksum.is_some(),
            expires_secs: self
                .url_lifetime_ms
                .get()
                .filter(|_| self.tells_lifetime.get())
                .map(|ms| (ms / 1000.0) as u32),
        })
    }

    async fn fake_send_whole(
        &self,
        signed: &SignedSingle,
        body: &[u8],
        progress: &dyn Fn(u64),
    ) -> Result<(), Error> {
        self.puts.borrow_mut().push(0);
        yield_now().await;
        if self.single_url_expired(&signed.url) {
            self.expired_puts.set(self.expired_puts.get() + 1);
            return Err(expired(Operation::UploadFile, None));
        }
        let fault = self
            .faults
            .borrow_mut()
            .get_mut(&0)
            .and_then(|f| f.pop_front());
        match fault {
            Some(Fault::Status(status)) => return Err(http(Operation::UploadFile, status)),
            Some(Fault::SlowDown(ms)) => return Err(slow_down(Operation::UploadFile, None, ms)),
            Some(Fault::Hang) => std::future::pending().await,
            Some(Fault::Unreadable) => {
                self.file_unreadable.set(true);
                return Err(ErrorKind::Network {
                    operation: Operation::UploadFile,
                    detail: "net::ERR_UPLOAD_FILE_CHANGED".into(),
                }
                .into());
            }
            _ => {}
        }
        let signed_checksum = signed
            .headers
            .iter()
            .find(|(n, _)| n == "x-amz-checksum-sha256");
        if let Some((_, checksum)) = signed_checksum {
            assert_eq!(
                checksum,
                &Sha256Digest::of(body).to_base64(),
                "the store checks it"
            );
        }
        progress(body.len() as u64);
        self.objects
            .borrow_mut()
            .insert(signed.key.clone(), body.to_vec());
        match fault {
            // Stored, but the answer never comes back.
            Some(Fault::StoredButLost) => Err(ErrorKind::Network {
                operation: Operation::UploadFile,
                detail: "connection reset after the body".into(),
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// Whether a whole file's presigned `url` is older than
    /// `url_lifetime_ms`.
    fn single_url_expired(&self, url: &str) -> bool {
        let (_, signing) = url.rsplit_once("?signing=").unwrap();
        let signed_at = self.signed_at.borrow()[signing.parse::<usize>().unwrap()];
        let age = self.clock.get() - signed_at;
        self.url_lifetime_ms
            .get()
            .is_some_and(|lifetime| age > lifetime)
    }
}

/// S3's refusal of a presigned URL past its expiry.
fn expired(operation: Operation, upload_id: Option<&str>) -> Error {
    let body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
    answer(operation, upload_id, 403, body, None)
}

/// S3's 429 `SlowDown`, asking for a wait of `ms`.
fn slow_down(operation: Operation, upload_id: Option<&str>, ms: u32) -> Error {
    let seconds = format!("{}", f64::from(ms) / 1000.0);
    let body = "<Error><Code>SlowDown</Code></Error>";
    answer(operation, upload_id, 429, body, Some(&seconds))
}

/// The store's answer to a part of an upload it does not know.
fn no_such_upload(upload_id: &str) -> Error {
    let body = "<Error><Code>NoSuchUpload</Code></Error>";
    answer(Operation::UploadPart, Some(upload_id), 404, body, None)
}

#[derive(Default)]
struct FakeTimer {
    sleeps: RefCell<Vec<u32>>,
    online_waits: Cell<u32>,
    /// How far each reading of the clock moves it (0: time stands still).
    tick_ms: Cell<f64>,
    clock_ms: Rc<Cell<f64>>,
    /// Whether a sleep moves the clock by its length when it ends, other
    /// tasks running meanwhile (else it takes no time).
    sleeps_pass: Cell<bool>,
}

impl Timer for FakeTimer {
    fn now_ms(&self) -> f64 {
        self.clock_ms.set(self.clock_ms.get() + self.tick_ms.get());
        1_700_000_000_000.0 + self.clock_ms.get()
    }
    fn sleep(&self, ms: u32) -> Wait<'_> {
        self.sleeps.borrow_mut().push(ms);
        let passes = self.sleeps_pass.get();
        Box::pin(async move {
            if passes {
                // Other tasks run meanwhile, as they do during a real wait.
                for _ in 0..3 {
                    yield_now().await;
                }
                self.clock_ms.set(self.clock_ms.get() + f64::from(ms));
            }
        })
    }
    fn until_online(&self) -> Wait<'_> {
        self.online_waits.set(self.online_waits.get() + 1);
        Box::pin(async {})
    }
}

#[derive(Default)]
struct Log {
    progress: RefCell<Vec<Progress>>,
    parts: RefCell<Vec<PartCompleted>>,
    resumed: RefCell<Vec<Resumed>>,
    restarted: RefCell<Vec<RestartReason>>,
    /// How many progress reports came before each restart.
    progress_at_restart: RefCell<Vec<usize>>,
    expiring: RefCell<Vec<ExpiringSoon>>,
    warnings: RefCell<Vec<Warning>>,
    bookkeeping: RefCell<Vec<u32>>,
    link: RefCell<Vec<f64>>,
    /// How many times the run said the store holds the object.
    stored: Cell<u32>,
    /// The key it named then, the last time.
    stored_key: RefCell<String>,
}

impl Events for Log {
    fn progress(&self, p: Progress) {
        self.progress.borrow_mut().push(p);
    }
    fn part_completed(&self, p: PartCompleted) {
        self.parts.borrow_mut().push(p);
    }
    fn resumed(&self, r: Resumed) {
        self.resumed.borrow_mut().push(r);
    }
    fn restarted(&self, r: RestartReason) {
        self.restarted.borrow_mut().push(r);
        let reports = self.progress.borrow().len();
        self.progress_at_restart.borrow_mut().push(reports);
    }
    fn expiring_soon(&self, e: ExpiringSoon) {
        self.expiring.borrow_mut().push(e);
    }
    fn warning(&self, w: Warning) {
        self.warnings.borrow_mut().push(w);
    }
    fn part_bookkeeping(&self, b: PartBookkeeping) {
        assert!(b.state_writes_ms >= 0.0 && b.blocking_ms >= 0.0);
        self.bookkeeping.borrow_mut().push(b.part_number);
    }
    fn link_measured(&self, bytes_per_second: f64) {
        self.link.borrow_mut().push(bytes_per_second);
    }
    fn object_stored(&self, key: &str) {
        self.stored.set(self.stored.get() + 1);
        *self.stored_key.borrow_mut() = key.to_owned();
    }
}

struct World {
    s3: FakeS3,
    store: MemoryStore,
    /// The records runs of other tabs hold (the browser's Web Locks).
    other_tabs: MemoryClaims,
    timer: FakeTimer,
    log: Log,
    options: UploadOptions,
    file: FileInfo,
}

impl World {
    fn new(size: usize) -> Self {
        let mut options = UploadOptions::new("/api/s3");
        options.part_size = 5 * MIB;
        options.concurrency = 2;
        let timer = FakeTimer::default();
        World {
            s3: FakeS3 {
                clock: Rc::clone(&timer.clock_ms),
                ..FakeS3::new(size)
            },
            store: MemoryStore::new(),
            other_tabs: MemoryClaims::default(),
            timer,
            log: Log::default(),
            options,
            file: FileInfo {
                identity: FileIdentity {
                    name: "movie.mp4".into(),
                    size: size as u64,
                    last_modified: 1234.0,
                    source_id: None,
                    relative_path: None,
                    content_sample: None,
                },
                file_type: "video/mp4".into(),
                sample_sha256: Some("sample-a".into()),
            },
        }
    }

    fn driver(&self) -> Driver<'_, Vec<u8>> {
        Driver {
            backend: &self.s3,
            source: &self.s3,
            sender: &self.s3,
            store: &self.store,
            claims: &self.other_tabs,
            timer: &self.timer,
            events: &self.log,
            options: &self.options,
            budget: None,
        }
    }

    fn run(&self) -> Result<Box<resupload::Completed>, Error> {
        block_on(self.driver().run(&self.file))
    }

    /// The fake's single-request signing and sending.
    fn whole(&self) -> WholePorts<'_, Vec<u8>> {
        WholePorts {
            signer: &self.s3,
            sender: &self.s3,
        }
    }

    fn object(&self, key: &str) -> Vec<u8> {
        self.s3
            .objects
            .borrow()
            .get(key)
            .cloned()
            .expect("object stored")
    }

    fn records(&self) -> Vec<resupload::core::record::UploadRecord> {
        block_on(self.store.list()).unwrap()
    }

    /// What `listPending` lists: every stored upload, none past expiry.
    fn listed(&self) -> Vec<resupload::core::record::PendingUpload> {
        let lookup = resupload::pending::Lookup::everything();
        let listed = resupload::pending::list(&self.store, &self.other_tabs, 0.0, &lookup);
        block_on(listed).unwrap()
    }

    /// What `clearPending` does: forgets every stored upload no run
    /// holds, aborting it; answers how many.
    fn clear(&self) -> u32 {
        self.clear_under(&self.other_tabs)
    }

    /// [`clear`](Self::clear) with `claims` in place of the other tabs'.
    fn clear_under(&self, claims: &impl Claiming) -> u32 {
        self.try_clear_under(claims).unwrap()
    }

    /// What `clearPending` resolves to, or rejects with.
    fn try_clear_under(&self, claims: &impl Claiming) -> Result<u32, Error> {
        let lookup = resupload::pending::Lookup::everything();
        let retry = resupload::core::retry::RetryPolicy::default();
        let cleared = resupload::pending::clear(
            &self.store,
            &lookup,
            claims,
            &self.timer,
            &retry,
            |_: &str| &self.s3 as &dyn Backend,
        );
        block_on(cleared)
    }

    /// Runs until `polls` polls have passed, then drops the run (as pause()
    /// does in the browser).
    fn run_and_drop_after(&self, polls: usize) {
        let driver = self.driver();
        let mut run = Box::pin(driver.run(&self.file));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..polls {
            if run.as_mut().poll(&mut cx).is_ready() {
                panic!("the run finished before it was dropped");
            }
        }
    }
}

const SIZE: usize = 5 * MIB as usize * 3 + 12345;

/// A world whose first run stopped (dropped, as by a reload) with parts 1
/// and 2 stored and part 3 in flight.
fn interrupted() -> World {
    let w = World::new(SIZE);
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    w
}

#[test]
fn fresh_upload_stores_the_exact_bytes_and_forgets_its_record() {
    let w = World::new(SIZE);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(w.s3.puts(), [1, 2, 3, 4]);
    assert!(
        w.records().is_empty(),
        "the record is deleted after completion"
    );
    assert_eq!(done.location, format!("http://store/{}", done.key));
    let parts = w.log.parts.borrow();
    assert_eq!(parts.len(), 4);
    let mut timed = w.log.bookkeeping.borrow().clone();
    timed.sort();
    assert_eq!(
        timed,
        [1, 2, 3, 4],
        "each confirmed part's bookkeeping is timed"
    );
    assert_eq!(parts.iter().map(|p| p.size).sum::<u64>(), SIZE as u64);
}

/// A record store over `inner` (a `MemoryStore`, borrowed or shared)
/// whose saves fail while `save_fails()` says so, and which calls
/// `before_remove` before each removal.
struct HookedStore<'h, S> {
    inner: S,
    save_fails: Box<dyn Fn() -> bool + 'h>,
    before_remove: Box<dyn Fn() + 'h>,
}

impl<S: std::ops::Deref<Target = MemoryStore>> RecordStore for HookedStore<'_, S> {
    fn load<'a>(
        &'a self,
        id: &'a str,
    ) -> PortFuture<'a, Option<resupload::core::record::UploadRecord>> {
        self.inner.load(id)
    }
    fn save<'a>(&'a self, record: &'a resupload::core::record::UploadRecord) -> PortFuture<'a, ()> {
        if (self.save_fails)() {
            return Box::pin(std::future::ready(Err(ErrorKind::Storage {
                failure: resupload::error::StorageFailure::Full,
                detail: "QuotaExceededError".into(),
            }
            .into())));
        }
        self.inner.save(record)
    }
    fn remove<'a>(&'a self, id: &'a str) -> PortFuture<'a, ()> {
        (self.before_remove)();
        self.inner.remove(id)
    }
    fn list(&self) -> PortFuture<'_, Vec<resupload::core::record::UploadRecord>> {
        self.inner.list()
    }
}

#[test]
fn the_run_says_the_object_is_stored_before_it_removes_the_record() {
    // A pause during the removal must let the run end: dropped there, it
    // would report PAUSED for an object the store holds, and the next
    // start() (finding no record) would upload the file again.
    let w = World::new(SIZE);
    let removed_after_stored = RefCell::new(Vec::new());
    let store = HookedStore {
        inner: &w.store,
        save_fails: Box::new(|| false),
        before_remove: Box::new(|| {
            removed_after_stored
                .borrow_mut()
                .push(w.log.stored.get() > 0)
        }),
    };
    let driver = Driver {
        store: &store,
        ..w.driver()
    };
    let done = block_on(driver.run(&w.file)).unwrap();
    assert_eq!(w.log.stored.get(), 1);
    assert_eq!(*w.log.stored_key.borrow(), done.key, "it names the object");
    assert_eq!(*removed_after_stored.borrow(), [true]);
}

#[test]
fn progress_is_monotonic_and_ends_at_the_total() {
    let w = World::new(SIZE);
    w.run().unwrap();
    let progress = w.log.progress.borrow();
    assert!(progress.len() > 4);
    for pair in progress.windows(2) {
        assert!(pair[1].sent_bytes >= pair[0].sent_bytes, "{pair:?}");
        assert!(
            pair[1].confirmed_bytes >= pair[0].confirmed_bytes,
            "{pair:?}"
        );
    }
    for p in progress.iter() {
        assert!(p.confirmed_bytes <= p.sent_bytes && p.sent_bytes <= p.total_bytes);
    }
    let last = progress.last().unwrap();
    assert_eq!(
        (last.sent_bytes, last.confirmed_bytes),
        (SIZE as u64, SIZE as u64)
    );
}

#[test]
fn a_part_the_browser_cannot_read_fails_with_read_failed_not_retried() {
    // With checksums off no part is read before it is sent: a file changed
    // since it was picked shows as the part's network error.
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::Unreadable]);
    let failed = w.run().unwrap_err();
    assert_eq!(failed.code(), "READ_FAILED", "{failed:?}");
    assert_eq!(
        w.s3.puts().iter().filter(|&&p| p == 2).count(),
        1,
        "not retried"
    );
    assert_eq!(w.records().len(), 1, "the record is kept");
}

#[test]
fn progress_starts_from_zero_again_only_after_a_restart() {
    // The store forgets the upload at part 3: the parts it had are gone,
    // and the run starts afresh, after telling the page so.
    let w = World::new(SIZE);
    w.s3.fail(3, &[Fault::Gone]);
    w.run().unwrap();
    let progress = w.log.progress.borrow();
    let at_restart = w.log.progress_at_restart.borrow();
    assert_eq!(at_restart.len(), 1);
    let (before, after) = progress.split_at(at_restart[0]);
    assert!(before.last().unwrap().sent_bytes > 0);
    assert_eq!(after[0].sent_bytes, 0, "afresh, after onRestart");
    for run in [before, after] {
        for pair in run.windows(2) {
            assert!(pair[1].sent_bytes >= pair[0].sent_bytes, "{pair:?}");
            assert!(
                pair[1].confirmed_bytes >= pair[0].confirmed_bytes,
                "{pair:?}"
            );
        }
    }
}

#[test]
fn the_parts_in_flight_grow_only_while_the_rate_rises() {
    // A clock that moves with the driver's work (100 ms a reading, so that
    // rounds outlast the shortest one measured): more parts in flight are
    // confirmed in fewer clock readings, so the rate rises with them (the
    // rounds' arithmetic is the core's test; this is the driver's wiring).
    let mut w = World::new(5 * MIB as usize * 24);
    w.timer.tick_ms.set(100.0);
    w.options.max_concurrency = 8;
    let done = w.run().unwrap();
    let most = w.s3.max_in_flight.get();
    assert!(
        (3..=8).contains(&most),
        "grown from 2, within the max: {most}"
    );
    assert_eq!(w.object(&done.key), w.s3.file());
    let mut w = World::new(5 * MIB as usize * 24);
    w.timer.tick_ms.set(100.0);
    w.options.max_concurrency = 2;
    w.run().unwrap();
    assert_eq!(w.s3.max_in_flight.get(), 2, "an explicit count is kept");
}

/// The most parts in flight of a 24-part upload under a queue's `budget`
/// (the clock moving 100 ms a reading, as above); the object is checked.
fn most_in_flight_under(budget: &RampedSlots) -> usize {
    let mut w = World::new(5 * MIB as usize * 24);
    w.timer.tick_ms.set(100.0);
    w.options.max_concurrency = 8;
    let driver = Driver {
        budget: Some(budget),
        ..w.driver()
    };
    let done = block_on(driver.run(&w.file)).unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    w.s3.max_in_flight.get()
}

#[test]
fn a_queue_budget_grows_from_the_rate_and_bounds_the_parts() {
    // In a queue, the budget shared by its files (not the file's own
    // count) decides the parts in flight, and grows from the rate measured.
    let most = most_in_flight_under(&RampedSlots::new(2, 8));
    assert!((3..=8).contains(&most), "grown from 2: {most}");
    // A budget of a given count (`concurrency` set) keeps it.
    assert_eq!(most_in_flight_under(&RampedSlots::new(2, 2)), 2);
}

#[test]
fn a_whole_file_request_feeds_the_queue_budget() {
    let w = World::new(1024);
    w.timer.tick_ms.set(100.0);
    let budget = RampedSlots::new(1, 4);
    let driver = Driver {
        budget: Some(&budget),
        ..w.driver()
    };
    // The first request begins a round; the first round measured (once it
    // lasts long enough) grows the budget.
    let mut seen = Vec::new();
    for _ in 0..8 {
        block_on(driver.put_whole(&w.file, &w.whole())).unwrap();
        seen.push(budget.in_flight());
    }
    assert_eq!(seen[0], 1);
    assert!(seen.contains(&2), "{seen:?}");
}

#[test]
fn a_whole_file_that_waited_long_for_its_slot_is_signed_again() {
    let w = World::new(1024);
    let budget = RampedSlots::new(1, 1);
    let driver = Driver {
        budget: Some(&budget),
        ..w.driver()
    };
    // Another request holds the only slot for 5 minutes.
    let held = block_on(budget.acquire());
    let whole = w.whole();
    let mut put = Box::pin(driver.put_whole(&w.file, &whole));
    let waker = futures::task::noop_waker();
    for _ in 0..10 {
        assert!(put
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_pending());
    }
    assert_eq!(
        w.s3.singles_signed.get(),
        1,
        "signed ahead, waiting for a slot"
    );
    w.timer
        .clock_ms
        .set(w.timer.clock_ms.get() + 5.0 * 60_000.0);
    drop(held);
    let done = block_on(put).unwrap();
    assert_eq!(w.s3.singles_signed.get(), 2, "signed again after the wait");
    assert_eq!(w.object(&done.key), w.s3.file());
    // A short wait: the URL signed ahead is used.
    block_on(driver.put_whole(&w.file, &w.whole())).unwrap();
    assert_eq!(w.s3.singles_signed.get(), 3);
}

#[test]
fn an_upload_alone_notes_the_link_rate_once_it_sent_enough() {
    // 16 parts of 5 MiB (80 MiB, past the 64 MiB it takes to tell), the
    // clock moving 100 ms a reading.
    let w = World::new(5 * MIB as usize * 16);
    w.timer.tick_ms.set(100.0);
    w.run().unwrap();
    let noted = w.log.link.borrow().clone();
    assert_eq!(noted.len(), 1, "{noted:?}");
    assert!(noted[0].is_finite() && noted[0] > 0.0, "{noted:?}");
    // Too little sent to tell: nothing noted.
    let w = World::new(SIZE);
    w.run().unwrap();
    assert!(w.log.link.borrow().is_empty());
    // A queue's file shares the link with others: nothing noted.
    let w = World::new(5 * MIB as usize * 16);
    w.timer.tick_ms.set(100.0);
    let budget = RampedSlots::new(2, 2);
    let driver = Driver {
        budget: Some(&budget),
        ..w.driver()
    };
    block_on(driver.run(&w.file)).unwrap();
    assert!(w.log.link.borrow().is_empty());
}

#[test]
fn a_fresh_upload_on_a_fast_link_sends_bigger_parts() {
    let mut w = World::new(128 * MIB as usize);
    w.options.part_size = resupload::core::plan::DEFAULT_PART_SIZE;
    w.options = w
        .options
        .for_link(&w.file.identity, Some(resupload::core::part_size::FAST));
    let done = w.run().unwrap();
    let sizes: Vec<u64> = w.log.parts.borrow().iter().map(|p| p.size).collect();
    assert_eq!(sizes, vec![16 * MIB; 8], "8 parts of 16 MiB, not 16 of 8");
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn concurrency_bounds_the_parts_in_flight() {
    let mut w = World::new(5 * MIB as usize * 8);
    w.options.concurrency = 3;
    w.run().unwrap();
    assert_eq!(w.s3.max_in_flight.get(), 3);
    let mut w = World::new(5 * MIB as usize * 8);
    w.options.concurrency = 1;
    w.run().unwrap();
    assert_eq!(w.s3.max_in_flight.get(), 1);
}

#[test]
fn the_first_part_starts_beside_only_the_parts_in_flight() {
    // Workers beyond the parts in flight sign ahead, but only once the
    // first part is on its way: its start is not shared with them.
    let mut w = World::new(5 * MIB as usize * 8);
    w.options.concurrency = 2;
    w.s3.slow_signing.set(true);
    w.run().unwrap();
    // Part 1, hashed while the upload was created, goes once its own URL
    // is signed: before part 2's, and the workers ahead wait in any case.
    assert_eq!(w.s3.signed_before_first_put.get(), Some(1));
    assert_eq!(w.s3.signed.get(), 8, "each part signed once");
    assert_eq!(w.s3.max_in_flight.get(), 2);
}

#[test]
fn a_first_part_that_cannot_be_read_ends_the_run() {
    // It fails before its request: the workers waiting for the first part
    // to go out start once it ends, and find the run stopping.
    let mut w = World::new(5 * MIB as usize * 8);
    w.options.concurrency = 1;
    w.s3.unreadable_start.set(true);
    let err = w.run().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ReadFailed { .. }), "{err}");
    assert!(w.s3.puts.borrow().is_empty());
}

#[test]
fn retryable_failures_follow_the_delays() {
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::Status(503), Fault::Network, Fault::Status(429)]);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    // Part 2's three retry delays, then the 1 s hold the 429 put on the
    // requests after it (part 2's retry, and parts 3 and 4 if they had not
    // started yet: that depends on how the parts interleave).
    let sleeps = w.timer.sleeps.borrow();
    assert_eq!(sleeps[..3], [0, 1000, 3000]);
    assert!(
        !sleeps[3..].is_empty() && sleeps[3..].iter().all(|&ms| ms == 1000),
        "{sleeps:?}"
    );
    assert_eq!(w.s3.puts(), [1, 2, 2, 2, 2, 3, 4]);
}

#[test]
fn a_part_that_keeps_failing_fails_the_upload_but_keeps_the_others() {
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::Status(500); 5]);
    let err = w.run().unwrap_err();
    assert_eq!(err.status(), Some(500));
    let record = &w.records()[0];
    let states: Vec<_> = record.parts.iter().map(|p| p.state).collect();
    // Part 2 gave up; the parts sent beside it while it was retrying are
    // recorded as done.
    assert_eq!(states[0], PartState::Done);
    assert_eq!(states[2], PartState::Done);
    assert_ne!(states[1], PartState::Done);
    let missing: Vec<u32> = record
        .parts
        .iter()
        .filter(|p| p.state != PartState::Done)
        .map(|p| p.number)
        .collect();
    // The next run sends only what is missing.
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(w.s3.puts(), missing);
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_part_that_keeps_getting_further_keeps_its_retry_budget() {
    let w = World::new(SIZE);
    let faults: Vec<Fault> = (1..=8).map(|k| Fault::NetworkAfter(k * 1000)).collect();
    w.s3.fail(2, &faults);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(w.s3.puts().iter().filter(|&&p| p == 2).count(), 9);
}

#[test]
fn a_part_stuck_at_the_same_point_runs_out_of_retries() {
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::NetworkAfter(1000); 8]);
    let err = w.run().unwrap_err();
    assert_eq!(err.code(), "NETWORK");
    // Only the first attempt got further than the one before it: after it,
    // the four configured retries, then the upload gives up.
    assert_eq!(w.s3.puts().iter().filter(|&&p| p == 2).count(), 5);
}

#[test]
fn a_429_holds_every_part_for_its_retry_after() {
    let mut w = World::new(5 * MIB as usize * 6);
    w.options.concurrency = 3;
    w.s3.fail(1, &[Fault::SlowDown(7000)]);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    let holds = w
        .timer
        .sleeps
        .borrow()
        .iter()
        .filter(|&&ms| ms == 7000)
        .count();
    // Part 1's own retry, and the parts that started after the 429.
    assert!(
        holds >= 3,
        "only {holds} waits of 7 s: {:?}",
        w.timer.sleeps.borrow()
    );
}

#[test]
fn a_url_signed_before_a_long_429_hold_is_signed_again_after_it() {
    // Parts already on their way to a PUT wait out the hold there: a URL
    // signed before it may have expired by its end.
    let mut w = World::new(5 * MIB as usize * 6);
    w.options.concurrency = 3;
    w.timer.sleeps_pass.set(true);
    w.s3.url_lifetime_ms.set(Some(5.0 * 60_000.0));
    w.s3.fail(3, &[Fault::SlowDown(400_000)]);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert!(
        w.timer.sleeps.borrow().contains(&400_000),
        "the hold was kept"
    );
    assert_eq!(w.s3.expired_puts.get(), 0, "a PUT with an expired URL");
}

#[test]
fn network_errors_wait_for_the_network_before_retrying() {
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::Network, Fault::Network]);
    w.s3.fail(3, &[Fault::Status(503)]);
    w.run().unwrap();
    assert_eq!(
        w.timer.online_waits.get(),
        2,
        "once per network error, not for a 503"
    );
}

#[test]
fn client_errors_are_not_retried() {
    let w = World::new(SIZE);
    w.s3.fail(1, &[Fault::Status(403)]);
    let err = w.run().unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(w.timer.sleeps.borrow().is_empty());
    assert_eq!(w.s3.puts().iter().filter(|&&p| p == 1).count(), 1);
}

#[test]
fn a_dropped_run_resumes_sending_only_what_the_server_lacks() {
    let w = World::new(SIZE);
    w.s3.fail(3, &[Fault::Hang]);
    w.s3.fail(4, &[Fault::Hang]);
    w.run_and_drop_after(200);
    let record = &w.records()[0];
    let states: Vec<_> = record.parts.iter().map(|p| p.state).collect();
    assert_eq!(
        states,
        [
            PartState::Done,
            PartState::Done,
            PartState::InFlight,
            PartState::InFlight
        ],
        "the record says which parts were started"
    );
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(w.s3.puts(), [3, 4], "parts 1 and 2 are not sent again");
    assert_eq!(w.object(&done.key), w.s3.file());
    let resumed = w.log.resumed.borrow();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].skipped_parts, 2);
    assert_eq!(resumed[0].skipped_bytes, 10 * MIB);
}

#[test]
fn the_server_list_wins_over_the_record() {
    let w = World::new(SIZE);
    w.s3.fail(3, &[Fault::Hang]);
    w.s3.fail(4, &[Fault::Hang]);
    w.run_and_drop_after(200);
    // The server lost part 1 (the record says done) and holds part 3 (the
    // record says in flight).
    {
        let mut uploads = w.s3.uploads.borrow_mut();
        let parts = &mut uploads.values_mut().next().unwrap().parts;
        parts.remove(&1);
        let r = 2 * 5 * MIB as usize..3 * 5 * MIB as usize;
        let bytes = w.s3.file()[r].to_vec();
        let checksum = Some(Sha256Digest::of(&bytes).to_base64());
        parts.insert(3, (bytes, "\"server-3\"".into(), checksum));
    }
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(w.s3.puts(), [1, 4]);
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_resume_signs_its_first_missing_part_while_the_list_is_on_its_way() {
    let w = interrupted();
    w.s3.slow_listing.set(true);
    w.s3.signed_parts.borrow_mut().clear();
    w.s3.hashed.borrow_mut().clear();
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    // The first run got parts 1, 2 and 4 stored; part 3 hung.
    assert_eq!(w.s3.puts(), [3]);
    assert_eq!(
        w.s3.signed_while_listing.borrow().as_deref(),
        Some(&[3][..]),
        "part 3 was signed before the list answered"
    );
    assert_eq!(*w.s3.signed_parts.borrow(), [3], "and not signed again");
    // Parts 1, 2 and 4 verified, part 3 hashed once to be sent.
    assert_eq!(w.s3.hashed.borrow().len(), 4);
}

#[test]
fn a_head_start_for_a_part_the_server_holds_is_never_sent() {
    let w = World::new(SIZE);
    // Part 2 is stored but its answer is lost, the part list that would
    // show it fails, and its retry hangs until the run is dropped: the
    // record says part 2 is in flight.
    w.s3.fail(2, &[Fault::StoredButLost, Fault::Hang]);
    w.s3.fail(3, &[Fault::Hang]);
    w.s3.list_unreadable.set(true);
    w.run_and_drop_after(200);
    w.s3.list_unreadable.set(false);
    let states: Vec<_> = w.records()[0].parts.iter().map(|p| p.state).collect();
    assert_eq!(states[1], PartState::InFlight);
    w.s3.signed_parts.borrow_mut().clear();
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(w.s3.puts(), [3, 4], "part 2 is not sent again");
    let mut signed = w.s3.signed_parts.borrow().clone();
    signed.sort();
    assert_eq!(signed, [2, 3, 4], "part 2 was signed ahead of the list");
}

/// Part 2 is stored, but its answer is lost on the way back: the part
/// list asked after the network error shows it, and it is not sent again.
fn assert_stored_part_with_a_lost_answer_is_not_sent_again(checksum: ChecksumMode) {
    let mut w = World::new(SIZE);
    w.options.checksum = checksum;
    w.s3.fail(2, &[Fault::StoredButLost]);
    let done = w.run().unwrap();
    assert_eq!(w.s3.puts(), [1, 2, 3, 4], "each part sent once");
    assert_eq!(
        w.s3.list_calls.get(),
        1,
        "one part list, after the lost answer"
    );
    assert_eq!(w.object(&done.key), w.s3.file());
    assert!(w.records().is_empty());
}

#[test]
fn a_stored_part_whose_answer_was_lost_is_not_sent_again() {
    assert_stored_part_with_a_lost_answer_is_not_sent_again(ChecksumMode::None);
}

#[test]
fn a_stored_part_whose_answer_was_lost_is_not_sent_again_its_checksum_matching() {
    assert_stored_part_with_a_lost_answer_is_not_sent_again(ChecksumMode::Sha256);
}

#[test]
fn a_part_lost_with_its_answer_is_sent_again() {
    // The connection breaks midway: the store holds nothing of part 2, and
    // the list says so.
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::NetworkAfter(1000)]);
    let done = w.run().unwrap();
    assert_eq!(w.s3.puts(), [1, 2, 2, 3, 4]);
    assert_eq!(w.object(&done.key), w.s3.file());
}

/// A run cut off by a reload after part 2 was stored but its answer lost,
/// the part list that would show it failed, and its retry was cut off
/// midway: the store lists part 2, but refuses it at completion.
fn cut_off_with_part_2_listed_but_refused() -> World {
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::StoredButLost, Fault::CutOffResend]);
    w.s3.fail(3, &[Fault::Hang]);
    w.s3.list_unreadable.set(true);
    w.run_and_drop_after(200);
    w.s3.list_unreadable.set(false);
    w
}

#[test]
fn a_part_refused_at_completion_is_sent_again() {
    let w = cut_off_with_part_2_listed_but_refused();
    assert_eq!(w.records()[0].parts[1].state, PartState::InFlight);
    assert_eq!(*w.s3.poisoned.borrow(), [2]);
    w.s3.puts.borrow_mut().clear();
    w.log.progress.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(
        w.s3.puts(),
        [2, 3, 4],
        "part 2 is sent again after InvalidPart"
    );
    assert_eq!(w.object(&done.key), w.s3.file());
    assert!(w.records().is_empty());
    // The resend after the refusal never takes progress back.
    for pair in w.log.progress.borrow().windows(2) {
        assert!(pair[1].sent_bytes >= pair[0].sent_bytes, "{pair:?}");
        assert!(
            pair[1].confirmed_bytes >= pair[0].confirmed_bytes,
            "{pair:?}"
        );
    }
}

/// Part 2 is stored but its answer is lost, the part list asked then is
/// lost too, and the resend is cut off midway: the list asked after that
/// shows the first copy, which is taken, and which the store then refuses
/// at completion. Part 2 alone is sent again, and the upload completes.
fn assert_a_taken_part_refused_at_completion_is_sent_again(w: &World) {
    w.s3.fail(
        2,
        &[Fault::StoredButLostWithList, Fault::CutOffResendFailed],
    );
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(
        w.s3.puts().iter().filter(|&&p| p == 2).count(),
        3,
        "part 2: the lost answer, the cut resend, once after the refusal: {:?}",
        w.s3.puts()
    );
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_part_taken_from_the_list_and_refused_at_completion_is_sent_again() {
    let w = World::new(SIZE);
    assert_a_taken_part_refused_at_completion_is_sent_again(&w);
    assert_eq!(
        w.s3.puts().len(),
        6,
        "no other part sent again: {:?}",
        w.s3.puts()
    );
}

#[test]
fn a_part_taken_from_the_list_in_a_resume_and_refused_is_sent_again() {
    // A resume, with part 3 held by the store unconfirmed here, and part 2
    // still to send.
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::Hang]);
    w.s3.fail(3, &[Fault::StoredButLost, Fault::Hang]);
    w.s3.list_unreadable.set(true);
    w.run_and_drop_after(200);
    w.s3.list_unreadable.set(false);
    assert_eq!(w.records()[0].parts[1].state, PartState::InFlight);
    assert_a_taken_part_refused_at_completion_is_sent_again(&w);
    assert_eq!(
        w.s3.puts(),
        [2, 2, 2, 3, 4],
        "part 3, unconfirmed, once after the refusal; part 4, not sent before, once"
    );
}

#[test]
fn a_refused_part_whose_resend_meets_a_network_error_is_not_taken_from_the_list() {
    let w = cut_off_with_part_2_listed_but_refused();
    // Its resend after the refusal fails on the way: the list still shows
    // the refused copy, which must not be taken for it.
    w.s3.fail(2, &[Fault::Network]);
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(
        w.s3.puts(),
        [2, 2, 3, 4],
        "part 2 sent again after the error"
    );
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_part_refused_at_completion_after_a_run_cut_off_before_its_complete_is_sent_again() {
    let w = cut_off_with_part_2_listed_but_refused();
    // The next run takes part 2 from the list (as done), and is cut off
    // too before its complete.
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    assert_eq!(w.records()[0].parts[1].state, PartState::Done);
    w.s3.puts.borrow_mut().clear();
    // Before, every later run failed with InvalidPart (HTTP_STATUS 400):
    // only a run that had adopted part 2 itself sent it again.
    let done = w.run().unwrap();
    assert!(
        w.s3.puts().contains(&2),
        "part 2 is sent again: {:?}",
        w.s3.puts()
    );
    assert_eq!(w.object(&done.key), w.s3.file());
    assert!(w.records().is_empty());
}

#[test]
fn an_upload_gone_from_the_server_starts_afresh() {
    let w = interrupted();
    w.s3.uploads.borrow_mut().clear(); // expired on the server
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(w.s3.puts(), [1, 2, 3, 4]);
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(done.upload_id, "up2");
    assert!(w.records().is_empty());
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
}

#[test]
fn a_plain_companions_answer_for_a_gone_upload_starts_afresh() {
    // A plain Companion answers a gone upload's part list with a 500 whose
    // body names no error code.
    let w = interrupted();
    let companion = r#"{"message":"Something went wrong"}"#;
    w.s3.list_refused.set(Some((500, companion)));
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2");
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
}

/// A restart (for `reason`) whose fresh create fails keeps the old record
/// until a fresh one replaces it: deleted first, the kept handle or staged
/// copy beside it was collected as an orphan by the next lookup. The next
/// run finds it again, restarts and completes.
fn assert_a_failed_restart_keeps_the_record(w: &World, reason: RestartReason) {
    w.s3.create_refused.set(Some(401));
    assert_eq!(w.run().unwrap_err().status(), Some(401));
    assert_eq!(w.records().len(), 1, "the record is kept");
    assert_eq!(*w.log.restarted.borrow(), [reason]);
    w.s3.create_refused.set(None);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert!(w.records().is_empty());
}

#[test]
fn an_upload_gone_from_the_server_keeps_its_record_until_a_fresh_one_is_created() {
    let w = interrupted();
    w.s3.uploads.borrow_mut().clear();
    assert_a_failed_restart_keeps_the_record(&w, RestartReason::Expired);
}

#[test]
fn a_changed_file_keeps_its_record_until_a_fresh_upload_is_created() {
    let mut w = interrupted();
    w.file.sample_sha256 = Some("sample-b".into());
    assert_a_failed_restart_keeps_the_record(&w, RestartReason::FileChanged);
}

/// A part list that fails with `status` fails the run with that error; the
/// record and the server's upload are kept, and the next start resumes.
fn assert_a_failed_list_keeps_the_record(status: u16, body: &'static str) {
    let w = interrupted();
    w.s3.list_refused.set(Some((status, body)));
    assert_eq!(w.run().unwrap_err().status(), Some(status));
    assert_eq!(w.records().len(), 1, "the record is kept");
    assert_eq!(w.records()[0].upload_id, "up1");
    assert!(w.s3.uploads.borrow().contains_key("up1"));
    assert!(w.log.restarted.borrow().is_empty());
    assert_eq!(w.s3.creates.get(), 1, "nothing created afresh");
    w.s3.list_refused.set(None);
    assert_eq!(w.run().unwrap().upload_id, "up1", "resumed");
}

#[test]
fn a_part_list_refused_for_credentials_keeps_the_record() {
    assert_a_failed_list_keeps_the_record(401, r#"{"error":{"code":"ExpiredToken"}}"#);
    assert_a_failed_list_keeps_the_record(403, "");
}

#[test]
fn a_part_list_outage_outlasting_the_retries_keeps_the_record() {
    assert_a_failed_list_keeps_the_record(503, "<html>Service Unavailable</html>");
    assert_a_failed_list_keeps_the_record(429, "<Error><Code>SlowDown</Code></Error>");
    let internal = r#"{"error":{"code":"InternalError"}}"#;
    assert_a_failed_list_keeps_the_record(500, internal);
}

#[test]
fn a_part_list_answered_with_a_page_keeps_the_record() {
    // A 2xx that is no part list says nothing of the upload: nothing held is
    // thrown away for it.
    let w = interrupted();
    w.s3.list_unreadable.set(true);
    let failed = w.run().unwrap_err();
    assert!(
        matches!(failed.kind(), ErrorKind::BadResponse { .. }),
        "{failed:?}"
    );
    assert_eq!(w.records().len(), 1, "the record is kept");
    assert!(w.log.restarted.borrow().is_empty());
    assert_eq!(w.s3.creates.get(), 1, "nothing created afresh");
    w.s3.list_unreadable.set(false);
    assert_eq!(w.run().unwrap().upload_id, "up1", "resumed");
}

const DAY: f64 = 24.0 * 3600.0 * 1000.0;

/// Makes the stored record look `days` old.
fn age_record(w: &World, days: f64) {
    let mut record = w.records().pop().unwrap();
    record.created_at = w.timer.now_ms() - days * DAY;
    block_on(w.store.save(&record)).unwrap();
}

/// The store forgets the upload at part 3 (`fault`): the run starts afresh
/// once, on a second upload, and completes.
fn assert_lost_midway_restarts_once(fault: Fault) {
    let w = World::new(SIZE);
    w.s3.fail(3, &[fault]);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2");
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
    assert!(w.records().is_empty());
}

#[test]
fn an_upload_lost_midway_restarts_once_from_scratch() {
    assert_lost_midway_restarts_once(Fault::Gone);
}

#[test]
fn an_upload_lost_midway_behind_a_network_error_restarts_once_from_scratch() {
    assert_lost_midway_restarts_once(Fault::GoneUnseen);
}

#[test]
fn a_network_error_while_the_upload_is_there_is_retried_as_before() {
    let w = World::new(SIZE);
    w.s3.fail(3, &[Fault::Network, Fault::Network]);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1", "the same upload goes on");
    assert_eq!(w.object(&done.key), w.s3.file());
    assert!(w.log.restarted.borrow().is_empty());
}

#[test]
fn an_upload_lost_twice_fails_naming_the_second_upload() {
    let w = World::new(SIZE);
    w.s3.fail(3, &[Fault::Gone, Fault::Gone]);
    assert_eq!(
        w.run(),
        Err(ErrorKind::NoSuchUpload {
            upload_id: "up2".into()
        }
        .into()),
        "restarted once, then the error names the upload the part belonged to"
    );
}

#[test]
fn a_record_past_expiry_is_not_resumed_and_its_upload_is_aborted() {
    let w = interrupted();
    age_record(&w, 7.5);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2");
    assert_eq!(w.s3.list_calls.get(), 0, "an expired upload is not listed");
    assert!(
        !w.s3.uploads.borrow().contains_key("up1"),
        "the old upload was aborted"
    );
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
    assert!(w.log.resumed.borrow().is_empty());
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_record_of_an_adopted_upload_past_expiry_is_forgotten_but_not_aborted() {
    // The phone adopted the laptop's upload and stopped at part 3; it comes
    // back past its own expiresAfter (a server that keeps uploads longer,
    // or a clock ahead). The laptop may still be sending to that upload.
    let w = on_another_device(interrupted());
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    assert!(
        w.records()[0].adopted,
        "the phone's record is of the adopted upload"
    );
    age_record(&w, 7.5);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2", "a fresh upload");
    assert!(
        w.s3.uploads.borrow().contains_key("up1"),
        "the adopted upload is left to the laptop and the server's janitor"
    );
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_resume_close_to_expiry_warns_and_goes_on() {
    let w = interrupted();
    age_record(&w, 6.5);
    let created = w.records()[0].created_at;
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1", "resumed, not restarted");
    let expiring = w.log.expiring.borrow();
    assert_eq!(
        *expiring,
        [ExpiringSoon {
            upload_id: "up1".into(),
            expires_at: created + 7.0 * DAY
        }]
    );
    assert!(w.log.restarted.borrow().is_empty());
}

#[test]
fn a_fresh_resume_does_not_warn() {
    let w = interrupted();
    age_record(&w, 5.0);
    w.run().unwrap();
    assert!(w.log.expiring.borrow().is_empty());
    assert_eq!(w.log.resumed.borrow().len(), 1);
}

#[test]
fn new_content_under_the_same_name_size_and_date_is_never_mixed() {
    let mut w = interrupted();
    w.file.sample_sha256 = Some("sample-b".into());
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2");
    assert_eq!(
        w.s3.puts(),
        [1, 2, 3, 4],
        "nothing of the old upload is reused"
    );
    assert!(
        !w.s3.uploads.borrow().contains_key("up1"),
        "the old upload was aborted"
    );
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::FileChanged]);
    assert_eq!(w.s3.list_calls.get(), 0);
}

#[test]
fn a_new_date_under_the_same_name_and_size_restarts() {
    let mut w = interrupted();
    w.file.identity.last_modified += 1000.0;
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2");
    assert!(
        !w.s3.uploads.borrow().contains_key("up1"),
        "the old upload was aborted"
    );
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::FileChanged]);
    assert!(w.records().is_empty(), "the old record is gone too");
}

#[test]
fn a_file_of_another_folder_never_restarts_anothers_upload() {
    // Two queue files `a/x.bin` and `b/x.bin`: the same name and size,
    // another date. Each has a record key of its own (the folder counts).
    let mut w = World::new(SIZE);
    w.file.identity.name = "x.bin".into();
    w.file.identity.relative_path = Some("a/x.bin".into());
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    let a = w.records()[0].id.clone();
    let mut b = w.file.clone();
    b.identity.relative_path = Some("b/x.bin".into());
    b.identity.last_modified += 1000.0;
    let done = block_on(w.driver().run(&b)).unwrap();
    assert_eq!(done.upload_id, "up2");
    assert!(
        w.s3.uploads.borrow().contains_key("up1"),
        "a's upload is kept"
    );
    assert_eq!(w.records().len(), 1);
    assert_eq!(w.records()[0].id, a, "and its record");
    assert!(w.log.restarted.borrow().is_empty());
    // `a/x.bin` itself with another date is the same file, changed.
    w.file.identity.last_modified += 1000.0;
    assert_eq!(w.run().unwrap().upload_id, "up3");
    assert!(!w.s3.uploads.borrow().contains_key("up1"));
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::FileChanged]);
}

#[test]
fn a_changed_file_never_aborts_the_upload_another_run_holds() {
    // Two files of the same name and size (no folder), another date, in
    // one page at once: the second is not the first one changed.
    let w = World::new(SIZE);
    w.s3.fail(3, &[Fault::Hang]);
    let driver = w.driver();
    let mut first = Box::pin(driver.run(&w.file));
    poll_pending(first.as_mut(), 200);
    let mut second = w.file.clone();
    second.identity.last_modified += 1000.0;
    second.sample_sha256 = Some("sample-b".into());
    let done = block_on(w.driver().run(&second)).unwrap();
    assert_eq!(done.upload_id, "up2");
    assert!(
        w.s3.uploads.borrow().contains_key("up1"),
        "the first goes on"
    );
    assert_eq!(w.records().len(), 1, "with its record");
    assert!(w.log.restarted.borrow().is_empty());
    // Once the first run stopped, its upload is the one that changed.
    drop(first);
    second.identity.last_modified += 1000.0;
    block_on(w.driver().run(&second)).unwrap();
    assert!(!w.s3.uploads.borrow().contains_key("up1"));
}

#[test]
fn a_changed_file_never_aborts_the_upload_another_tab_holds() {
    // The same, with the first upload's run in another tab: its record's
    // lock is held there.
    let w = interrupted();
    let first = w.records()[0].id.clone();
    w.other_tabs.hold(&first);
    let mut second = w.file.clone();
    second.identity.last_modified += 1000.0;
    second.sample_sha256 = Some("sample-b".into());
    assert_eq!(block_on(w.driver().run(&second)).unwrap().upload_id, "up2");
    assert!(
        w.s3.uploads.borrow().contains_key("up1"),
        "the first goes on"
    );
    assert_eq!(w.records()[0].id, first, "with its record");
    assert!(w.log.restarted.borrow().is_empty());
    // Once that tab let go, its upload is the one that changed.
    w.other_tabs.release_all();
    second.identity.last_modified += 1000.0;
    block_on(w.driver().run(&second)).unwrap();
    assert!(!w.s3.uploads.borrow().contains_key("up1"));
    assert!(w.records().is_empty());
}

#[test]
fn an_unknown_sample_does_not_block_a_resume() {
    let mut w = interrupted();
    w.file.sample_sha256 = None; // the page could not read the samples
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1");
    assert!(w.log.restarted.borrow().is_empty());
}

#[test]
fn expired_records_of_other_files_are_collected() {
    let mut w = interrupted();
    age_record(&w, 8.0);
    let orphan = w.records()[0].id.clone();
    // Another file of the same namespace starts: the orphan goes.
    w.file.identity.name = "other.bin".into();
    w.run().unwrap();
    assert!(w.records().iter().all(|r| r.id != orphan));
    assert!(w.records().is_empty());
}

#[test]
fn a_record_for_other_options_is_not_resumed() {
    let mut w = interrupted();
    w.options.namespace = "someone-else".into();
    w.run().unwrap();
    assert_eq!(
        w.s3.list_calls.get(),
        0,
        "another namespace has its own key"
    );
    assert_eq!(w.records().len(), 1, "the first namespace's record is kept");
}

#[test]
fn zero_byte_file_completes_with_no_parts() {
    let w = World::new(0);
    let done = w.run().unwrap();
    assert!(w.object(&done.key).is_empty());
    assert!(w.s3.puts().is_empty());
    assert!(w.records().is_empty());
}

#[test]
fn abort_removes_the_server_upload_and_the_record() {
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::Hang]);
    w.run_and_drop_after(200);
    assert_eq!(w.s3.uploads.borrow().len(), 1);
    assert!(block_on(w.driver().abort(&w.file)).unwrap());
    assert!(w.s3.uploads.borrow().is_empty());
    assert!(w.records().is_empty());
    assert!(
        !block_on(w.driver().abort(&w.file)).unwrap(),
        "nothing left to abort"
    );
}

#[test]
fn invalid_options_fail_before_any_request() {
    let mut w = World::new(SIZE);
    w.options.part_size = MIB;
    assert_eq!(w.run().unwrap_err().code(), "INVALID_OPTION");
    w.options.part_size = 5 * MIB;
    w.options.concurrency = 0;
    assert_eq!(w.run().unwrap_err().code(), "INVALID_OPTION");
    w.options.concurrency = 1;
    w.options.max_object_size = 10;
    assert_eq!(w.run().unwrap_err().code(), "FILE_TOO_LARGE");
    assert_eq!(w.s3.next_id.get(), 0, "no upload was created");
}

// ---- Checksums ----

/// The composite checksum of the fake's file in 5 MiB parts.
fn file_composite(w: &World) -> String {
    let file = w.s3.file();
    let digests: Vec<_> = file
        .chunks(5 * MIB as usize)
        .map(Sha256Digest::of)
        .collect();
    composite(&digests)
}

#[test]
fn parts_carry_signed_checksums_and_the_object_checksum_is_compared() {
    let w = World::new(SIZE);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(done.checksum_sha256, Some(file_composite(&w)));
    assert_eq!(w.s3.hashed.borrow().len(), 4, "each part hashed once");
    assert!(w.log.warnings.borrow().is_empty());
}

#[test]
fn checksums_are_saved_before_a_part_is_sent() {
    let w = interrupted();
    let record = &w.records()[0];
    assert_eq!(record.checksum_algorithm.as_deref(), Some("SHA256"));
    let file = w.s3.file();
    for part in &record.parts[..3] {
        let range = record.plan().range(part.number);
        let bytes = &file[range.start as usize..range.end as usize];
        assert_eq!(
            part.checksum,
            Some(Sha256Digest::of(bytes).to_base64()),
            "part {} ({:?})",
            part.number,
            part.state
        );
    }
}

#[test]
fn a_part_damaged_on_the_way_is_refused_and_sent_again() {
    let w = World::new(SIZE);
    w.s3.fail(2, &[Fault::Corrupt]);
    let done = w.run().unwrap();
    assert_eq!(w.s3.puts(), [1, 2, 2, 3, 4]);
    assert_eq!(w.object(&done.key), w.s3.file(), "byte-identical");
}

#[test]
fn a_store_reporting_another_object_checksum_is_an_error() {
    let w = World::new(SIZE);
    *w.s3.lying_checksum.borrow_mut() = Some(composite(&[Sha256Digest::of(b"other")]));
    match w.run().map_err(Error::into_kind) {
        Err(ErrorKind::ChecksumMismatch(mismatch)) => {
            let Mismatch {
                expected,
                actual,
                key,
            } = mismatch;
            assert_eq!(expected, file_composite(&w));
            assert!(actual.ends_with("-1"), "{actual}");
            // The bad object is the store's now: the page must learn where.
            assert!(w.s3.objects.borrow().contains_key(&key), "{key}");
        }
        other => panic!("a mismatch must never pass as success: {other:?}"),
    }
}

#[test]
fn a_backend_without_checksums_uploads_without_them_and_warns() {
    let w = World::new(SIZE);
    w.s3.no_checksums.set(true);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(done.checksum_sha256, None);
    let warnings = w.log.warnings.borrow();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].code, WarningCode::ChecksumUnsupported);
    assert!(w.s3.hashed.borrow().is_empty(), "nothing to hash for");
}

#[test]
fn a_fresh_upload_hashes_its_first_part_while_it_is_created() {
    let w = World::new(SIZE);
    w.s3.slow_create.set(true);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(done.checksum_sha256, Some(file_composite(&w)));
    assert_eq!(
        w.s3.hashed_while_creating.borrow().as_deref(),
        Some(&[5 * MIB][..]),
        "part 1 was hashed before the create answered"
    );
    assert_eq!(w.s3.hashed.borrow().len(), 4, "each part hashed once");
}

#[test]
fn a_first_part_hashed_while_creating_goes_without_its_checksum_when_the_backend_has_none() {
    let w = World::new(SIZE);
    w.s3.slow_create.set(true);
    w.s3.no_checksums.set(true);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(done.checksum_sha256, None);
    assert_eq!(
        w.s3.hashed_while_creating
            .borrow()
            .as_deref()
            .map(<[u64]>::len),
        Some(1)
    );
    assert_eq!(
        w.s3.hashed.borrow().len(),
        1,
        "no part hashed after the create"
    );
    // Its record never holds that checksum (a resume would check the
    // server's unchecksummed part against it).
    let w = World::new(SIZE);
    w.s3.slow_create.set(true);
    w.s3.no_checksums.set(true);
    w.s3.fail(2, &[Fault::Hang]);
    w.run_and_drop_after(200);
    let part = w.records()[0].parts[0].clone();
    assert_eq!((part.state, part.checksum), (PartState::Done, None));
}

#[test]
fn a_backend_without_checksums_does_not_wait_for_the_first_parts_hash() {
    // The create answers while part 1 is still being hashed: with no
    // checksums confirmed, that hash is dropped, not waited for.
    let w = World::new(SIZE);
    w.s3.no_checksums.set(true);
    w.s3.slow_create.set(true);
    w.s3.hash_turns.set(50);
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(w.s3.hashed.borrow().len(), 1, "part 1's hash was begun");
    assert_eq!(w.s3.hashes_finished.get(), 0, "and dropped unfinished");
}

#[test]
fn checksum_sha256_refuses_a_backend_without_them() {
    let mut w = World::new(SIZE);
    w.options.checksum = ChecksumMode::Sha256;
    w.s3.no_checksums.set(true);
    assert_eq!(w.run(), Err(ErrorKind::ChecksumUnsupported.into()));
    assert!(
        w.s3.uploads.borrow().is_empty(),
        "the created upload is aborted"
    );
    assert!(w.s3.puts().is_empty());
}

#[test]
fn checksum_none_asks_for_none() {
    let mut w = World::new(SIZE);
    w.options.checksum = ChecksumMode::None;
    let done = w.run().unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(done.checksum_sha256, None);
    assert!(w.log.warnings.borrow().is_empty());
    assert!(w.s3.hashed.borrow().is_empty());
}

/// Changes one byte of part 1 of the fake's file: same name, size, date and
/// content sample (the fake's sample is fixed), other bytes.
fn change_part_one(w: &World) {
    w.s3.file.borrow_mut()[1000] ^= 0x5a;
}

#[test]
fn a_resume_rehashes_the_parts_the_server_holds() {
    let w = interrupted();
    w.s3.hashed.borrow_mut().clear();
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    // The first run got parts 1, 2 and 4 stored; part 3 hung.
    assert_eq!(w.s3.puts(), [3], "verified parts are not sent again");
    assert_eq!(w.object(&done.key), w.s3.file());
    // Parts 1, 2 and 4 verified, part 3 hashed to be sent.
    assert_eq!(w.s3.hashed.borrow().len(), 4);
    assert!(w.log.restarted.borrow().is_empty());
}

#[test]
fn a_resume_catches_a_change_under_the_same_metadata() {
    let w = interrupted();
    change_part_one(&w);
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2", "a fresh upload");
    assert_eq!(w.object(&done.key), w.s3.file(), "only the new bytes");
    assert!(
        !w.s3.uploads.borrow().contains_key("up1"),
        "the old upload was aborted"
    );
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::FileChanged]);
}

#[test]
fn without_verify_on_resume_the_servers_parts_are_trusted() {
    let mut w = interrupted();
    w.options.verify_on_resume = false;
    w.s3.hashed.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1");
    assert_eq!(
        *w.s3.hashed.borrow(),
        [5 * MIB],
        "only the part sent (3) is hashed"
    );
}

/// A world uploading a streaming source (no file metadata, an id from the
/// page) to a backend without checksums.
fn stream_world() -> World {
    let mut w = World::new(SIZE);
    w.s3.no_checksums.set(true);
    w.options.checksum = ChecksumMode::None;
    w.file.identity.last_modified = 0.0;
    w.file.identity.source_id = Some("report-2026".into());
    w.file.sample_sha256 = None;
    w
}

#[test]
fn a_streaming_source_resumes_after_regenerating_the_parts_the_server_holds() {
    let w = stream_world();
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    let record = &w.records()[0];
    assert!(
        record.parts.iter().take(3).all(|p| p.checksum.is_some()),
        "a source's parts are hashed even without server checksums"
    );
    w.s3.puts.borrow_mut().clear();
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1");
    assert_eq!(w.s3.puts(), [3]);
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_streaming_source_that_changed_starts_afresh() {
    let mut w = stream_world();
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    change_part_one(&w);
    // Even when asked not to verify: a source has nothing else to go by.
    w.options.verify_on_resume = false;
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2");
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(w.log.restarted.borrow()[0], RestartReason::FileChanged);
}

// ------------------------------------------------ resume on another device

/// The interrupted world seen from another device: no records, the same
/// file under another date, the same backend.
fn on_another_device(mut w: World) -> World {
    w.store = MemoryStore::new();
    w.file.identity.last_modified = 99_999.0;
    *w.log.resumed.borrow_mut() = Vec::new();
    w.s3.puts.borrow_mut().clear();
    w.s3.hashed.borrow_mut().clear();
    w.s3.hashes_finished.set(0);
    w.s3.creates.set(0);
    w.s3.adoptions_asked.set(0);
    w
}

#[test]
fn an_upload_begun_elsewhere_is_found_verified_and_finished() {
    let w = on_another_device(interrupted());
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1", "the other device's upload");
    assert_eq!(
        (w.s3.creates.get(), w.s3.next_id.get()),
        (1, 1),
        "found by the create request itself, and nothing created"
    );
    assert_eq!(w.s3.puts(), [3], "only the missing part is sent");
    assert_eq!(w.object(&done.key), w.s3.file());
    // Parts 1, 2 and 4 verified against the server's checksums, part 3 hashed to be sent.
    assert_eq!(w.s3.hashed.borrow().len(), 4);
    let resumed = w.log.resumed.borrow();
    assert_eq!(resumed[0].source, ResumeSource::Backend);
    assert_eq!(resumed[0].skipped_parts, 3);
    assert!(w.records().is_empty(), "no record left");
}

#[test]
fn a_first_part_hashed_while_creating_is_not_sent_into_an_adopted_upload() {
    let w = on_another_device(interrupted());
    // The create's answer takes a round trip, during which part 1 is
    // hashed as for a fresh upload: the adopted upload holds it already.
    w.s3.slow_create.set(true);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1");
    assert_eq!(w.s3.puts(), [3]);
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn an_adopted_upload_does_not_wait_for_the_first_parts_hash() {
    let w = on_another_device(interrupted());
    w.s3.slow_create.set(true);
    w.s3.hash_turns.set(50);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1");
    // Parts 1, 2 and 4 verified and part 3 sent: the head start's hash of
    // part 1, begun beside the create, was dropped unfinished.
    assert_eq!(
        w.s3.hashed.borrow().len(),
        5,
        "part 1's head start was begun"
    );
    assert_eq!(w.s3.hashes_finished.get(), 4, "and dropped unfinished");
}

#[test]
fn an_adopted_upload_verifies_even_without_verify_on_resume() {
    let mut w = on_another_device(interrupted());
    w.options.verify_on_resume = false;
    w.run().unwrap();
    assert_eq!(w.s3.hashed.borrow().len(), 4, "every held part re-hashed");
}

#[test]
fn changed_bytes_elsewhere_start_afresh_and_leave_the_other_upload() {
    let w = on_another_device(interrupted());
    change_part_one(&w);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2", "a fresh upload");
    assert_eq!(w.object(&done.key), w.s3.file(), "only the new bytes");
    assert_eq!(
        w.s3.puts(),
        [1, 2, 3, 4],
        "the fresh upload's parts only: none sent into the other device's upload"
    );
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::FileChanged]);
    assert_eq!(
        w.s3.adoptions_asked.get(),
        1,
        "the fresh upload's create does not adopt again"
    );
    assert!(
        w.s3.uploads.borrow().contains_key("up1"),
        "the other device's upload is left to it"
    );
}

/// The laptop's upload stopped with parts 1 and 2 stored; the phone (no
/// record, another date) adopts it and completes it. Answers the world as
/// the laptop's again (its record, its date) and the phone's result.
fn finished_on_the_phone(w: World, tells_completed: bool) -> (World, Box<Completed>) {
    let mut w = w;
    let laptop_store = std::mem::replace(&mut w.store, MemoryStore::new());
    let laptop_date = w.file.identity.last_modified;
    w.file.identity.last_modified = 99_999.0;
    let on_phone = w.run().unwrap();
    assert_eq!(
        on_phone.upload_id, "up1",
        "the phone adopted the laptop's upload"
    );
    w.store = laptop_store;
    w.file.identity.last_modified = laptop_date;
    w.s3.tells_completed.set(tells_completed);
    w.s3.puts.borrow_mut().clear();
    w.log.restarted.borrow_mut().clear();
    w.log.resumed.borrow_mut().clear();
    (w, on_phone)
}

#[test]
fn a_laptop_back_to_an_upload_the_phone_completed_ends_with_its_object() {
    let (w, on_phone) = finished_on_the_phone(interrupted(), true);
    let done = w.run().unwrap();
    assert_eq!(done, on_phone, "the phone's object, the same key");
    assert!(w.s3.puts().is_empty(), "nothing sent again");
    assert_eq!(w.s3.next_id.get(), 1, "no second upload created");
    assert!(w.records().is_empty(), "the laptop's record is done with");
    assert!(w.log.restarted.borrow().is_empty());
    assert_eq!(w.s3.completed_asked.get(), 1);
    let whole = SIZE as u64;
    let resumed = w.log.resumed.borrow();
    assert_eq!(resumed.len(), 1, "told as a resume");
    assert_eq!(resumed[0].upload_id, "up1");
    assert_eq!(
        (resumed[0].skipped_parts, resumed[0].skipped_bytes),
        (4, whole),
        "every part skipped"
    );
    assert_eq!(resumed[0].source, ResumeSource::Local, "the laptop's own");
    assert_eq!(
        w.log
            .progress
            .borrow()
            .last()
            .map(|p| (p.sent_bytes, p.confirmed_bytes)),
        Some((whole, whole)),
        "the page's progress is whole"
    );
}

#[test]
fn a_laptop_back_to_an_upload_completed_with_other_bytes_starts_afresh() {
    // The phone's copy differs in part 3 (outside the sampled bytes): it
    // verified parts 1 and 2, and sent its own 3 and 4.
    let w = interrupted();
    let at = 12 * MIB as usize;
    w.s3.file.borrow_mut()[at] ^= 1;
    let (w, _) = finished_on_the_phone(w, true);
    w.s3.file.borrow_mut()[at] ^= 1;
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2", "a fresh upload");
    assert_eq!(w.object(&done.key), w.s3.file(), "the laptop's bytes");
    assert_eq!(w.s3.puts(), [1, 2, 3, 4]);
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
    assert!(
        w.log.resumed.borrow().is_empty(),
        "no resume told for other bytes"
    );
}

#[test]
fn a_laptop_back_to_an_upload_completed_elsewhere_starts_afresh_with_a_plain_companion() {
    let (w, _) = finished_on_the_phone(interrupted(), false);
    let done = w.run().unwrap();
    assert_eq!(
        done.upload_id, "up2",
        "the backend cannot say: a fresh upload"
    );
    assert_eq!(w.s3.puts(), [1, 2, 3, 4]);
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
}

#[test]
fn an_upload_completed_elsewhere_while_this_run_sends_ends_with_its_object() {
    let w = World::new(SIZE);
    w.s3.tells_completed.set(true);
    w.s3.fail(3, &[Fault::CompletedElsewhere]);
    let done = w.run().unwrap();
    assert_eq!(
        done.upload_id, "up1",
        "the upload the other device completed"
    );
    assert_eq!(done.location, "http://store/elsewhere/up1");
    assert_eq!(
        done.checksum_sha256,
        Some(w.s3.composite_of_file()),
        "this file's own"
    );
    assert_eq!(w.s3.next_id.get(), 1, "no second upload created");
    assert!(w.records().is_empty());
    assert!(w.log.restarted.borrow().is_empty());
    assert!(
        w.log.resumed.borrow().is_empty(),
        "a run that began afresh is no resume"
    );
}

#[test]
fn an_upload_completed_elsewhere_with_other_bytes_while_this_run_sends_starts_afresh() {
    let w = World::new(SIZE);
    w.s3.tells_completed.set(true);
    w.s3.fail(3, &[Fault::CompletedElsewhere]);
    // The other device's file differs in its last byte.
    w.s3.elsewhere_differs_at.set(Some(SIZE - 1));
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2", "a fresh upload");
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
}

#[test]
fn a_stored_record_is_resumed_without_a_create() {
    let w = interrupted();
    assert_eq!(
        w.s3.adoptions_asked.get(),
        1,
        "the first run's create asked"
    );
    w.run().unwrap();
    assert_eq!(w.s3.creates.get(), 1, "the resume created nothing");
    assert_eq!(w.log.resumed.borrow()[0].source, ResumeSource::Local);
}

#[test]
fn checksum_none_never_adopts() {
    let mut w = on_another_device(interrupted());
    w.options.checksum = ChecksumMode::None;
    let done = w.run().unwrap();
    assert_eq!(w.s3.adoptions_asked.get(), 0);
    assert_eq!(done.upload_id, "up2");
    assert_eq!(w.s3.puts(), [1, 2, 3, 4]);
}

#[test]
fn an_upload_without_checksums_elsewhere_is_not_adopted() {
    let w = World::new(SIZE);
    w.s3.no_checksums.set(true);
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    let w = on_another_device(w);
    // A backend that offers it anyway: it is refused, and created afresh.
    w.s3.adopts_unchecked.set(true);
    let done = w.run().unwrap();
    assert_eq!(
        done.upload_id, "up2",
        "parts that cannot be verified are never trusted"
    );
    assert_eq!(
        (w.s3.creates.get(), w.s3.adoptions_asked.get()),
        (2, 1),
        "the second create does not ask to adopt"
    );
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_backend_without_adoption_uploads_afresh() {
    let w = on_another_device(interrupted());
    w.s3.ignores_adopt.set(true);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2");
    assert_eq!(w.object(&done.key), w.s3.file());
    assert!(w.log.warnings.borrow().is_empty());
}

#[test]
fn a_create_refused_for_credentials_fails_the_run() {
    let w = on_another_device(interrupted());
    w.s3.create_refused.set(Some(401));
    let err = w.run().unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("`headers`"), "{err}");
    assert_eq!(w.s3.creates.get(), 1, "not retried");
    assert!(w.s3.puts().is_empty() && w.records().is_empty());
}

#[test]
fn an_adoption_not_asked_for_is_refused() {
    let mut w = on_another_device(interrupted());
    w.options.checksum = ChecksumMode::None;
    w.s3.adopts_unasked.set(true);
    let err = w.run().unwrap_err();
    assert_eq!(err.code(), "BAD_RESPONSE", "{err}");
    assert!(w.s3.puts().is_empty(), "nothing sent into it");
}

// ------------------------------------------------ a whole file in one request

#[test]
fn a_small_file_goes_in_one_signed_request() {
    let w = World::new(300_000);
    let done = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(w.s3.singles_signed.get(), 1);
    assert_eq!(w.s3.next_id.get(), 1, "no multipart upload");
    let digest = Sha256Digest::of(&w.s3.file()).to_base64();
    assert_eq!(
        done.checksum_sha256,
        Some(digest),
        "its checksum was signed and checked"
    );
    let last = *w.log.progress.borrow().last().unwrap();
    assert_eq!((last.sent_bytes, last.confirmed_bytes), (300_000, 300_000));
    assert!(w.records().is_empty(), "no record for a single request");
}

#[test]
fn a_failed_single_request_is_sent_again_under_the_same_url_while_it_is_fresh() {
    let w = World::new(1000);
    w.s3.fail(0, &[Fault::Status(503)]);
    let done = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(w.s3.singles_signed.get(), 1, "the same URL for the retry");
}

#[test]
fn a_single_request_whose_answer_was_lost_leaves_one_object() {
    let w = World::new(1000);
    w.s3.fail(0, &[Fault::StoredButLost]);
    let done = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    let objects = w.s3.objects.borrow();
    let keys: Vec<&String> = objects.keys().collect();
    assert_eq!(keys, [&done.key], "sent again under the same key");
    drop(objects);
    assert_eq!(w.object(&done.key), w.s3.file());
}

#[test]
fn a_single_request_retried_after_a_long_hold_or_an_expired_url_is_signed_again() {
    let w = World::new(1000);
    w.timer.sleeps_pass.set(true);
    // A backend that signs for 1 minute only: the first retry, after a
    // 90 s hold, still finds its URL fresh by the client's measure and
    // meets S3's 403 "Request has expired"; the next signs again. Then a
    // hold of 5 minutes: its URL is stale before it is sent.
    w.s3.url_lifetime_ms.set(Some(60_000.0));
    w.s3.fail(0, &[Fault::SlowDown(90_000)]);
    let done = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(w.s3.expired_puts.get(), 1);
    assert_eq!(w.s3.singles_signed.get(), 2, "signed again after the 403");
    w.s3.url_lifetime_ms.set(None);
    w.s3.fail(0, &[Fault::SlowDown(300_000)]);
    block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    assert_eq!(w.s3.singles_signed.get(), 4, "signed again after the hold");
}

#[test]
fn a_single_request_signed_for_less_than_the_clients_measure_is_signed_again_before_it_expires() {
    let w = World::new(1000);
    w.timer.sleeps_pass.set(true);
    // A backend that signs for 1 minute and says so (`expires: 60`): after
    // a 70 s hold the URL is past its life, and is signed again before it
    // is sent, not sent to meet S3's 403 (before, it was kept for 4
    // minutes whatever the backend said).
    w.s3.url_lifetime_ms.set(Some(60_000.0));
    w.s3.tells_lifetime.set(true);
    w.s3.fail(0, &[Fault::SlowDown(70_000)]);
    let done = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    assert_eq!(w.object(&done.key), w.s3.file());
    assert_eq!(
        w.s3.expired_puts.get(),
        0,
        "no PUT with a URL past its life"
    );
    assert_eq!(w.s3.singles_signed.get(), 2, "signed again after the hold");
}

#[test]
fn a_small_file_that_can_no_longer_be_read_fails_as_its_own_trouble_at_once() {
    let w = World::new(1000);
    w.s3.fail(0, &[Fault::Unreadable; 8]);
    let err = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap_err();
    assert_eq!(err.code(), "READ_FAILED", "{err:?}");
    assert!(!err.is_queue_wide(), "never stops the queue");
    assert_eq!(w.s3.puts().len(), 1, "not sent again");
}

#[test]
fn a_small_file_over_max_object_size_fails_as_its_own_trouble_before_any_request() {
    let mut w = World::new(1000);
    w.options.max_object_size = 999;
    let err = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap_err();
    assert_eq!(err.code(), "FILE_TOO_LARGE", "{err:?}");
    assert!(!err.is_queue_wide(), "never stops the queue");
    assert_eq!(w.s3.singles_signed.get(), 0, "nothing signed");
    assert!(w.s3.puts().is_empty(), "nothing sent");
    w.options.max_object_size = 1000;
    let done = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    assert_eq!(
        w.object(&done.key),
        w.s3.file(),
        "exactly the limit is stored"
    );
}

#[test]
fn part_or_object_sizes_outside_s3_s_limits_fail_a_small_file_before_any_request() {
    let mut w = World::new(1000);
    w.options.part_size = MIB;
    let err = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap_err();
    assert_eq!(err.code(), "INVALID_OPTION", "{err:?}");
    assert!(err.to_string().contains("`partSize`"), "{err}");
    w.options.part_size = 5 * MIB;
    w.options.max_object_size = 0;
    let err = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap_err();
    assert_eq!(err.code(), "INVALID_OPTION", "{err:?}");
    assert!(err.to_string().contains("`maxObjectSize`"), "{err}");
    assert_eq!(w.s3.singles_signed.get(), 0, "nothing signed");
    assert!(w.s3.puts().is_empty(), "nothing sent");
}

#[test]
fn a_companion_form_goes_without_checksum_and_warns_unless_checksums_are_required() {
    let mut w = World::new(1000);
    w.s3.no_checksums.set(true);
    let done = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    assert_eq!(done.checksum_sha256, None);
    assert_eq!(w.object(&done.key), w.s3.file());
    let warnings: Vec<_> = w.log.warnings.borrow().iter().map(|w| w.code).collect();
    assert_eq!(warnings, [WarningCode::ChecksumUnsupported]);
    w.options.checksum = ChecksumMode::Sha256;
    let refused = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap_err();
    assert_eq!(refused.code(), "CHECKSUM_UNSUPPORTED");
}

#[test]
fn a_folder_path_reaches_the_backend() {
    let mut w = World::new(1000);
    w.file.identity.relative_path = Some("photos/2024/movie.mp4".into());
    let done = block_on(w.driver().put_whole(&w.file, &w.whole())).unwrap();
    assert!(done.key.ends_with("photos/2024/movie.mp4"), "{}", done.key);
}

#[test]
fn a_queue_file_is_listed_with_its_batch_not_on_its_own() {
    let mut w = World::new(SIZE);
    w.options.in_queue = true;
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    let record = &w.records()[0];
    assert!(record.queued);
    let listed = w.listed();
    assert!(listed.is_empty(), "{listed:?}");
}

/// Two interrupted uploads, of `w.file` (now "other.mp4") and of the first
/// file, answered with its record id; a run (another tab's) holds the first.
fn two_interrupted_the_first_held() -> (World, FileInfo, String) {
    let mut w = interrupted();
    let first_file = w.file.clone();
    let first = w.records()[0].id.clone();
    w.file.identity.name = "other.mp4".into();
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    assert_eq!(w.records().len(), 2);
    w.other_tabs.hold(&first);
    (w, first_file, first)
}

/// A world whose first run was dropped (paused) after the store completed
/// the upload, before its answer came.
fn dropped_during_complete(forgets_completes: bool) -> World {
    let w = World::new(SIZE);
    w.s3.forgets_completes.set(forgets_completes);
    w.s3.complete_answer_lost.set(true);
    w.run_and_drop_after(500);
    assert_eq!(w.s3.objects.borrow().len(), 1, "the store completed it");
    assert_eq!(w.records().len(), 1, "the record stays");
    w
}

#[test]
fn a_run_dropped_during_complete_is_completed_again_sending_nothing() {
    let w = dropped_during_complete(false);
    let sent = w.s3.puts().len();
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1", "the upload the store completed");
    assert_eq!(w.s3.puts().len(), sent, "no part is sent again");
    assert!(w.log.restarted.borrow().is_empty());
    assert!(
        done.checksum_sha256.is_some(),
        "the object's checksum compared"
    );
    assert!(w.records().is_empty());
    assert_eq!(w.s3.objects.borrow().len(), 1, "one object");
}

#[test]
fn a_run_dropped_during_complete_starts_afresh_where_the_backend_forgets_completes() {
    // A plain Companion: the repeated complete meets the store's
    // NoSuchUpload, and the file is uploaded again (the object the first
    // run completed stays, under its own key).
    let w = dropped_during_complete(true);
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up2");
    assert_eq!(*w.log.restarted.borrow(), [RestartReason::Expired]);
    assert_eq!(w.object(&done.key), w.s3.file());
    assert!(w.records().is_empty());
}

#[test]
fn an_abort_after_the_store_completed_says_so_and_the_next_run_answers_the_object() {
    // abort() while the run completes: the run is dropped after the store
    // completed the upload, and the abort meets NoSuchUpload.
    let w = dropped_during_complete(false);
    let aborted = block_on(w.driver().abort(&w.file));
    assert!(
        matches!(
            aborted.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::AlreadyCompleted)
        ),
        "{aborted:?}"
    );
    assert_eq!(w.records().len(), 1, "the record stays for the next run");
    let sent = w.s3.puts().len();
    let done = w.run().unwrap();
    assert_eq!(done.upload_id, "up1", "the object the store completed");
    assert_eq!(w.s3.puts().len(), sent, "no part is sent again");
    assert!(w.records().is_empty());
    assert_eq!(w.s3.objects.borrow().len(), 1, "one object");
}

#[test]
fn an_abort_after_the_store_completed_forgets_where_the_backend_cannot_tell() {
    // A plain Companion forgets completed uploads: the complete asked again
    // meets NoSuchUpload too, and the upload is forgotten as gone.
    let w = dropped_during_complete(true);
    assert!(block_on(w.driver().abort(&w.file)).unwrap());
    assert!(w.records().is_empty());
}

#[test]
fn listing_and_finding_pending_uploads_say_which_a_run_holds() {
    let (w, first_file, first) = two_interrupted_the_first_held();
    let running: Vec<(String, bool)> = w.listed().into_iter().map(|p| (p.id, p.running)).collect();
    assert_eq!(
        running,
        [(first.clone(), true), (w.records()[1].id.clone(), false)]
    );
    let find = |file: &FileInfo| {
        let lookup = resupload::pending::Lookup::everything();
        let found = resupload::pending::find(&w.store, &w.other_tabs, 0.0, &lookup, &file.identity);
        block_on(found).unwrap().map(|p| p.running)
    };
    assert_eq!(find(&first_file), Some(true));
    assert_eq!(find(&w.file), Some(false));
    // Once that run let go, neither is running.
    w.other_tabs.release_all();
    assert_eq!(find(&first_file), Some(false));
}

#[test]
fn clearing_pending_uploads_leaves_the_ones_a_run_holds() {
    let (w, _, first) = two_interrupted_the_first_held();
    assert_eq!(w.clear(), 1, "only the other one");
    let kept: Vec<String> = w.records().into_iter().map(|r| r.id).collect();
    assert_eq!(kept, [first]);
    let uploads = w.s3.uploads.borrow();
    assert!(uploads.contains_key("up1"), "the held upload goes on");
    assert!(!uploads.contains_key("up2"), "the other is aborted");
}

#[test]
fn clearing_pending_uploads_leaves_an_upload_queues_files_to_their_batch() {
    let mut w = World::new(SIZE);
    w.options.in_queue = true;
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    let queued = w.records()[0].id.clone();
    w.options.in_queue = false;
    w.file.identity.name = "other.mp4".into();
    w.s3.fail(3, &[Fault::Hang]);
    w.run_and_drop_after(200);
    assert_eq!(w.clear(), 1, "only the upload of its own");
    let kept: Vec<String> = w.records().into_iter().map(|r| r.id).collect();
    assert_eq!(kept, [queued]);
    assert!(
        w.s3.uploads.borrow().contains_key("up1"),
        "the queue's file keeps its parts"
    );
}

#[test]
fn listing_keeps_a_record_past_expiry_while_a_run_holds_it() {
    let (w, _, first) = two_interrupted_the_first_held();
    let lookup = resupload::pending::Lookup::everything();
    let later = w.records()[0].created_at + lookup.expires_after_ms + 1.0;
    let listed = resupload::pending::list(&w.store, &w.other_tabs, later, &lookup);
    let listed: Vec<String> = block_on(listed)
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        listed,
        std::slice::from_ref(&first),
        "the held one, still listed"
    );
    let kept: Vec<String> = w.records().into_iter().map(|r| r.id).collect();
    assert_eq!(kept, [first], "the idle one is collected");
}

#[test]
fn the_lookups_see_a_run_of_this_page_where_no_lock_says_so() {
    // No Web Locks (other_tabs holds nothing): the page's own run is still
    // running, and clearing leaves it.
    let w = World::new(SIZE);
    w.s3.fail(3, &[Fault::Hang]);
    let driver = w.driver();
    let mut run = Box::pin(driver.run(&w.file));
    poll_pending(run.as_mut(), 200);
    let running: Vec<bool> = w.listed().into_iter().map(|p| p.running).collect();
    assert_eq!(running, [true]);
    assert_eq!(w.clear(), 0);
    assert!(
        w.s3.uploads.borrow().contains_key("up1"),
        "the run's upload goes on"
    );
    drop(run);
    assert_eq!(w.clear(), 1, "once it stopped, it is forgotten");
}

#[test]
fn an_abort_while_offline_fails_after_its_retries_keeping_the_record() {
    // abort() and clearPending() are waited on by a person: offline, they
    // end with NETWORK, never wait for the network without an end.
    let w = interrupted();
    w.s3.aborts_offline.set(true);
    let aborted = block_on(w.driver().abort(&w.file));
    assert!(
        matches!(
            aborted.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::Network { .. })
        ),
        "{aborted:?}"
    );
    assert_eq!(w.records().len(), 1, "kept, to abort again later");
    assert_eq!(w.timer.online_waits.get(), 0, "no wait for the network");
    assert_eq!(
        w.clear(),
        1,
        "forgotten, its upload left to the store's rule"
    );
    assert_eq!(w.timer.online_waits.get(), 0, "no wait for the network");
}

#[test]
fn clearing_without_credentials_fails_with_the_401_and_forgets_nothing() {
    // A forgotten `headers` option: every abort is refused, and a clear
    // that forgot the records would leave the uploads on the server with
    // nothing in the browser that knows them.
    let (w, _, first) = two_interrupted_the_first_held();
    w.other_tabs.release_all();
    w.s3.aborts_refused.set(Some(401));
    let cleared = w.try_clear_under(&w.other_tabs);
    assert!(
        matches!(
            cleared.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::Http { status: 401, .. })
        ),
        "{cleared:?}"
    );
    assert_eq!(w.records().len(), 2, "both kept, to clear with credentials");
    assert!(!block_on(w.other_tabs.held(&first)), "no claim left held");
    w.s3.aborts_refused.set(None);
    assert_eq!(w.clear(), 2);
    assert!(w.s3.uploads.borrow().is_empty(), "both aborted then");
}

#[test]
fn clearing_keeps_an_upload_the_backend_says_is_not_the_callers() {
    // A 403: another person's upload on a shared browser, or credentials
    // without the right. Not the caller's to forget; the rest go on.
    let w = interrupted();
    w.s3.aborts_refused.set(Some(403));
    assert_eq!(w.clear(), 0, "none forgotten");
    assert_eq!(w.records().len(), 1);
    assert!(w.s3.uploads.borrow().contains_key("up1"));
}

#[test]
fn finding_a_files_upload_takes_any_namespace_or_endpoint_the_lookup_leaves_open() {
    let w = interrupted();
    let id = w.records()[0].id.clone();
    let find = |namespace: Option<&str>, endpoint: Option<&str>| {
        let lookup = resupload::pending::Lookup {
            namespace: namespace.map(str::to_owned),
            endpoint: endpoint.map(str::to_owned),
            ..resupload::pending::Lookup::everything()
        };
        let found =
            resupload::pending::find(&w.store, &w.other_tabs, 0.0, &lookup, &w.file.identity);
        block_on(found).unwrap().map(|p| p.id)
    };
    assert_eq!(find(None, None), Some(id.clone()), "no endpoint given: any");
    assert_eq!(find(Some(""), None), Some(id.clone()));
    assert_eq!(find(None, Some("/api/s3/")), Some(id.clone()));
    assert_eq!(find(Some(""), Some(" /api/s3")), Some(id));
    assert_eq!(find(Some("other"), None), None);
    assert_eq!(find(None, Some("/other")), None);
    assert_eq!(find(Some(""), Some("/other")), None);
}

#[test]
fn finding_a_files_upload_past_its_expiry_finds_nothing_and_forgets_it() {
    let w = interrupted();
    age_record(&w, 7.5);
    let lookup = resupload::pending::Lookup::everything();
    let now = w.timer.now_ms();
    let found = resupload::pending::find(&w.store, &w.other_tabs, now, &lookup, &w.file.identity);
    // Before, it was found, and a start() from it restarted as expired.
    assert_eq!(block_on(found).unwrap(), None);
    assert!(w.records().is_empty(), "removed, as listPending removes it");
}

/// Another tab that starts a run on every record just after it was looked
/// at: `held` says no, a claim finds it taken.
struct StartsMeanwhile;

impl Claims for StartsMeanwhile {
    fn held<'a>(&'a self, _: &'a str) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(std::future::ready(false))
    }
}

impl Claiming for StartsMeanwhile {
    fn claim<'a>(&'a self, _: &'a str) -> Pin<Box<dyn Future<Output = Option<Claim<'a>>> + 'a>> {
        Box::pin(std::future::ready(None))
    }
}

#[test]
fn clearing_holds_each_record_while_it_aborts_it_and_leaves_one_a_run_took_meanwhile() {
    let w = interrupted();
    let id = w.records()[0].id.clone();
    assert_eq!(w.clear_under(&StartsMeanwhile), 0);
    assert_eq!(w.records().len(), 1, "the other tab's run keeps its record");
    assert!(w.s3.uploads.borrow().contains_key("up1"), "and its upload");
    assert_eq!(w.clear(), 1);
    assert!(
        !block_on(w.other_tabs.held(&id)),
        "the claim ended with the abort"
    );
}

// ---- review: candidate defects ----

#[test]
fn a_record_left_in_memory_never_hides_the_newer_one_a_later_run_wrote() {
    use resupload::fallback::FallbackStore;
    let w = World::new(SIZE);
    // The page's memory store (shared by its runs) and the browser's
    // IndexedDB (shared by every store opened over it).
    let (memory, browser) = (Rc::new(MemoryStore::new()), Rc::new(MemoryStore::new()));
    let failing = Rc::new(Cell::new(true));
    let open = || {
        let failing = Rc::clone(&failing);
        let primary = HookedStore {
            inner: Rc::clone(&browser),
            save_fails: Box::new(move || failing.get()),
            before_remove: Box::new(|| {}),
        };
        FallbackStore::new(Ok(Box::new(primary)), Rc::clone(&memory), Box::new(|_| {}))
    };
    let drive = |store: &FallbackStore, polls: usize| {
        let driver = Driver {
            store,
            ..w.driver()
        };
        let mut run = Box::pin(driver.run(&w.file));
        poll_pending(run.as_mut(), polls);
    };
    // Run 1: IndexedDB is full, the record goes on in memory; part 3 hangs
    // and the run is paused.
    w.s3.fail(3, &[Fault::Hang]);
    drive(&open(), 200);
    assert_eq!(block_on(memory.list()).unwrap().len(), 1, "in memory");
    // Space freed. Run 2 (same page): IndexedDB works, every part is sent,
    // the store completes the upload, and a pause drops the run before the
    // answer comes.
    failing.set(false);
    w.s3.complete_answer_lost.set(true);
    drive(&open(), 500);
    assert_eq!(w.s3.objects.borrow().len(), 1, "the store completed it");
    // Run 3: as README promises, the upload whose every part was stored is
    // completed again, nothing sent again, one object.
    let sent = w.s3.puts().len();
    let store = open();
    let driver = Driver {
        store: &store,
        ..w.driver()
    };
    let done = block_on(driver.run(&w.file)).unwrap();
    assert!(
        w.log.restarted.borrow().is_empty(),
        "restarted: {:?}",
        w.log.restarted.borrow()
    );
    assert_eq!(done.upload_id, "up1");
    assert_eq!(w.s3.puts().len(), sent, "no part sent again");
    assert_eq!(w.s3.objects.borrow().len(), 1, "one object");
}

#[test]
fn an_abort_that_asks_the_complete_again_never_waits_for_the_network() {
    let w = dropped_during_complete(false);
    // The abort meets NoSuchUpload (the store completed the upload); the
    // complete asked again meets the network down.
    w.s3.completes_offline.set(true);
    let aborted = block_on(w.driver().abort(&w.file));
    assert!(
        matches!(
            aborted.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::Network { .. })
        ),
        "{aborted:?}"
    );
    assert_eq!(
        w.timer.online_waits.get(),
        0,
        "abort() must not wait for the network"
    );
}

#[test]
fn a_runs_sweep_never_collects_a_record_another_run_holds() {
    // Tab A resumed its upload close to expiry (onExpiringSoon) and is
    // still sending past it; tab B starts another file of the namespace.
    let (mut w, _, first) = two_interrupted_the_first_held();
    let mut held = w.records().into_iter().find(|r| r.id == first).unwrap();
    held.created_at = w.timer.now_ms() - 7.1 * DAY;
    block_on(w.store.save(&held)).unwrap();
    w.file.identity.name = "third.mp4".into();
    w.run().unwrap();
    assert!(
        w.records().iter().any(|r| r.id == first),
        "the record tab A's run holds was deleted under it"
    );
}

#[test]
fn an_empty_file_dropped_during_complete_is_completed_again() {
    let w = World::new(0);
    w.s3.complete_answer_lost.set(true);
    w.run_and_drop_after(500);
    assert_eq!(w.s3.objects.borrow().len(), 1, "the store completed it");
    assert_eq!(w.records().len(), 1, "the record stays");
    let done = w.run().unwrap();
    assert!(
        w.log.restarted.borrow().is_empty(),
        "restarted: {:?}",
        w.log.restarted.borrow()
    );
    assert_eq!(done.upload_id, "up1", "the upload the store completed");
    assert_eq!(w.s3.objects.borrow().len(), 1, "one object");
}

#[test]
fn an_abort_of_an_empty_file_the_store_completed_says_already_completed() {
    let w = World::new(0);
    w.s3.complete_answer_lost.set(true);
    w.run_and_drop_after(500);
    let aborted = block_on(w.driver().abort(&w.file));
    assert!(
        matches!(
            aborted.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::AlreadyCompleted)
        ),
        "{aborted:?}"
    );
}
