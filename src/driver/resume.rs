//! Before a run: sweep the stored records, and continue a stored upload
//! from the server's part list (the server wins).

use std::cell::RefCell;

use futures::future::join;

use super::elsewhere::FoundWhen::Resuming;
use super::live::is_live;
use super::parts::ReadyPart;
use super::{Completed, Driver, FileInfo, RunState};
use crate::core::fingerprint::FileIdentity;
use crate::core::reconcile::reconcile;
use crate::core::record::UploadRecord;
use crate::error::{Error, ErrorKind};
use crate::http::error_code;
use crate::pending::is_collectable;
use crate::ports::{ExpiringSoon, RestartReason, ResumeSource, Resumed};

/// What a resume of a stored upload found.
pub(super) enum ResumeOutcome<B> {
    /// The upload goes on from the server's part list.
    Goes(Box<Resumption<B>>),
    /// It cannot (gone, expired): a fresh upload starts.
    Afresh,
    /// It was completed elsewhere, with this file's bytes: its object.
    CompletedElsewhere(Box<Completed>),
}

/// A stored upload reconciled with the server, ready to go on.
pub(super) struct Resumption<B> {
    /// The record, the server's part list applied: the run's state.
    pub state: RunState,
    /// The parts adopted from the server's list, not confirmed yet.
    pub unconfirmed: Vec<u32>,
    /// The first missing part, prepared and signed while the list came.
    pub head: Option<Box<ReadyPart<B>>>,
}

impl<B> Driver<'_, B> {
    /// One pass over the stored records before a run, which also aborts
    /// stored uploads on the server. A record a run holds (of this page, or
    /// of another tab) is left to it; of the others:
    /// - this namespace's records past their expiry are deleted (orphans
    ///   of uploads nobody came back to; the server has dropped those);
    /// - when `id` has no record, a record of this file under another date
    ///   means the file changed: its upload is aborted on the server and
    ///   the record deleted.
    ///
    /// Answers the record `id`, if there is one (one read for both).
    pub(super) async fn sweep_records(
        &self,
        id: &str,
        file: &FileInfo,
    ) -> Result<Option<RunState>, Error> {
        let now = self.now();
        let mut records = self.store.list().await?;
        let own = records
            .iter()
            .position(|r| r.id == id)
            .map(|i| Box::new(RefCell::new(records.swap_remove(i))));
        let namespace = Some(self.options.namespace.as_str());
        for record in records {
            let expired = is_collectable(&record, namespace, now, self.options.expires_after_ms);
            let changed = !expired && own.is_none() && self.changed(&record, file);
            if !(expired || changed) || self.held(&record.id).await {
                continue;
            }
            if !expired {
                self.restart_changed(&record).await;
            }
            self.store.remove(&record.id).await?;
        }
        Ok(own)
    }

    /// Whether a run holds record `id`: one of this page, or of another
    /// tab where the browser can tell.
    async fn held(&self, id: &str) -> bool {
        is_live(id) || self.claims.held(id).await
    }

    /// Whether `record` is a usable record of `file` under these options.
    pub(super) fn matches(&self, record: &UploadRecord, file: &FileInfo) -> bool {
        record.is_usable()
            && record.file_name == file.identity.name
            && record.file_size == file.identity.size
            && record.last_modified.to_bits() == file.identity.last_modified.to_bits()
            && record.namespace == self.options.namespace
            && record.endpoint == self.options.endpoint_base()
    }

    /// Whether the content sample says the file changed since the record.
    pub(super) fn content_changed(&self, record: &UploadRecord, file: &FileInfo) -> bool {
        matches!(
            (&record.sample_sha256, &file.sample_sha256),
            (Some(stored), Some(now)) if stored != now
        )
    }

    /// Whether `record` is of `file` before its date changed: the same name
    /// and size, and the same key but for the date (namespace, endpoint,
    /// folder path, source id). The record keeps no folder path: its key,
    /// derived again with its own date, says whether it is this file's.
    fn changed(&self, record: &UploadRecord, file: &FileInfo) -> bool {
        let before = FileIdentity {
            last_modified: record.last_modified,
            ..file.identity.clone()
        };
        record.file_name == file.identity.name
            && record.file_size == file.identity.size
            && self.options.record_id(&before) == record.id
    }

    /// The file changed since its stored upload began: that upload is
    /// aborted (best effort), never mixed with new bytes. An adopted
    /// upload is left alone: it may be another device's, going on with its
    /// own file (the server's janitor ends it if nobody does).
    ///
    /// The record stays until the fresh upload's, under the same id,
    /// replaces it. Deleted first, a create that then failed (or a pause
    /// meanwhile) would leave the upload's kept handle or staged copy
    /// without a record, collected as an orphan by the next lookup: a
    /// page-made file resuming from its copy would be lost. Kept, the next
    /// run finds the upload gone or changed again, and restarts. A record
    /// of another id is deleted by the caller.
    pub(super) async fn restart_changed(&self, record: &UploadRecord) {
        if !record.adopted {
            let _ = self.backend.abort(&record.upload_id, &record.key).await;
        }
        self.events.restarted(RestartReason::FileChanged);
    }

    /// Reconciles a stored record with the server. [`ResumeOutcome::Afresh`]
    /// means the server no longer has the upload (or it is past its
    /// expiry): the caller starts afresh; unless another device completed
    /// it with this file's bytes ([`ResumeOutcome::CompletedElsewhere`],
    /// see [`Self::completed_elsewhere`]). A failure that may pass (the
    /// network, credentials, 429, an outage: see [`is_gone`]) keeps the
    /// record and fails the run. The first missing part gets its
    /// [head start](ReadyPart) while the part list is on its way.
    pub(super) async fn resume(
        &self,
        mut state: RunState,
        file: &FileInfo,
    ) -> Result<ResumeOutcome<B>, Error> {
        let record = state.get_mut();
        let now = self.now();
        let expires_at = self.options.expires_at(record.created_at);
        if now >= expires_at {
            // Past the server's lifecycle rule: whatever it still holds is
            // about to go. Abort it (best effort) and start afresh; not an
            // adopted one, as in `restart_changed` (its device may go on).
            if !record.adopted {
                let _ = self.backend.abort(&record.upload_id, &record.key).await;
            }
            return self.forget();
        }
        let list = || self.backend.list_parts(&record.upload_id, &record.key);
        let listing = self.with_retries(list);
        let (listed, head) = join(listing, self.head_start(record, file)).await;
        let server_parts = match listed {
            Ok(parts) => parts,
            Err(e) => return self.unlisted(state, e).await,
        };
        if now >= expires_at - self.options.expiry_warning_ms {
            self.events.expiring_soon(ExpiringSoon {
                upload_id: record.upload_id.clone(),
                expires_at,
            });
        }
        let outcome = reconcile(record, &server_parts);
        record.updated_at = self.now();
        // Only what reconciling changed is written (usually the few parts
        // that were in flight), not the whole record.
        self.store.save_parts(&state, &outcome.changed).await?;
        let (parts, bytes) = (outcome.skipped_parts, outcome.skipped_bytes);
        self.announce(&state.borrow(), parts, bytes);
        Ok(ResumeOutcome::Goes(Box::new(Resumption {
            state,
            unconfirmed: outcome.unconfirmed,
            head,
        })))
    }

    /// What a resume does when the part list of `record` failed with
    /// `error`.
    async fn unlisted(&self, mut state: RunState, error: Error) -> Result<ResumeOutcome<B>, Error> {
        let record = state.get_mut();
        match error.kind() {
            // Every part was confirmed: the last run may have been stopped
            // while completing, after the store completed the upload. It is
            // completed again, as it stands: a backend that remembers
            // answers as it did then; one that does not answers
            // NoSuchUpload, and the run starts afresh.
            ErrorKind::NoSuchUpload { .. } if record.all_done() => {
                let (parts, bytes) = (record.parts.len() as u32, record.file_size);
                self.announce(record, parts, bytes);
                Ok(ResumeOutcome::Goes(Box::new(Resumption {
                    state,
                    unconfirmed: Vec::new(),
                    head: None,
                })))
            }
            // Another device that adopted it may have completed it.
            ErrorKind::NoSuchUpload { .. } => {
                match self.completed_elsewhere(record, Resuming).await? {
                    Some(done) => Ok(ResumeOutcome::CompletedElsewhere(done)),
                    None => self.forget(),
                }
            }
            _ if is_gone(&error) => self.forget(),
            _ => Err(error),
        }
    }

    /// Tells the page that `record` resumes, `skipped_parts` parts
    /// (`skipped_bytes` bytes) not sent again.
    pub(super) fn announce(&self, record: &UploadRecord, skipped_parts: u32, skipped_bytes: u64) {
        self.events.resumed(Resumed {
            upload_id: record.upload_id.clone(),
            skipped_parts,
            skipped_bytes,
            source: match record.adopted {
                true => ResumeSource::Backend,
                false => ResumeSource::Local,
            },
        });
    }

    /// Says the upload of a record that cannot be resumed restarts (the
    /// record stays until the fresh upload's replaces it, as in
    /// [`Self::restart_changed`]).
    fn forget(&self) -> Result<ResumeOutcome<B>, Error> {
        self.events.restarted(RestartReason::Expired);
        Ok(ResumeOutcome::Afresh)
    }
}

/// Whether a failed part list means the upload cannot be resumed: the store
/// lost it, or the backend refused it for good (a 4xx). A plain Uppy
/// Companion answers a gone upload (and any other failure) with a 500 whose
/// body names no error code, so that 500 counts as gone too. Credentials
/// (401, 403), 408, 429 and other 5xx may pass: the record is kept and the
/// run fails with the error. So does a 2xx that is no part list (an app's
/// catch-all page, a sign-in page in the way): it says nothing of the
/// upload.
fn is_gone(error: &Error) -> bool {
    match error.kind() {
        ErrorKind::NoSuchUpload { .. } => true,
        ErrorKind::Http {
            status: 500, body, ..
        } => error_code(body).is_none(),
        ErrorKind::Http { status, .. } => !matches!(status, 401 | 403) && !error.is_retryable(),
        _ => false,
    }
}
