//! Verified resume: the parts the server holds are re-read from the source
//! and hashed, and compared with their checksums, before they are trusted.

use std::cell::RefCell;

use super::{Driver, FileInfo};
use crate::core::checksum::Sha256Digest;
use crate::core::record::{PartState, UploadRecord};
use crate::error::Error;

impl<B> Driver<'_, B> {
    /// The parts a resume must re-hash before trusting the server's copy,
    /// each with the checksum to compare against (`None`: nothing to compare
    /// with). A streaming source and an [adopted](UploadRecord::adopted)
    /// upload always verify (nothing else tells a changed generator, or
    /// another device's file, apart); a file when `verify_on_resume` is on.
    pub(super) fn parts_to_verify(
        &self,
        record: &UploadRecord,
        file: &FileInfo,
    ) -> Vec<(u32, Option<String>)> {
        let always = file.identity.is_stream() || record.adopted;
        if !(always || self.options.verify_on_resume) {
            return Vec::new();
        }
        let mut verify = Vec::new();
        for p in &record.parts {
            // A file part without a checksum cannot be compared: trust it,
            // as before checksums (its name, size, date and content sample
            // matched). A part of a streaming source or of an adopted
            // upload without one is never trusted.
            if p.state == PartState::Done && (always || p.checksum.is_some()) {
                verify.push((p.number, p.checksum.clone()));
            }
        }
        verify
    }

    /// Re-hashes each part in `verify` from the source, one at a time, and
    /// compares it with its checksum; answers whether all matched.
    pub(super) async fn verify_parts(
        &self,
        state: &RefCell<UploadRecord>,
        verify: Vec<(u32, Option<String>)>,
    ) -> Result<bool, Error> {
        let source = self.source;
        for (number, expected) in verify {
            let Some(expected) = expected.as_deref().and_then(Sha256Digest::from_base64) else {
                return Ok(false);
            };
            let range = state.borrow().plan().range(number);
            let body = source.body(range).await?;
            if source.sha256(&body).await? != expected {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
