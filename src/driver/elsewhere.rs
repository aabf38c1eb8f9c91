//! An upload the server no longer has because it was completed: on
//! another device that adopted it (resume on another device), while this
//! one still sent to it or before it came back. Its object is this file's
//! only if this file's bytes make the object's checksum; then the run ends
//! with that object, and nothing is sent again.

use super::{Completed, Driver};
use crate::core::checksum::{composite, composites_match};
use crate::core::record::UploadRecord;
use crate::error::Error;
use crate::ports::Progress;

/// When a run finds that its upload was completed elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FoundWhen {
    /// Resuming its record: the page is told a resume, every part skipped
    /// (as a record whose parts were all confirmed is told).
    Resuming,
    /// Sending: whether the run resumed was told when it began; nothing
    /// more is told.
    Sending,
}

impl<B> Driver<'_, B> {
    /// The object of `record`'s upload, if the backend says it was
    /// completed and every part of this file, read and hashed here, makes
    /// its checksum; the record is then deleted. `None` when the backend
    /// says it was not (or cannot say: a plain Companion), gives no
    /// checksum, or the object holds other bytes: the caller starts afresh.
    pub(super) async fn completed_elsewhere(
        &self,
        record: &UploadRecord,
        found: FoundWhen,
    ) -> Result<Option<Box<Completed>>, Error> {
        // Without checksums the object's would not be comparable.
        if record.checksum_algorithm.is_none() {
            return Ok(None);
        }
        // Retried as any request (a 404 is not): a blip must not cost a
        // second object.
        let backend = self.backend;
        let asked = self.with_retries(|| backend.completed(&record.upload_id, &record.key));
        let Some((location, remote)) = asked.await.ok().and_then(|object| {
            let checksum = object.checksum_sha256?;
            Some((object.location, checksum))
        }) else {
            return Ok(None);
        };
        let plan = record.plan();
        let count = plan.count();
        let mut digests = Vec::with_capacity(count as usize);
        for number in plan.numbers() {
            let body = self.source.body(plan.range(number)).await?;
            digests.push(self.source.sha256(&body).await?);
        }
        let local = composite(&digests);
        if !composites_match(&local, &remote) {
            return Ok(None);
        }
        let size = record.file_size;
        if found == FoundWhen::Resuming {
            self.announce(record, count, size);
        }
        // Stored for good, as a completion of this run's own: a pause or a
        // cancel from here on must not send it again; the page's progress
        // is whole.
        self.events.object_stored(&record.key);
        self.events.progress(Progress {
            sent_bytes: size,
            confirmed_bytes: size,
            total_bytes: size,
        });
        self.store.remove(&record.id).await?;
        Ok(Some(Box::new(Completed {
            key: record.key.clone(),
            upload_id: record.upload_id.clone(),
            location,
            checksum_sha256: Some(local),
        })))
    }

    /// [`Self::completed_elsewhere`] for the stored record of `id`, if it is
    /// still of the upload `upload_id` (which a part's signing or sending
    /// just found gone). A record that cannot be read: `None`.
    pub(super) async fn finished_meanwhile(
        &self,
        id: &str,
        upload_id: &str,
    ) -> Result<Option<Box<Completed>>, Error> {
        match self.store.load(id).await {
            Ok(Some(record)) if record.upload_id == upload_id => {
                self.completed_elsewhere(&record, FoundWhen::Sending).await
            }
            _ => Ok(None),
        }
    }
}
