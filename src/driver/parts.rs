//! Sending the parts not yet done: `concurrency` at a time, each prepared
//! (read and hashed) and its URL signed ahead of the sending slots, so a
//! freed slot goes straight to the wire; recorded before it starts and
//! again once the store confirmed it, retried as the policy says.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

use futures::future::join;

use super::hold::SlowDownHold;
use super::progress::ProgressTracker;
use super::retry::with_retries;
use super::{Driver, FileInfo};
use crate::core::reconcile::stored_copy;
use crate::core::record::{PartState, UploadRecord};
use crate::error::{Error, ErrorKind};
use crate::ports::{PartBookkeeping, PartCompleted, PartPut, LINK_MEASURE_MIN_BYTES};
use crate::slots::{join_all, RampedSlots, Slots};

/// How long a URL signed ahead is used as it is: well inside any presigned
/// URL's lifetime (Companion signs for 800 s, the dev server and S3's
/// console for longer), so a part that waited long for its slot is signed
/// again rather than refused.
pub(super) const SIGNED_URL_FRESH_MS: f64 = 4.0 * 60.0 * 1000.0;

/// Which parts a [`Driver::send_parts`] sends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pass<'a> {
    /// Those the store does not hold yet: a fresh upload's, a resume's.
    /// A part the store turned out to hold after a network error (its
    /// answer lost) is taken from its list, and its number put in `taken`:
    /// never confirmed here, it is one to send again if the store refuses
    /// it at completion (a resend of it cut off midway, unseen).
    Unstored { taken: &'a RefCell<Vec<u32>> },
    /// Those the store listed but refused at completion (`InvalidPart`),
    /// again in full. Their bytes were all reported before, and a copy the
    /// store lists after a network error may be the refused one: it is
    /// not taken for the part.
    Refused,
}

/// What the parts of one [`Driver::send_parts`] share.
struct PartsRun<'a, B> {
    /// The record being uploaded.
    state: &'a RefCell<UploadRecord>,
    /// The progress of the whole upload.
    tracker: RefCell<ProgressTracker>,
    /// Every part holds back after a 429.
    hold: SlowDownHold,
    /// The parts on the wire at once (`concurrency`, grown from the
    /// measured rate).
    sending: RampedSlots,
    /// The parts not yet taken, the next last.
    queue: RefCell<Vec<u32>>,
    /// Set once a part failed for good: parts not yet sending give up.
    stopping: Cell<bool>,
    /// The first part failure.
    first_error: RefCell<Option<Error>>,
    /// Whether parts are hashed before they are sent.
    hash: bool,
    /// The workers beyond the parts in flight, which prepare parts ahead,
    /// wait here until it is opened: once the first part goes on the wire,
    /// or a worker ended. The first part then shares its start (signing,
    /// the state write) with no more parts than are in flight: with all of
    /// them at once, a resume at 10,000 parts took 12 ms longer to its
    /// first request (BENCHMARKS.md).
    ahead: Slots,
    /// How many workers wait at `ahead`.
    ahead_workers: usize,
    /// Whether `ahead` was opened.
    ahead_open: Cell<bool>,
    /// The run's head start, until the worker that takes its part uses it.
    head: RefCell<Option<Box<ReadyPart<B>>>>,
    /// Which parts are sent.
    pass: Pass<'a>,
}

impl<B> PartsRun<'_, B> {
    /// Lets the workers that prepare parts ahead start (once).
    fn open_ahead(&self) {
        if !self.ahead_open.replace(true) {
            self.ahead.add(self.ahead_workers);
        }
    }
}

/// One part, as its requests name it.
pub(super) struct PartTarget {
    upload_id: String,
    key: String,
    pub(super) number: u32,
    range: Range<u64>,
    /// Its SHA-256 (base64), when parts are hashed.
    checksum: Option<String>,
    /// Whether the checksum is signed into its URL and sent with it.
    signed: bool,
}

/// Whether the parts of `record` are hashed before they are sent: for an
/// upload with checksums, and for a streaming source (whose held parts a
/// resume verifies).
pub(super) fn parts_hashed(record: &UploadRecord, file: &FileInfo) -> bool {
    record.checksum_algorithm.is_some() || file.identity.is_stream()
}

/// A presigned URL (or why signing failed), and when it was signed.
pub(super) type SignedUrl = (Result<String, Error>, f64);

impl PartTarget {
    /// Part `number` of `record`, its checksum not known yet.
    pub(super) fn of(record: &UploadRecord, number: u32) -> Self {
        PartTarget {
            upload_id: record.upload_id.clone(),
            key: record.key.clone(),
            number,
            range: record.plan().range(number),
            checksum: None,
            signed: record.checksum_algorithm.is_some(),
        }
    }

    /// The part with its checksum (base64) set.
    pub(super) fn with_checksum(self, checksum: Option<String>) -> Self {
        PartTarget { checksum, ..self }
    }

    /// Its size in bytes.
    fn size(&self) -> u64 {
        self.range.end - self.range.start
    }

    fn signed_checksum(&self) -> Option<&str> {
        self.checksum.as_deref().filter(|_| self.signed)
    }
}

/// A part read (and hashed when parts are hashed) and ready to sign and
/// send: every part as its worker readies it, and a run's head start
/// (prepared, and on a resume signed, ahead of the run's sending; see
/// `head_start`). Passed boxed (96 bytes on wasm32, held by the futures on
/// its way).
pub(super) struct ReadyPart<B> {
    /// The part, with its checksum when parts are hashed.
    pub part: PartTarget,
    /// Its bytes.
    pub body: B,
    /// A head start's on a resume: its presigned URL (or why signing
    /// failed), and when it was signed.
    pub url: Option<SignedUrl>,
}

/// The furthest any attempt at a part got; an attempt that gets further
/// earns the part a fresh retry budget (a flaky link still makes headway).
#[derive(Default)]
struct Headway {
    furthest: Cell<u64>,
    got_further: Cell<bool>,
}

impl Headway {
    fn saw(&self, sent: u64) {
        if sent > self.furthest.get() {
            self.furthest.set(sent);
            self.got_further.set(true);
        }
    }
}

/// The bytes the page was told of before a [`Driver::send_parts`] of
/// `pass` over `record`: none, or every byte after a refusal.
fn reported(pass: Pass, record: &UploadRecord) -> u64 {
    match pass {
        Pass::Unstored { .. } => 0,
        Pass::Refused => record.file_size,
    }
}

impl<B> Driver<'_, B> {
    /// Sends every part not yet done. When a part fails for good, no new
    /// part starts, the parts in flight finish (and are recorded), and the
    /// first error is returned. Parts are hashed (and their checksums saved,
    /// and signed when the upload was created with checksums) for an upload
    /// with checksums and for a streaming source. The `head` start (of a
    /// fresh upload or a resume) is used if its part is still to be sent.
    /// Sending the parts the store refused ([`Pass::Refused`]), progress
    /// never reports less than the whole file, which the page was told of
    /// already (see [`ProgressTracker::new`]).
    pub(super) async fn send_parts(
        &self,
        state: &RefCell<UploadRecord>,
        file: &FileInfo,
        head: Option<Box<ReadyPart<B>>>,
        pass: Pass<'_>,
    ) -> Result<(), Error> {
        let Some(run) = self.parts_run(state, file, head, pass) else {
            return Ok(());
        };
        self.emit_progress(&run.tracker);
        // Parts are prepared (read, hashed and signed) ahead of the sending
        // slots, so a freed slot finds its next part ready: on a link with
        // latency, the signing round trip no longer leaves the slot idle. A
        // file's part is a lazy Blob slice: preparing ahead costs no memory.
        // A streaming source's part is held in memory: no preparing ahead.
        // (A worker beyond the parts in flight prepares its part ahead, from
        // when the first part is on the wire; as the parts in flight grow,
        // fewer are ahead, none at the most.)
        let sending = self.options.concurrency as usize;
        let workers = sending + run.ahead_workers;
        let (started, stored) = (self.now(), run.tracker.borrow().confirmed());
        join_all(workers, |i| self.start_worker(&run, i >= sending)).await;
        if let Some(e) = run.first_error.take() {
            return Err(e);
        }
        let sent = run.tracker.borrow().confirmed() - stored;
        self.note_link(sent, self.now() - started);
        Ok(())
    }

    /// Tells the page the rate this upload's parts went at, when the
    /// upload had the link to itself (no queue) and sent enough to tell.
    fn note_link(&self, sent: u64, elapsed_ms: f64) {
        if self.budget.is_none() && sent >= LINK_MEASURE_MIN_BYTES && elapsed_ms > 0.0 {
            self.events.link_measured(sent as f64 * 1000.0 / elapsed_ms);
        }
    }

    /// What the parts of one run share; `None` for an empty file.
    fn parts_run<'r>(
        &self,
        state: &'r RefCell<UploadRecord>,
        file: &FileInfo,
        head: Option<Box<ReadyPart<B>>>,
        pass: Pass<'r>,
    ) -> Option<PartsRun<'r, B>> {
        let record = state.borrow();
        if record.file_size == 0 {
            return None;
        }
        // A streaming source holds each part in flight in memory: it never
        // grows. A queue's file is bounded by the queue's budget, which
        // grows for the whole queue.
        let (c, max) = (self.options.concurrency, self.options.max_concurrency);
        let sending = match (file.identity.is_stream(), self.budget.is_some()) {
            (true, _) => RampedSlots::new(c, c),
            (false, true) => RampedSlots::new(max.max(c), max.max(c)),
            (false, false) => RampedSlots::new(c, max),
        };
        let mut confirmed = 0;
        let mut queue = Vec::new();
        // Popped from the end: the lowest part numbers go first.
        for part in record.parts.iter().rev() {
            match part.state {
                PartState::Done => confirmed += part.size,
                _ => queue.push(part.number),
            }
        }
        let concurrency = self.options.concurrency as usize;
        let ahead_workers = match file.identity.is_stream() {
            true => 0,
            false => (2 * concurrency).max(self.options.max_concurrency as usize) - concurrency,
        };
        Some(PartsRun {
            state,
            tracker: RefCell::new(ProgressTracker::new(
                confirmed,
                record.file_size,
                reported(pass, &record),
            )),
            hold: SlowDownHold::default(),
            sending,
            queue: RefCell::new(queue),
            stopping: Cell::new(false),
            first_error: RefCell::new(None),
            hash: parts_hashed(&record, file),
            ahead: Slots::new(0),
            ahead_workers,
            ahead_open: Cell::new(false),
            head: RefCell::new(head),
            pass,
        })
    }

    /// A worker of the run; one that prepares ahead starts once the run
    /// [opens](PartsRun::open_ahead) to it. A worker that ends opens it (a
    /// first part that failed before its request must not leave the others
    /// waiting).
    async fn start_worker(&self, run: &PartsRun<'_, B>, ahead: bool) {
        let _opened = match ahead {
            true => Some(run.ahead.acquire().await),
            false => None,
        };
        self.work_parts(run).await;
        run.open_ahead();
    }

    /// One of the run's workers: takes the next part until none is left.
    /// When a part fails for good, no worker takes another; the parts in
    /// flight finish (and are recorded), and the first error is kept.
    async fn work_parts(&self, run: &PartsRun<'_, B>) {
        while !run.stopping.get() {
            let Some(number) = run.queue.borrow_mut().pop() else {
                return;
            };
            if let Err(e) = self.send_part(run, number).await {
                run.stopping.set(true);
                run.first_error.borrow_mut().get_or_insert(e);
            }
        }
    }

    /// One part: prepared, signed and recorded in flight while it waits
    /// for its slot, then sent, then recorded done.
    async fn send_part(&self, run: &PartsRun<'_, B>, number: u32) -> Result<(), Error> {
        let mut ready = self.ready_part(run, number).await?;
        let signed = ready.url.take();
        let slot_at = Cell::new(None);
        let slot = async {
            let slot = run.sending.acquire().await;
            let shared = match self.budget {
                Some(budget) => Some(budget.acquire().await),
                None => None,
            };
            slot_at.set(Some(self.now()));
            (slot, shared)
        };
        let url = async {
            match signed {
                Some(url) => url,
                None => self.sign_ahead(&ready.part).await,
            }
        };
        let signed_and_begun = join(url, self.begin(run, &ready.part));
        let (slots, (first_url, write_ms)) = join(slot, signed_and_begun).await;
        let write_ms = write_ms?;
        // How long the part's slot waited for its URL and its state write.
        let blocking_ms = slot_at.get().map_or(0.0, |at| (self.now() - at).max(0.0));
        if run.stopping.get() {
            return Ok(());
        }
        run.open_ahead();
        let etag = self.put(run, &ready.part, &ready.body, first_url).await?;
        // The next part may go on the wire while this one's state is saved.
        drop(slots);
        let started = self.now();
        let size = ready.part.size();
        run.sending.done(size, started);
        if let Some(budget) = self.budget {
            budget.done(size, started);
        }
        self.mark(
            run.state,
            number,
            PartState::Done,
            Some(etag.clone()),
            ready.part.checksum.clone(),
        )
        .await?;
        self.events.part_bookkeeping(PartBookkeeping {
            part_number: number,
            state_writes_ms: write_ms + self.now() - started,
            blocking_ms,
        });
        run.tracker.borrow_mut().part_confirmed(number, size);
        self.events.part_completed(PartCompleted {
            part_number: number,
            size,
            etag,
        });
        self.emit_progress(&run.tracker);
        Ok(())
    }

    /// Part `number` ready to sign and send: the head start's (a resume's
    /// signed already) when it is that part; else read (and hashed) now.
    /// Boxed, as the worker holds it across every await of the part.
    async fn ready_part(
        &self,
        run: &PartsRun<'_, B>,
        number: u32,
    ) -> Result<Box<ReadyPart<B>>, Error> {
        let head = run.head.borrow_mut().take_if(|h| h.part.number == number);
        if let Some(head) = head {
            return Ok(head);
        }
        let part = PartTarget::of(&run.state.borrow(), number);
        let (part, body) = self.prepare(part, run.hash).await?;
        Ok(Box::new(ReadyPart {
            part,
            body,
            url: None,
        }))
    }

    /// Reads `part` (and hashes it when `hash`).
    pub(super) async fn prepare(
        &self,
        mut part: PartTarget,
        hash: bool,
    ) -> Result<(PartTarget, B), Error> {
        let (body, checksum) = self.read_part(part.range.clone(), hash).await?;
        part.checksum = checksum;
        Ok((part, body))
    }

    /// The bytes of `range`, with their SHA-256 (base64) when `hash`.
    pub(super) async fn read_part(
        &self,
        range: Range<u64>,
        hash: bool,
    ) -> Result<(B, Option<String>), Error> {
        let source = self.source;
        let body = source.body(range).await?;
        let checksum = match hash {
            true => Some(source.sha256(&body).await?.to_base64()),
            false => None,
        };
        Ok((body, checksum))
    }

    /// Saves the part's state (and checksum) before its first byte is sent,
    /// so a resume can check whatever the server ends up holding against
    /// it ("in flight" means a request may have started). Answers the
    /// write's time in ms.
    async fn begin(&self, run: &PartsRun<'_, B>, part: &PartTarget) -> Result<f64, Error> {
        let started = self.now();
        self.mark(
            run.state,
            part.number,
            PartState::InFlight,
            None,
            part.checksum.clone(),
        )
        .await?;
        Ok(self.now() - started)
    }

    /// A presigned URL for the part, and when it was signed.
    pub(super) async fn sign_ahead(&self, part: &PartTarget) -> SignedUrl {
        (self.sign(part).await, self.now())
    }

    /// A presigned URL for the part.
    async fn sign(&self, part: &PartTarget) -> Result<String, Error> {
        self.backend
            .sign_part(
                &part.upload_id,
                &part.key,
                part.number,
                part.signed_checksum(),
            )
            .await
    }

    /// Sends the part until the store confirms it or the retry policy gives
    /// up; answers its ETag. The first attempt uses `first_url` unless it
    /// waited so long that it may have expired (a 429's hold counted: the
    /// age is taken after it); each retry signs afresh (a 403 "Request has
    /// expired" is fixed that way).
    async fn put(
        &self,
        run: &PartsRun<'_, B>,
        part: &PartTarget,
        body: &B,
        (first_url, signed_at): SignedUrl,
    ) -> Result<String, Error> {
        let first_url = Cell::new(Some(first_url));
        let headway = Headway::default();
        let progress = |sent: u64| {
            headway.saw(sent);
            run.tracker.borrow_mut().part_sent(part.number, sent);
            self.emit_progress(&run.tracker);
        };
        let attempt = || async {
            run.hold.wait(self.timer).await;
            headway.got_further.set(false);
            run.tracker.borrow_mut().part_sent(part.number, 0);
            let url = match first_url.take() {
                Some(signed) if self.now() - signed_at < SIGNED_URL_FRESH_MS => signed?,
                _ => self.sign(part).await?,
            };
            let put = PartPut {
                upload_id: &part.upload_id,
                part_number: part.number,
                url: &url,
                body,
                checksum_sha256: part.signed_checksum(),
            };
            let sent = match self.sender.send(&put, &progress).await {
                Err(error) if matches!(error.kind(), ErrorKind::Network { .. }) => {
                    self.stored_or(part, body, error, run.pass).await
                }
                sent => sent,
            };
            if let Err(error) = &sent {
                run.hold.note(error, self.now());
            }
            sent
        };
        let timer = self.timer;
        with_retries(timer, &self.options.retry, attempt, || {
            headway.got_further.get()
        })
        .await
    }

    /// After a network error of part `part`'s request: the part's ETag if
    /// the store holds it all the same (the answer was lost on the way
    /// back: see [`stored_copy`]), else the error to retry or end with.
    /// That is [`ErrorKind::ReadFailed`] when its `body` can no longer be read
    /// (the browser sends no part it cannot read, and reports that as a
    /// network error; not retried), `NoSuchUpload` when the store no longer
    /// has the upload, and `error` otherwise. A store that refuses a part
    /// before its body (Garage's 404 `NoSuchUpload` for an upload it
    /// forgot) closes the connection while the body is still going out, and
    /// Firefox and WebKit then report a network error, not the answer: so
    /// the backend is asked for the upload's parts. One part list per
    /// network error: on a flaky link, less than what resending the part
    /// costs (a 10,000-part list is about 1 MB, a part 8 MiB by default),
    /// and a part it lists is not sent again (a second send cut off midway
    /// can leave Garage listing a part it then refuses at completion).
    /// A part taken so is noted in the pass's `taken`; in a
    /// [`Pass::Refused`], no listed copy is taken: it may be the refused
    /// one. Boxed, so that its poll is not inlined into every
    /// part's retry loop.
    fn stored_or<'a>(
        &'a self,
        part: &'a PartTarget,
        body: &'a B,
        error: Error,
        pass: Pass<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<String, Error>> + 'a>> {
        Box::pin(async move {
            self.source.readable(body).await?;
            let size = part.size();
            let listed = match self.backend.list_parts(&part.upload_id, &part.key).await {
                Err(gone) if gone.is_no_such_upload() => return Err(gone),
                Err(_) => return Err(error),
                Ok(listed) => listed,
            };
            let Pass::Unstored { taken } = pass else {
                return Err(error);
            };
            let etag =
                stored_copy(&listed, part.number, size, part.checksum.as_deref()).ok_or(error)?;
            taken.borrow_mut().push(part.number);
            Ok(etag.to_owned())
        })
    }

    /// Sets a part's state and saves it (the store reads the record before
    /// its first await, so writes reach the store in the order the states
    /// changed).
    pub(super) async fn mark(
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
            record.updated_at = self.now();
        }
        self.store.save_parts(state, &[number]).await
    }
}
