//! One upload's run over the [ports](crate::ports), in phases, one module
//! each:
//! - `resume`: sweep the stored records, reconcile a stored upload with
//!   the server's part list (the server wins), restart a changed file;
//! - `create`: start a fresh multipart upload, agreeing on checksums;
//! - `adopt`: with no record here, the create may answer the caller's
//!   upload of the same content begun elsewhere, which is then continued;
//! - `parts`: send the missing parts with bounded concurrency, each
//!   recorded before it starts and when it is confirmed; the first part is
//!   hashed while a fresh upload is created, and a resume's first missing
//!   part prepared and signed while the part list is on its way
//!   (`head_start`);
//! - `verify`: on resume, re-hash the parts the server holds beside the
//!   sending, and stop at the first that differs;
//! - `complete`: complete with every part, and compare the object's
//!   checksum;
//! - [`retry`], `hold` and `progress`: retries with their waits, the
//!   hold every part keeps after a 429, and progress that never goes back.
//!
//! A record travels boxed in its cell (`RunState`) from where it is
//! first read or made to the end of the run: it is 168 bytes on wasm32,
//! and every future that holds it across an await would be that much
//! wider, which costs code at each move (BENCHMARKS.md, "the wide values
//! the futures carry, boxed"; `ReadyPart` and `Completed` go boxed for the
//! same reason).
//!
//! The record is saved before each part starts and again when it finishes,
//! so a crash or a dropped future (that is how `pause()` stops a run) leaves
//! a record that resuming can reconcile with the server's part list.

mod adopt;
mod complete;
mod create;
mod elsewhere;
mod head_start;
mod hold;
mod live;
mod parts;
mod progress;
mod resume;
pub mod retry;
mod single;
mod verify;

pub(crate) use live::is_live;

use std::cell::RefCell;
use std::pin::pin;

use futures::future::{select, Either};

use crate::core::fingerprint::FileIdentity;
use crate::core::plan::PartPlan;
use crate::core::record::UploadRecord;
use crate::error::{Error, ErrorKind};
use crate::options::UploadOptions;
use crate::ports::{
    Backend, Claims, Events, PartSender, PartSource, RecordStore, RestartReason, Timer,
};
use crate::slots::RampedSlots;
use parts::{Pass, ReadyPart};
use resume::{ResumeOutcome, Resumption};

/// A run's record, boxed in its cell from where the sweep reads it or the
/// create makes it: the state the run's parts update (see the module doc).
type RunState = Box<RefCell<UploadRecord>>;

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

/// What a finished upload gives back, boxed where it is passed on
/// (`Result<Box<Completed>, Error>`): 48 bytes on wasm32 that every
/// future on the way would carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The object key.
    pub key: String,
    /// The multipart upload id.
    pub upload_id: String,
    /// The object's URL as the backend gave it.
    pub location: String,
    /// The object's composite SHA-256 checksum (`base64-N`), computed here
    /// and confirmed by the store, for an upload with checksums.
    pub checksum_sha256: Option<String>,
}

/// One upload's run over its ports. `B` is a part's bytes (a `Blob` in a
/// browser).
pub struct Driver<'a, B> {
    /// The signing backend.
    pub backend: &'a dyn Backend,
    /// Where part bytes come from.
    pub source: &'a dyn PartSource<B>,
    /// What sends them.
    pub sender: &'a dyn PartSender<B>,
    /// Where records persist.
    pub store: &'a dyn RecordStore,
    /// Which records runs of other tabs hold.
    pub claims: &'a dyn Claims,
    /// Clock and sleeping.
    pub timer: &'a dyn Timer,
    /// Receives progress and other events.
    pub events: &'a dyn Events,
    /// The options.
    pub options: &'a UploadOptions,
    /// Requests in flight shared with other uploads (an upload queue's
    /// one budget), if any: each part holds one while it is sent.
    pub budget: Option<&'a RampedSlots>,
}

impl<B> Driver<'_, B> {
    /// The record key of `file` under these options.
    pub fn record_id(&self, file: &FileInfo) -> String {
        self.options.record_id(&file.identity)
    }

    /// Uploads `file`, resuming a stored upload of it when there is one.
    pub async fn run(&self, file: &FileInfo) -> Result<Box<Completed>, Error> {
        self.options.validate()?;
        let plan = PartPlan::new(
            file.identity.size,
            self.options.part_size,
            self.options.max_object_size,
        )?;
        let id = self.record_id(file);
        let _live = live::LiveRun::new(&id);
        let stored = self.sweep_records(&id, file).await?;
        // With no record here, the create may adopt an upload of this
        // content begun elsewhere (see `adopt`).
        let adopt = stored.is_none();
        match self.run_once(file, &plan, &id, stored, adopt).await {
            // The server lost the upload midway (expired or aborted): the
            // parts it had are gone too, so start afresh, once (the record
            // stays until the fresh one replaces it: `restart_changed`).
            // Unless another device completed it meanwhile, with this file.
            Err(e) => match e.kind() {
                ErrorKind::NoSuchUpload { upload_id } => {
                    if let Some(done) = self.finished_meanwhile(&id, upload_id).await? {
                        return Ok(done);
                    }
                    self.events.restarted(RestartReason::Expired);
                    self.run_once(file, &plan, &id, None, false).await
                }
                _ => Err(e),
            },
            done => done,
        }
    }

    async fn run_once(
        &self,
        file: &FileInfo,
        plan: &PartPlan,
        id: &str,
        stored: Option<RunState>,
        adopt: bool,
    ) -> Result<Box<Completed>, Error> {
        if let Some(record) = stored {
            if let Some(done) = self.continue_stored(record, file).await? {
                return Ok(done);
            }
        }
        let (state, head) = match self.create_with_head_start(id, file, plan, adopt).await? {
            // Begun elsewhere: continued from its part list, every part it
            // holds verified first.
            (record, _) if record.borrow().adopted => {
                match self.continue_stored(record, file).await? {
                    Some(done) => return Ok(done),
                    None => self.create_with_head_start(id, file, plan, false).await?,
                }
            }
            fresh => fresh,
        };
        let taken = RefCell::new(Vec::new());
        self.send_parts(&state, file, head, Pass::Unstored { taken: &taken })
            .await?;
        self.complete_all(&state, taken.into_inner(), file).await
    }

    /// Continues a stored upload that still fits the file; `None` when it
    /// could not be continued (it was dropped, and a fresh one must start).
    async fn continue_stored(
        &self,
        mut stored: RunState,
        file: &FileInfo,
    ) -> Result<Option<Box<Completed>>, Error> {
        let record = stored.get_mut();
        if !self.matches(record, file) {
            self.store.remove(&record.id).await?;
            return Ok(None);
        }
        if self.content_changed(record, file) {
            self.restart_changed(record).await;
            return Ok(None);
        }
        let Resumption {
            state,
            unconfirmed,
            head,
        } = match self.resume(stored, file).await? {
            ResumeOutcome::Goes(resumption) => *resumption,
            ResumeOutcome::Afresh => return Ok(None),
            ResumeOutcome::CompletedElsewhere(done) => return Ok(Some(done)),
        };
        let verify = self.parts_to_verify(&state.borrow(), file);
        let taken = RefCell::new(unconfirmed);
        let pass = Pass::Unstored { taken: &taken };
        if !self
            .send_beside_verifying(&state, verify, file, head, pass)
            .await?
        {
            // A part the server holds is not what the file holds now:
            // never mix the two, start afresh.
            self.restart_changed(&state.into_inner()).await;
            return Ok(None);
        }
        let unconfirmed = taken.into_inner();
        self.complete_all(&state, unconfirmed, file).await.map(Some)
    }

    /// Sends the missing parts while re-hashing the held ones in `verify`;
    /// answers whether every held part matched. A part that differs stops
    /// the sending at once (dropping it aborts the requests in flight).
    ///
    /// An [adopted](UploadRecord::adopted) upload is verified first and
    /// sent to only after: it may be another device's, going on with its
    /// own file, and a part of a different file sent into it would be
    /// mixed into that device's upload.
    async fn send_beside_verifying(
        &self,
        state: &RefCell<UploadRecord>,
        verify: Vec<(u32, Option<String>)>,
        file: &FileInfo,
        head: Option<Box<ReadyPart<B>>>,
        pass: Pass<'_>,
    ) -> Result<bool, Error> {
        if state.borrow().adopted {
            if !self.verify_parts(state, verify).await? {
                return Ok(false);
            }
            self.send_parts(state, file, head, pass).await?;
            return Ok(true);
        }
        let sending = pin!(self.send_parts(state, file, head, pass));
        let verifying = pin!(self.verify_parts(state, verify));
        match select(sending, verifying).await {
            Either::Left((sent, verifying)) => {
                sent?;
                verifying.await
            }
            Either::Right((verified, sending)) => {
                if !verified? {
                    return Ok(false);
                }
                sending.await?;
                Ok(true)
            }
        }
    }

    /// Aborts the stored upload of `file` on the server and deletes its
    /// record. An upload the server no longer knows is simply forgotten,
    /// unless it was completed: every part was confirmed, and the run was
    /// stopped while completing, after the store completed it. That is
    /// [`ErrorKind::AlreadyCompleted`], and the record stays, so that the next
    /// run answers the object as its resume completes it
    /// again. Answers whether there was a record.
    pub async fn abort(&self, file: &FileInfo) -> Result<bool, Error> {
        let id = self.record_id(file);
        let Some(record) = self.store.load(&id).await? else {
            return Ok(false);
        };
        let abort = || self.backend.abort(&record.upload_id, &record.key);
        let timer = retry::NoWaitForNetwork(self.timer);
        match retry::with_retries(&timer, &self.options.retry, abort, || false).await {
            Ok(()) => {}
            Err(e) if e.is_no_such_upload() && record.all_done() => {
                if self.completed_before(&record).await? {
                    return Err(ErrorKind::AlreadyCompleted.into());
                }
            }
            Err(e) if e.is_no_such_upload() => {}
            Err(e) => return Err(e),
        }
        self.store.remove(&id).await?;
        Ok(true)
    }

    /// The clock, in milliseconds since the epoch.
    fn now(&self) -> f64 {
        self.timer.now_ms()
    }
}
