//! Runs one upload over the [ports](crate::ports): create or resume, send the
//! parts with bounded concurrency and retries, complete.
//!
//! The record is saved before each part starts and again when it finishes, so
//! a crash or a dropped future (that is how `pause()` stops a run) leaves a
//! record that resuming can reconcile with the server's part list.

use std::cell::{Cell, RefCell};
use std::pin::pin;

use futures::future::{select, Either};
use futures::stream::{FuturesUnordered, StreamExt};

use crate::core::checksum::{composite, composites_match, Sha256Digest};
use crate::core::fingerprint::{fingerprint, FileIdentity};
use crate::core::plan::PartPlan;
use crate::core::reconcile::reconcile;
use crate::core::record::{NewRecord, PartState, UploadRecord};
use crate::core::retry::Decision;
use crate::error::Error;
use crate::options::{ChecksumMode, UploadOptions};
use crate::ports::{
    Backend, CompletedPart, Events, ExpiringSoon, PartBookkeeping, PartCompleted, PartIo, Progress,
    RecordStore, Restarted, Resumed, Timer, Warning, SHA256,
};
use crate::slots::Slots;

/// The file as the driver sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// Name, size and lastModified.
    pub identity: FileIdentity,
    /// `File.type` (may be empty).
    pub file_type: String,
    /// The content fingerprint
    /// ([`sample_digest`](crate::core::fingerprint::sample_digest)), when
    /// it could be read.
    pub sample_sha256: Option<String>,
}

/// What a finished upload gives back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Completed {
    /// The object key.
    pub key: String,
    /// The multipart upload id.
    pub upload_id: String,
    /// The object's URL as the backend gave it.
    pub location: String,
    /// The object's composite SHA-256 checksum (`base64-N`), computed here
    /// and confirmed by the store, for an upload with checksums.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<String>,
}

/// One upload's run over its ports.
pub struct Driver<'a, B, P, R, T> {
    /// The signing backend.
    pub backend: &'a B,
    /// Reads, hashes and sends part bytes.
    pub parts: &'a P,
    /// Persists records.
    pub store: &'a R,
    /// Clock and sleeping.
    pub timer: &'a T,
    /// Receives progress and other events.
    pub events: &'a dyn Events,
    /// The options.
    pub options: &'a UploadOptions,
}

impl<B: Backend, P: PartIo, R: RecordStore, T: Timer> Driver<'_, B, P, R, T> {
    /// The record key of `file` under these options.
    pub fn record_id(&self, file: &FileInfo) -> String {
        fingerprint(
            &self.options.namespace,
            self.options.endpoint_base(),
            &file.identity,
        )
    }

    /// Uploads `file`, resuming a stored upload of it when there is one.
    pub async fn run(&self, file: &FileInfo) -> Result<Completed, Error> {
        self.options.validate()?;
        let plan = PartPlan::new(
            file.identity.size,
            self.options.part_size,
            self.options.max_object_size,
        )?;
        let id = self.record_id(file);
        let stored = self.tidy_records(&id, file).await?;
        match self.run_once(file, &plan, &id, stored).await {
            // The server lost the upload midway (expired or aborted): the
            // parts it had are gone too, so start afresh, once.
            Err(Error::NoSuchUpload { .. }) => {
                self.store.remove(&id).await?;
                self.events.restarted(Restarted { reason: "expired" });
                self.run_once(file, &plan, &id, None).await
            }
            other => other,
        }
    }

    async fn run_once(
        &self,
        file: &FileInfo,
        plan: &PartPlan,
        id: &str,
        stored: Option<UploadRecord>,
    ) -> Result<Completed, Error> {
        let resumed = match stored {
            Some(record) if self.matches(&record, file) => {
                if self.content_changed(&record, file) {
                    self.restart_changed(&record).await?;
                    None
                } else {
                    self.resume(record).await?
                }
            }
            Some(record) => {
                self.store.remove(&record.id).await?;
                None
            }
            None => None,
        };
        if let Some((record, unconfirmed)) = resumed {
            let verify = self.parts_to_verify(&record, file);
            match self.upload(record, unconfirmed, verify, file).await? {
                Uploaded::Completed(done) => return Ok(done),
                // A part the server holds is not what the file holds now:
                // never mix the two, start afresh.
                Uploaded::ContentChanged(record) => self.restart_changed(&record).await?,
            }
        }
        let record = self.create(id, file, plan).await?;
        match self.upload(record, Vec::new(), Vec::new(), file).await? {
            Uploaded::Completed(done) => Ok(done),
            Uploaded::ContentChanged(_) => unreachable!("a fresh upload verifies no part"),
        }
    }

    /// Sends the parts not done and completes; with `verify` (the parts a
    /// resumed upload skips), re-hashes those beside the sending, and stops
    /// as soon as one differs.
    async fn upload(
        &self,
        record: UploadRecord,
        unconfirmed: Vec<u32>,
        verify: Vec<(u32, Option<String>)>,
        file: &FileInfo,
    ) -> Result<Uploaded, Error> {
        let hash = record.checksum_algorithm.is_some() || file.identity.is_stream();
        let state = RefCell::new(record);
        let verified = {
            let sending = pin!(async {
                if file.identity.size > 0 {
                    self.send_parts(&state, hash, file.identity.is_stream())
                        .await
                } else {
                    Ok(())
                }
            });
            let verifying = pin!(self.verify_parts(&state, verify));
            match select(sending, verifying).await {
                Either::Left((sent, verifying)) => {
                    sent?;
                    verifying.await?
                }
                // A changed part stops the sending at once (dropping it
                // aborts the requests in flight).
                Either::Right((verified, sending)) => {
                    if verified? {
                        sending.await?;
                        true
                    } else {
                        false
                    }
                }
            }
        };
        if !verified {
            return Ok(Uploaded::ContentChanged(state.into_inner()));
        }
        let snapshot = state.borrow().clone();
        let completed = match self.complete(&snapshot).await {
            Err(e) if is_invalid_part(&e) && !unconfirmed.is_empty() => {
                // The store refused a part it lists: one of those adopted
                // from its list without a confirmation here. Send them again
                // in full, then complete once more.
                for number in unconfirmed {
                    self.mark(&state, number, PartState::Pending, None, None)
                        .await?;
                }
                self.send_parts(&state, hash, file.identity.is_stream())
                    .await?;
                let snapshot = state.borrow().clone();
                self.complete(&snapshot).await
            }
            other => other,
        }?;
        Ok(Uploaded::Completed(completed))
    }

    /// The parts a resume must re-hash before trusting the server's copy,
    /// each with the checksum to compare against (`None`: nothing to compare
    /// with). A streaming source always verifies (nothing else tells a
    /// changed generator apart); a file when `verify_on_resume` is on.
    fn parts_to_verify(
        &self,
        record: &UploadRecord,
        file: &FileInfo,
    ) -> Vec<(u32, Option<String>)> {
        let stream = file.identity.is_stream();
        if !(stream || self.options.verify_on_resume) {
            return Vec::new();
        }
        record
            .parts
            .iter()
            .filter(|p| p.state == PartState::Done)
            // A file part without a checksum cannot be compared: trust it,
            // as before checksums (its name, size, date and content sample
            // matched). A streaming source part without one is never trusted.
            .filter(|p| stream || p.checksum.is_some())
            .map(|p| (p.number, p.checksum.clone()))
            .collect()
    }

    /// Re-hashes each part in `verify` from the source, one at a time, and
    /// compares it with its checksum; answers whether all matched.
    async fn verify_parts(
        &self,
        state: &RefCell<UploadRecord>,
        verify: Vec<(u32, Option<String>)>,
    ) -> Result<bool, Error> {
        for (number, expected) in verify {
            let Some(expected) = expected.as_deref().and_then(Sha256Digest::from_base64) else {
                return Ok(false);
            };
            let range = state.borrow().plan().range(number);
            let body = self.parts.body(range).await?;
            if self.parts.sha256(&body).await? != expected {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One pass over the stored records before a run: deletes this
    /// namespace's records past their expiry (orphans of uploads nobody came
    /// back to), and, when `id` has no record, restarts the upload of a file
    /// with the same name and size under another date (the file changed).
    /// Answers the record `id`, if there is one (one read for both).
    async fn tidy_records(&self, id: &str, file: &FileInfo) -> Result<Option<UploadRecord>, Error> {
        let now = self.timer.now_ms();
        let mut records = self.store.list().await?;
        let own = records
            .iter()
            .position(|r| r.id == id)
            .map(|i| records.swap_remove(i));
        for record in records {
            if record.namespace == self.options.namespace
                && now >= self.options.expires_at(record.created_at)
            {
                self.store.remove(&record.id).await?;
            } else if own.is_none() && self.same_name_and_size(&record, file) {
                self.restart_changed(&record).await?;
            }
        }
        Ok(own)
    }

    /// Aborts the stored upload of `file` on the server and deletes its
    /// record. An upload the server no longer knows is simply forgotten.
    /// Answers whether there was a record.
    pub async fn abort(&self, file: &FileInfo) -> Result<bool, Error> {
        let id = self.record_id(file);
        let Some(record) = self.store.load(&id).await? else {
            return Ok(false);
        };
        match self
            .with_retries(|| self.backend.abort(&record.upload_id, &record.key))
            .await
        {
            Ok(()) | Err(Error::NoSuchUpload { .. }) => {}
            Err(e) => return Err(e),
        }
        self.store.remove(&id).await?;
        Ok(true)
    }

    fn matches(&self, record: &UploadRecord, file: &FileInfo) -> bool {
        record.is_usable()
            && record.file_name == file.identity.name
            && record.file_size == file.identity.size
            && record.last_modified.to_bits() == file.identity.last_modified.to_bits()
            && record.namespace == self.options.namespace
            && record.endpoint == self.options.endpoint_base()
    }

    fn content_changed(&self, record: &UploadRecord, file: &FileInfo) -> bool {
        matches!(
            (&record.sample_sha256, &file.sample_sha256),
            (Some(stored), Some(now)) if stored != now
        )
    }

    fn same_name_and_size(&self, record: &UploadRecord, file: &FileInfo) -> bool {
        record.namespace == self.options.namespace
            && record.endpoint == self.options.endpoint_base()
            && record.file_name == file.identity.name
            && record.file_size == file.identity.size
            && record.last_modified.to_bits() != file.identity.last_modified.to_bits()
    }

    /// The file changed since its stored upload began: that upload is
    /// aborted (best effort) and forgotten, never mixed with new bytes.
    async fn restart_changed(&self, record: &UploadRecord) -> Result<(), Error> {
        let _ = self.backend.abort(&record.upload_id, &record.key).await;
        self.store.remove(&record.id).await?;
        self.events.restarted(Restarted {
            reason: "file-changed",
        });
        Ok(())
    }

    /// Reconciles a stored record with the server; answers it with the parts
    /// adopted from the server's list unconfirmed. `None` means the server
    /// no longer has the upload: the record is deleted and the caller starts
    /// afresh. A network failure keeps the record and fails the run.
    async fn resume(
        &self,
        mut record: UploadRecord,
    ) -> Result<Option<(UploadRecord, Vec<u32>)>, Error> {
        let now = self.timer.now_ms();
        let expires_at = self.options.expires_at(record.created_at);
        if now >= expires_at {
            // Past the server's lifecycle rule: whatever it still holds is
            // about to go. Abort it (best effort) and start afresh.
            let _ = self.backend.abort(&record.upload_id, &record.key).await;
            return self.forget(&record).await;
        }
        let listed = self
            .with_retries(|| self.backend.list_parts(&record.upload_id, &record.key))
            .await;
        let server_parts = match listed {
            Ok(parts) => parts,
            // Companion answers "no such upload" as an HTML 500: any HTTP
            // failure of the list means the upload cannot be resumed.
            Err(Error::NoSuchUpload { .. } | Error::Http { .. } | Error::BadResponse { .. }) => {
                return self.forget(&record).await;
            }
            Err(e) => return Err(e),
        };
        if now >= expires_at - self.options.expiry_warning_ms {
            self.events.expiring_soon(ExpiringSoon {
                upload_id: record.upload_id.clone(),
                expires_at,
            });
        }
        let outcome = reconcile(&mut record, &server_parts);
        record.updated_at = self.timer.now_ms();
        // Only what reconciling changed is written (usually the few parts
        // that were in flight), not the whole record.
        let record = RefCell::new(record);
        self.store.save_parts(&record, &outcome.changed).await?;
        let record = record.into_inner();
        self.events.resumed(Resumed {
            upload_id: record.upload_id.clone(),
            skipped_parts: outcome.skipped_parts,
            skipped_bytes: outcome.skipped_bytes,
        });
        Ok(Some((record, outcome.unconfirmed)))
    }

    /// Deletes a record that cannot be resumed and says the upload restarts.
    async fn forget(
        &self,
        record: &UploadRecord,
    ) -> Result<Option<(UploadRecord, Vec<u32>)>, Error> {
        self.store.remove(&record.id).await?;
        self.events.restarted(Restarted { reason: "expired" });
        Ok(None)
    }

    async fn create(
        &self,
        id: &str,
        file: &FileInfo,
        plan: &PartPlan,
    ) -> Result<UploadRecord, Error> {
        let created = self
            .with_retries(|| {
                self.backend.create(
                    &self.options.namespace,
                    &file.identity.name,
                    &file.file_type,
                    &self.options.metadata,
                    (self.options.checksum != ChecksumMode::None).then_some(SHA256),
                )
            })
            .await?;
        let checksums = created
            .checksum_algorithm
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(SHA256));
        if !checksums && self.options.checksum != ChecksumMode::None {
            if self.options.checksum == ChecksumMode::Sha256 {
                let _ = self.backend.abort(&created.upload_id, &created.key).await;
                return Err(Error::ChecksumUnsupported);
            }
            self.events.warning(Warning {
                code: "CHECKSUM_UNSUPPORTED",
                message: "the signing backend does not support SHA-256 part checksums \
                          (a plain Uppy Companion): uploading without them; pass \
                          checksum: \"none\" to silence this"
                    .into(),
            });
        }
        let record = UploadRecord::new(
            NewRecord {
                id,
                namespace: &self.options.namespace,
                endpoint: self.options.endpoint_base(),
                upload_id: &created.upload_id,
                key: &created.key,
                file_name: &file.identity.name,
                last_modified: file.identity.last_modified,
                file_type: &file.file_type,
                now: self.timer.now_ms(),
                sample_sha256: file.sample_sha256.as_deref(),
                checksum_algorithm: checksums.then_some(SHA256),
            },
            plan,
        );
        self.store.save(&record).await?;
        Ok(record)
    }

    /// Sends every part not yet done, `concurrency` at a time. When a part
    /// fails for good, no new part starts, the parts in flight finish (and are
    /// recorded), and the first error is returned.
    /// With `hash`, each part is hashed before it is sent, and its checksum
    /// saved (and signed, when the upload was created with checksums).
    async fn send_parts(
        &self,
        state: &RefCell<UploadRecord>,
        hash: bool,
        streaming: bool,
    ) -> Result<(), Error> {
        let (mut queue, tracker) = {
            let record = state.borrow();
            let confirmed = record
                .parts
                .iter()
                .filter(|p| p.state == PartState::Done)
                .map(|p| p.size)
                .sum();
            let queue: Vec<u32> = record
                .parts
                .iter()
                .rev()
                .filter(|p| p.state != PartState::Done)
                .map(|p| p.number)
                .collect();
            (queue, ProgressTracker::new(confirmed, record.file_size))
        };
        let tracker = RefCell::new(tracker);
        let run = PartsRun {
            state,
            tracker: &tracker,
            slow_until: Cell::new(0.0),
            sending: Slots::new(self.options.concurrency as usize),
            stopping: Cell::new(false),
            hash,
            watch_progress: Cell::new(true),
        };
        self.emit_progress(&tracker);
        // Parts are prepared (read and hashed) ahead of the sending slots, so
        // a freed slot finds its next part hashed already. A file's part is a
        // lazy Blob slice: preparing ahead costs no memory. A streaming
        // source's part is held in memory: no preparing ahead for it.
        let concurrency = self.options.concurrency as usize;
        let ahead = if hash && !streaming { concurrency } else { 0 };
        let mut running = FuturesUnordered::new();
        let mut first_error = None;
        loop {
            while first_error.is_none() && running.len() < concurrency + ahead {
                match queue.pop() {
                    Some(number) => running.push(self.send_part(&run, number)),
                    None => break,
                }
            }
            match running.next().await {
                None => break,
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    // No new part starts; parts waiting for a slot give up
                    // theirs; the parts in flight finish and are recorded.
                    run.stopping.set(true);
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn send_part(&self, run: &PartsRun<'_>, number: u32) -> Result<(), Error> {
        let (state, tracker, slow_until, hash) =
            (run.state, run.tracker, &run.slow_until, run.hash);
        let (upload_id, key, range, signed) = {
            let record = state.borrow();
            (
                record.upload_id.clone(),
                record.key.clone(),
                record.plan().range(number),
                record.checksum_algorithm.is_some(),
            )
        };
        let body = self.parts.body(range.clone()).await?;
        let checksum = match hash {
            true => Some(self.parts.sha256(&body).await?.to_base64()),
            false => None,
        };
        let slot = run.sending.acquire().await;
        if run.stopping.get() {
            return Ok(());
        }
        let signed_checksum = checksum.as_deref().filter(|_| signed);
        // The part's state (and checksum) is saved before its first byte is
        // sent: a resume can then check whatever the server ends up holding
        // against it. The first URL is signed meanwhile.
        let started = self.timer.now_ms();
        let write = async {
            let written = self
                .mark(state, number, PartState::InFlight, None, checksum.clone())
                .await;
            (written, self.timer.now_ms() - started)
        };
        let sign = async {
            let url = self
                .backend
                .sign_part(&upload_id, &key, number, signed_checksum)
                .await;
            (url, self.timer.now_ms() - started)
        };
        let ((written, mut bookkeeping_ms), (first_url, signing_ms)) =
            futures::future::join(write, sign).await;
        written?;
        // What the state write added to the wait for the part's request.
        let blocking_ms = (bookkeeping_ms - signing_ms).max(0.0);
        let first_url = Cell::new(Some(first_url));
        // The furthest any attempt got; an attempt that gets further earns
        // the part a fresh retry budget (a flaky link still makes headway).
        let furthest = Cell::new(0u64);
        let got_further = Cell::new(false);
        let on_progress = |sent: u64| {
            if sent > furthest.get() {
                furthest.set(sent);
                got_further.set(true);
            }
            tracker.borrow_mut().part_sent(number, sent);
            self.emit_progress(tracker);
        };
        let etag = self
            .with_retries_resetting(
                || async {
                    // A 429 to any part holds every part's next request.
                    let wait = slow_until.get() - self.timer.now_ms();
                    if wait > 0.0 {
                        self.timer.sleep(wait.ceil() as u32).await;
                    }
                    got_further.set(false);
                    tracker.borrow_mut().part_sent(number, 0);
                    let url = match first_url.take() {
                        Some(signed) => signed?,
                        None => {
                            self.backend
                                .sign_part(&upload_id, &key, number, signed_checksum)
                                .await?
                        }
                    };
                    let watch = run.watch_progress.get();
                    let sending = self.timer.now_ms();
                    let sent = self
                        .parts
                        .send(&url, number, &body, signed_checksum, watch, &on_progress)
                        .await;
                    if sent.is_ok() {
                        run.part_took(self.timer.now_ms() - sending, self.options.stall_timeout_ms);
                    }
                    let sent = sent.map_err(|e| match e {
                        // The store's answer names no upload id: the part's
                        // sender does not know it; the record does.
                        Error::NoSuchUpload { upload_id: unnamed } if unnamed.is_empty() => {
                            Error::NoSuchUpload {
                                upload_id: upload_id.clone(),
                            }
                        }
                        other => other,
                    });
                    if let Err(Error::Http {
                        status: 429,
                        retry_after_ms,
                        ..
                    }) = &sent
                    {
                        let pause = retry_after_ms.unwrap_or(SLOW_DOWN_MS);
                        let until = self.timer.now_ms() + f64::from(pause);
                        slow_until.set(slow_until.get().max(until));
                    }
                    sent
                },
                || got_further.get(),
            )
            .await?;
        // The next part may go on the wire while this one's state is saved.
        drop(slot);
        let started = self.timer.now_ms();
        self.mark(state, number, PartState::Done, Some(etag.clone()), checksum)
            .await?;
        bookkeeping_ms += self.timer.now_ms() - started;
        self.events.part_bookkeeping(PartBookkeeping {
            part_number: number,
            state_writes_ms: bookkeeping_ms,
            blocking_ms,
        });
        let size = range.end - range.start;
        tracker.borrow_mut().part_confirmed(number, size);
        self.events.part_completed(PartCompleted {
            part_number: number,
            size,
            etag,
        });
        self.emit_progress(tracker);
        Ok(())
    }

    /// Sets a part's state and saves it (the store reads the record before
    /// its first await, so writes reach the store in the order the states
    /// changed).
    async fn mark(
        &self,
        state: &RefCell<UploadRecord>,
        number: u32,
        part_state: PartState,
        etag: Option<String>,
        checksum: Option<String>,
    ) -> Result<(), Error> {
        {
            let mut record = state.borrow_mut();
            if let Some(part) = record.part_mut(number) {
                part.state = part_state;
                part.etag = etag;
                part.checksum = checksum;
            }
            record.updated_at = self.timer.now_ms();
        }
        self.store.save_parts(state, &[number]).await
    }

    async fn complete(&self, record: &UploadRecord) -> Result<Completed, Error> {
        let with_checksums = record.checksum_algorithm.is_some();
        let parts: Vec<CompletedPart> = if record.file_size == 0 {
            // An empty object has no part to send; the backend stores it
            // from an empty part list.
            Vec::new()
        } else {
            record
                .parts
                .iter()
                .map(|p| match (&p.state, &p.etag) {
                    (PartState::Done, Some(etag)) => Ok(CompletedPart {
                        part_number: p.number,
                        etag: etag.clone(),
                        checksum_sha256: p.checksum.clone().filter(|_| with_checksums),
                    }),
                    _ => Err(Error::BadResponse {
                        operation: crate::error::Operation::Complete,
                        detail: format!("part {} has no ETag at completion", p.number),
                    }),
                })
                .collect::<Result<_, _>>()?
        };
        let answer = self
            .with_retries(|| {
                self.backend
                    .complete(&record.upload_id, &record.key, &parts)
            })
            .await?;
        // The upload is over on the server either way: its record goes.
        self.store.remove(&record.id).await?;
        let checksum_sha256 = if with_checksums && !parts.is_empty() {
            match (object_checksum(&parts), answer.checksum_sha256) {
                (Some(local), Some(remote)) if composites_match(&local, &remote) => Some(local),
                (Some(local), Some(remote)) => {
                    return Err(Error::ChecksumMismatch {
                        expected: local,
                        actual: remote,
                    })
                }
                _ => {
                    self.events.warning(Warning {
                        code: "CHECKSUM_UNVERIFIED",
                        message: "the store checked each part's SHA-256, but the object's \
                                  checksum could not be compared (the backend did not pass it \
                                  on, or a part's checksum is unknown)"
                            .into(),
                    });
                    None
                }
            }
        } else {
            None
        };
        Ok(Completed {
            key: record.key.clone(),
            upload_id: record.upload_id.clone(),
            location: answer.location,
            checksum_sha256,
        })
    }

    /// Runs `attempt` until it succeeds or the retry policy gives up.
    async fn with_retries<V, F, Fut>(&self, attempt: F) -> Result<V, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<V, Error>>,
    {
        self.with_retries_resetting(attempt, || false).await
    }

    /// [`Self::with_retries`], starting the retry count over whenever
    /// `made_headway` says the failed attempt got further than any before.
    async fn with_retries_resetting<V, F, Fut>(
        &self,
        mut attempt: F,
        made_headway: impl Fn() -> bool,
    ) -> Result<V, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<V, Error>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    if !self
                        .wait_to_retry(&error, &mut retries, made_headway())
                        .await
                    {
                        return Err(error);
                    }
                }
            }
        }
    }

    /// After a failed attempt: whether to try again, having waited as the
    /// retry policy says (and for the network, when offline). One function
    /// for every kind of attempt, so its waiting is compiled once.
    async fn wait_to_retry(&self, error: &Error, retries: &mut usize, made_headway: bool) -> bool {
        if error.is_retryable() && made_headway {
            *retries = 0;
        }
        if matches!(error, Error::Network { .. }) {
            // Offline: wait for the network before spending a retry on it.
            self.timer.until_online().await;
        }
        match self.options.retry.decide(error, *retries) {
            Decision::RetryAfter(ms) => {
                *retries += 1;
                self.timer.sleep(ms).await;
                true
            }
            Decision::GiveUp => false,
        }
    }

    fn emit_progress(&self, tracker: &RefCell<ProgressTracker>) {
        let progress = tracker.borrow_mut().snapshot();
        if let Some(progress) = progress {
            self.events.progress(progress);
        }
    }
}

/// How long every part holds back after a 429 without `Retry-After`.
const SLOW_DOWN_MS: u32 = 1000;

/// What the parts of one [`Driver::send_parts`] share.
struct PartsRun<'a> {
    /// The record being uploaded.
    state: &'a RefCell<UploadRecord>,
    /// The progress of the whole upload.
    tracker: &'a RefCell<ProgressTracker>,
    /// Until when every part holds back after a 429 (ms since the epoch).
    slow_until: Cell<f64>,
    /// The parts on the wire at once (`concurrency`).
    sending: Slots,
    /// Set once a part failed for good: parts not yet sending give up.
    stopping: Cell<bool>,
    /// Whether parts are hashed before they are sent.
    hash: bool,
    /// Whether part requests report their progress (see [`PartsRun::part_took`]).
    watch_progress: Cell<bool>,
}

impl PartsRun<'_> {
    /// Learns from how long a part's request took whether the next ones
    /// should report their progress. Watching costs throughput (15-19% in
    /// Chromium here), and is needed where a part takes long: to show
    /// progress within it, and to tell a stalled request from a slow one.
    /// Where a part took under an eighth of the stall timeout, the next ones
    /// go unwatched, and a request that does not finish within the stall
    /// timeout is given up; one slower part turns watching back on.
    fn part_took(&self, ms: f64, stall_timeout_ms: u32) {
        self.watch_progress
            .set(ms >= f64::from(stall_timeout_ms) / 8.0);
    }
}

/// The outcome of [`Driver::upload`].
enum Uploaded {
    /// The object is complete.
    Completed(Completed),
    /// A part the server holds differs from the source's bytes now; the
    /// record is handed back so its upload can be aborted.
    ContentChanged(UploadRecord),
}

/// The composite checksum of the object these parts make, when every part
/// has a readable checksum.
fn object_checksum(parts: &[CompletedPart]) -> Option<String> {
    if parts.is_empty() {
        return None;
    }
    let digests: Option<Vec<Sha256Digest>> = parts
        .iter()
        .map(|p| {
            p.checksum_sha256
                .as_deref()
                .and_then(Sha256Digest::from_base64)
        })
        .collect();
    digests.map(|d| composite(&d))
}

/// Whether the store refused a part at completion (S3's `InvalidPart`).
fn is_invalid_part(error: &Error) -> bool {
    matches!(error, Error::Http { status: 400, body, .. } if body.contains("InvalidPart"))
}

/// Sums confirmed bytes and the bytes of parts in flight, never reporting
/// less than before.
#[derive(Debug)]
struct ProgressTracker {
    confirmed: u64,
    total: u64,
    /// The bytes sent of each part in flight (a handful: a Vec is smaller
    /// code than a map).
    in_flight: Vec<(u32, u64)>,
    last: Option<Progress>,
}

impl ProgressTracker {
    fn new(confirmed: u64, total: u64) -> Self {
        ProgressTracker {
            confirmed,
            total,
            in_flight: Vec::new(),
            last: None,
        }
    }

    fn part_sent(&mut self, number: u32, sent: u64) {
        match self.in_flight.iter_mut().find(|e| e.0 == number) {
            Some(entry) => entry.1 = sent,
            None => self.in_flight.push((number, sent)),
        }
    }

    fn part_confirmed(&mut self, number: u32, size: u64) {
        self.in_flight.retain(|e| e.0 != number);
        self.confirmed += size;
    }

    /// The progress to report, or `None` if nothing changed.
    fn snapshot(&mut self) -> Option<Progress> {
        let in_flight: u64 = self.in_flight.iter().map(|e| e.1).sum();
        let previous_sent = self.last.map_or(0, |p| p.sent_bytes);
        let next = Progress {
            sent_bytes: (self.confirmed + in_flight)
                .min(self.total)
                .max(previous_sent),
            confirmed_bytes: self.confirmed,
            total_bytes: self.total,
        };
        if self.last == Some(next) {
            return None;
        }
        self.last = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_never_goes_backwards() {
        let mut t = ProgressTracker::new(0, 100);
        t.part_sent(1, 40);
        assert_eq!(t.snapshot().unwrap().sent_bytes, 40);
        t.part_sent(1, 0); // a retry starts over
        assert_eq!(t.snapshot(), None, "nothing new to say");
        t.part_sent(1, 50);
        assert_eq!(t.snapshot().unwrap().sent_bytes, 50);
        t.part_confirmed(1, 50);
        let p = t.snapshot().unwrap();
        assert_eq!(
            (p.sent_bytes, p.confirmed_bytes, p.total_bytes),
            (50, 50, 100)
        );
    }
}
