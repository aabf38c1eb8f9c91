//! Resuming an upload begun elsewhere (another device, a cleared browser):
//! with no record here, a fresh upload's create asks the backend to answer
//! the caller's unfinished upload of the same content instead (name, size
//! and content sample; no date, which differs between devices), so that
//! finding it costs no round trip of its own. An upload it answers becomes
//! this browser's record, marked [`adopted`](UploadRecord::adopted).
//!
//! Only an upload whose parts carry SHA-256 checksums is adopted: the
//! content sample reads 192 KiB at most, so nothing but each part's
//! checksum can show that the bytes the server holds are this file's.
//! Every part the server holds is re-hashed and compared before it is
//! skipped (see [`verify`](super::verify)); a difference starts a fresh
//! upload, never a mix. With `checksum: "none"` nothing is adopted.

use super::{Driver, FileInfo};
use crate::core::plan::PartPlan;
use crate::core::record::{NewRecord, UploadRecord};
use crate::options::ChecksumMode;
use crate::ports::{Adopted, Created, SHA256};

impl<B> Driver<'_, B> {
    /// Whether a create for `file` may be answered with an upload begun
    /// elsewhere: only with checksums asked for and the content sample
    /// read.
    pub(super) fn may_adopt(&self, file: &FileInfo) -> bool {
        self.options.checksum != ChecksumMode::None && file.sample_sha256.is_some()
    }

    /// The record of `created`, an upload the backend answered in place of
    /// a new one, saved as record `id`; `None` if its parts carry no
    /// checksums or its part size does not plan this file (then a fresh
    /// upload starts).
    pub(super) fn adopted_record(
        &self,
        id: &str,
        file: &FileInfo,
        created: &Created,
        adopted: &Adopted,
    ) -> Option<UploadRecord> {
        let checksums = created.checksum_algorithm.as_deref();
        if !checksums.is_some_and(|a| a.eq_ignore_ascii_case(SHA256)) {
            return None;
        }
        let part_size = adopted.part_size?;
        let max = self.options.max_object_size;
        let plan = PartPlan::new(file.identity.size, part_size, max).ok()?;
        if plan.part_size() != part_size {
            return None;
        }
        // The record must carry the content sample the upload was found by.
        file.sample_sha256.as_ref()?;
        let begun = adopted.created_at.unwrap_or_else(|| self.now());
        let fresh = NewRecord {
            checksum_algorithm: Some(SHA256),
            ..self.fields_of(id, file, created, begun)
        };
        let mut record = self.new_record(fresh, &plan);
        record.adopted = true;
        Some(record)
    }
}
