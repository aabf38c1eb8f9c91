//! Small files signed together: the files that ask for their request at
//! about the same moment (the queue prepares a few ahead of the sending)
//! go to the backend in one call of its batch route, up to
//! [`MAX_BATCH`] at a time. Each file still asks just in time, so no URL
//! waits long enough to expire.
//!
//! There is no leader to wait for: a file joins the waiting list, gives
//! the others [`WINDOW_MS`] to join (files arrive one by one when each is
//! hashed first), and if nobody took its entry meanwhile, it takes every
//! waiting entry and signs them all (a backend that answers fewer files
//! than asked leaves the rest to sign alone; one that answers more is
//! refused: its answers cannot be matched to the files). A batch refused
//! for one of its files (a failure that is not [`ErrorKind::is_queue_wide`](crate::error::ErrorKind::is_queue_wide),
//! such as the 400 for one path too deep, fails the whole call) leaves
//! each file to sign alone, so only that file fails; a queue-wide failure
//! (the backend unreachable, the sign-in refused) is every file's. A file
//! whose entry was taken waits for that answer; if it never comes (the
//! taker was dropped by a pause or a cancel), it signs alone. A backend
//! without the batch route (a plain Companion answers 404) is asked one
//! file at a time from then on.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::Poll;

use futures::channel::oneshot;

use crate::error::{Error, ErrorKind, Operation};
use crate::ports::{NewSingle, PortFuture, SignedSingle, SingleSigner, Timer};

/// The most files one call signs (the dev server's limit).
pub const MAX_BATCH: usize = 100;

/// How long a file waits for others to join its batch (ms): short beside a
/// signing round trip, long beside hashing a small file.
pub const WINDOW_MS: u32 = 10;

/// A file waiting to be signed, owned (the caller's borrow ends when it
/// awaits).
struct Waiting {
    ticket: u64,
    namespace: String,
    file_name: String,
    relative_path: Option<String>,
    file_type: String,
    metadata: Vec<(String, String)>,
    size: u64,
    checksum: Option<String>,
    answer: oneshot::Sender<Result<SignedSingle, Error>>,
}

impl Waiting {
    fn single(&self) -> NewSingle<'_> {
        NewSingle {
            namespace: &self.namespace,
            file_name: &self.file_name,
            relative_path: self.relative_path.as_deref(),
            file_type: &self.file_type,
            metadata: &self.metadata,
            size: self.size,
            checksum_sha256: self.checksum.as_deref(),
        }
    }
}

/// Signs small files in batches over `backend`.
pub struct BatchSigner<'a> {
    backend: &'a dyn SingleSigner,
    timer: &'a dyn Timer,
    /// A batch this big goes at once, without waiting out the window.
    enough: usize,
    waiting: RefCell<Vec<Waiting>>,
    next_ticket: Cell<u64>,
    /// The backend answered that it has no batch route.
    singly: Cell<bool>,
    /// Backend calls made (for tests and benchmarks).
    calls: Cell<u32>,
}

impl<'a> BatchSigner<'a> {
    /// A signer over `backend` that sends a batch once `enough` files wait
    /// (the files prepared at once), or after [`WINDOW_MS`].
    pub fn new(backend: &'a dyn SingleSigner, timer: &'a dyn Timer, enough: usize) -> Self {
        BatchSigner {
            backend,
            timer,
            enough: enough.clamp(1, MAX_BATCH),
            waiting: RefCell::new(Vec::new()),
            next_ticket: Cell::new(0),
            singly: Cell::new(false),
            calls: Cell::new(0),
        }
    }

    /// How many calls reached the backend.
    pub fn calls(&self) -> u32 {
        self.calls.get()
    }

    /// How to send `file` in one request.
    pub async fn sign(&self, file: NewSingle<'_>) -> Result<SignedSingle, Error> {
        if self.singly.get() {
            return self.alone(file).await;
        }
        let (ticket, answer) = self.join(file);
        let enough = self.waiting.borrow().len() >= self.enough;
        match enough {
            true => yield_once().await,
            false => self.timer.sleep(WINDOW_MS).await,
        }
        if self.is_waiting(ticket) {
            self.sign_waiting().await;
        }
        match answer.await {
            Ok(signed) => signed,
            // No answer came (the one that took it was dropped, or the
            // backend has no batch route): sign alone.
            Err(_) => self.alone(file).await,
        }
    }

    /// Puts `file` on the waiting list; answers its ticket and where its
    /// answer will come. The entries of files no longer waiting for their
    /// answer (a pause or a cancel dropped them) leave the list: they are
    /// neither signed nor counted towards `enough`.
    fn join(&self, file: NewSingle<'_>) -> (u64, oneshot::Receiver<Result<SignedSingle, Error>>) {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        let (answer, rx) = oneshot::channel();
        let mut waiting = self.waiting.borrow_mut();
        waiting.retain(|w| !w.answer.is_canceled());
        waiting.push(Waiting {
            ticket,
            namespace: file.namespace.to_owned(),
            file_name: file.file_name.to_owned(),
            relative_path: file.relative_path.map(str::to_owned),
            file_type: file.file_type.to_owned(),
            metadata: file.metadata.to_vec(),
            size: file.size,
            checksum: file.checksum_sha256.map(str::to_owned),
            answer,
        });
        (ticket, rx)
    }

    fn is_waiting(&self, ticket: u64) -> bool {
        self.waiting.borrow().iter().any(|w| w.ticket == ticket)
    }

    /// Signs every waiting file (up to [`MAX_BATCH`] per call) and hands
    /// each its answer.
    async fn sign_waiting(&self) {
        loop {
            let batch: Vec<Waiting> = {
                let mut waiting = self.waiting.borrow_mut();
                waiting.retain(|w| !w.answer.is_canceled());
                let n = waiting.len().min(MAX_BATCH);
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            let files: Vec<NewSingle<'_>> = batch.iter().map(Waiting::single).collect();
            self.calls.set(self.calls.get() + 1);
            match self.backend.sign_singles(&files).await {
                // The first files' answers, in order: the files left
                // unanswered (their answer dropped) sign alone.
                Ok(signed) if signed.len() <= batch.len() => {
                    let mut signed = signed.into_iter();
                    for waiting in batch {
                        if let Some(signed) = signed.next() {
                            let _ = waiting.answer.send(Ok(signed));
                        }
                    }
                }
                // Answers to files not asked about: which is whose?
                Ok(_) => self.hand_back(batch, Some(too_many_answers())),
                Err(e) if matches!(e.status(), Some(404 | 405)) => {
                    self.singly.set(true);
                    self.hand_back(batch, None);
                }
                // The backend or the app's sign-in fails for every file.
                Err(error) if error.is_queue_wide() => self.hand_back(batch, Some(error)),
                // One file refused fails the whole call (a path too deep
                // for the server): each signs alone, so only its own
                // refusal reaches it.
                Err(_) => self.hand_back(batch, None),
            }
        }
    }

    /// Gives each of `batch` `error`, or with none leaves each to sign
    /// alone (its answer dropped).
    fn hand_back(&self, batch: Vec<Waiting>, error: Option<Error>) {
        for waiting in batch {
            if let Some(error) = &error {
                let _ = waiting.answer.send(Err(error.clone()));
            }
        }
    }

    async fn alone(&self, file: NewSingle<'_>) -> Result<SignedSingle, Error> {
        self.calls.set(self.calls.get() + 1);
        self.backend.sign_single(file).await
    }
}

/// A batch answered with more uploads than it asked for.
fn too_many_answers() -> Error {
    ErrorKind::BadResponse {
        operation: Operation::SignFile,
        detail: "the batch signing route answered more uploads than files asked for".into(),
    }
    .into()
}

/// Lets every other ready future run once.
async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// The backend's single-request signing, its small files signed in
/// batches.
impl SingleSigner for BatchSigner<'_> {
    fn sign_single<'a>(&'a self, file: NewSingle<'a>) -> PortFuture<'a, SignedSingle> {
        Box::pin(self.sign(file))
    }
}
