//! Resuming an upload begun elsewhere (another device, a cleared browser):
//! with no record here, the backend's lookup finds the caller's unfinished
//! upload of the same content (name, size and content sample; no date,
//! which differs between devices), and it becomes this browser's record,
//! marked [`adopted`](UploadRecord::adopted).
//!
//! Only an upload whose parts carry SHA-256 checksums is adopted: the
//! content sample reads 192 KiB at most, so nothing but each part's
//! checksum can show that the bytes the server holds are this file's.
//! Every part the server holds is re-hashed and compared before it is
//! skipped (see [`verify`](super::verify)); a difference starts a fresh
//! upload, never a mix. With `checksum: "none"` there is no lookup.

use super::{Driver, FileInfo};
use crate::core::plan::PartPlan;
use crate::core::record::{NewRecord, UploadRecord};
use crate::error::Error;
use crate::options::ChecksumMode;
use crate::ports::{ContentIdentity, FoundUpload, SHA256};

impl<B> Driver<'_, B> {
    /// The caller's unfinished upload of `file` that the backend remembers,
    /// saved as record `id`; `None` when there is none to adopt, or the
    /// backend has no lookup (a plain Companion answers an HTTP error). A
    /// refused credential (401, 403) or no network fails the run.
    pub(super) async fn adopt(
        &self,
        id: &str,
        file: &FileInfo,
    ) -> Result<Option<UploadRecord>, Error> {
        let sample = file.sample_sha256.as_deref();
        let Some(sample) = sample.filter(|_| self.options.checksum != ChecksumMode::None) else {
            return Ok(None);
        };
        let identity = ContentIdentity {
            namespace: &self.options.namespace,
            file_name: &file.identity.name,
            size: file.identity.size,
            sample_sha256: sample,
        };
        let found = match self.with_retries(|| self.backend.lookup(identity)).await {
            Ok(found) => found,
            Err(Error::Http { status, .. }) if !matches!(status, 401 | 403) => None,
            Err(Error::BadResponse { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(record) = found.and_then(|found| self.adopted_record(id, file, &found)) else {
            return Ok(None);
        };
        self.store.save(&record).await?;
        Ok(Some(record))
    }

    /// The record of `found` for `file`, if its parts carry checksums and
    /// its part size still plans this file.
    fn adopted_record(
        &self,
        id: &str,
        file: &FileInfo,
        found: &FoundUpload,
    ) -> Option<UploadRecord> {
        let checksums = found.checksum_algorithm.as_deref();
        if !checksums.is_some_and(|a| a.eq_ignore_ascii_case(SHA256)) {
            return None;
        }
        let part_size = found.part_size?;
        let max = self.options.max_object_size;
        let plan = PartPlan::new(file.identity.size, part_size, max).ok()?;
        if plan.part_size() != part_size {
            return None;
        }
        let mut record = UploadRecord::new(
            NewRecord {
                id,
                namespace: &self.options.namespace,
                endpoint: self.options.endpoint_base(),
                upload_id: &found.upload_id,
                key: &found.key,
                file_name: &file.identity.name,
                last_modified: file.identity.last_modified,
                file_type: &file.file_type,
                now: found.created_at.unwrap_or_else(|| self.now()),
                sample_sha256: Some(file.sample_sha256.as_deref()?),
                checksum_algorithm: Some(SHA256),
            },
            &plan,
        );
        record.adopted = true;
        record.queued = self.options.in_queue;
        Some(record)
    }
}
