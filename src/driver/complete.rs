//! Completing: every part 1..N with its ETag (and checksum), then the
//! object's composite checksum compared with the one computed here.

use std::cell::RefCell;

use super::parts::Pass;
use super::retry::{with_retries, NoWaitForNetwork};
use super::{Completed, Driver, FileInfo};
use crate::core::checksum::{composite, composites_match, Sha256Digest};
use crate::core::record::{PartState, UploadRecord};
use crate::core::text::decimal;
use crate::error::{Error, ErrorKind, Mismatch, Operation, Refusal};
use crate::ports::{CompletedPart, Warning, WarningCode};

impl<B> Driver<'_, B> {
    /// Completes the upload. When the store refuses a part it lists
    /// (`InvalidPart`: one of those taken from its list without a
    /// confirmation here, `unconfirmed`: by a resume's reconciling, or after
    /// a part's network error), those are sent again in full and the upload
    /// completed once more. With none known (the run that
    /// adopted them was cut off before its complete, and the record has
    /// them as done), every part is sent again: what an abort and a fresh
    /// upload would cost, without which it could never complete.
    pub(super) async fn complete_all(
        &self,
        state: &RefCell<UploadRecord>,
        unconfirmed: Vec<u32>,
        file: &FileInfo,
    ) -> Result<Box<Completed>, Error> {
        let snapshot = state.borrow().clone();
        match self.complete(&snapshot).await {
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Http {
                        refusal: Refusal::InvalidPart,
                        ..
                    }
                ) =>
            {
                let again = match unconfirmed.is_empty() {
                    true => snapshot.parts.iter().map(|p| p.number).collect(),
                    false => unconfirmed,
                };
                for number in again {
                    self.mark(state, number, PartState::Pending, None, None)
                        .await?;
                }
                self.send_parts(state, file, None, Pass::Refused).await?;
                let snapshot = state.borrow().clone();
                self.complete(&snapshot).await
            }
            other => other,
        }
    }

    async fn complete(&self, record: &UploadRecord) -> Result<Box<Completed>, Error> {
        let with_checksums = record.checksum_algorithm.is_some();
        let parts = completed_parts(record, with_checksums)?;
        let backend = self.backend;
        let answer = self
            .with_retries(|| backend.complete(&record.upload_id, &record.key, &parts))
            .await?;
        self.events.object_stored(&record.key);
        // The upload is over on the server either way: its record goes.
        self.store.remove(&record.id).await?;
        let checksum_sha256 = match with_checksums && !parts.is_empty() {
            true => self.check_object(&parts, answer.checksum_sha256, &record.key)?,
            false => None,
        };
        Ok(Box::new(Completed {
            key: record.key.clone(),
            upload_id: record.upload_id.clone(),
            location: answer.location,
            checksum_sha256,
        }))
    }

    /// Whether the upload of `record`, every part confirmed, was completed
    /// though the server no longer has it open: completing it again says so
    /// (a backend that remembers answers as it did then; one that does not,
    /// as a plain Companion, answers `NoSuchUpload`, and the upload counts as
    /// gone). The record is left as it is. Asked by `abort()`, which a
    /// person waits on: offline, it ends after its retries.
    pub(super) async fn completed_before(&self, record: &UploadRecord) -> Result<bool, Error> {
        let parts = completed_parts(record, record.checksum_algorithm.is_some())?;
        let backend = self.backend;
        let again = || backend.complete(&record.upload_id, &record.key, &parts);
        let timer = NoWaitForNetwork(self.timer);
        match with_retries(&timer, &self.options.retry, again, || false).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_no_such_upload() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The object's checksum computed here, once the store's `remote` one
    /// matches it; [`ErrorKind::ChecksumMismatch`] when it does not, and a
    /// warning when it cannot be compared.
    fn check_object(
        &self,
        parts: &[CompletedPart],
        remote: Option<String>,
        key: &str,
    ) -> Result<Option<String>, Error> {
        match (object_checksum(parts), remote) {
            (Some(local), Some(remote)) if composites_match(&local, &remote) => Ok(Some(local)),
            (Some(local), Some(remote)) => Err(ErrorKind::ChecksumMismatch(Mismatch {
                expected: local,
                actual: remote,
                key: key.to_owned(),
            })
            .into()),
            _ => {
                self.events.warning(Warning {
                    code: WarningCode::ChecksumUnverified,
                    message: "the store checked each part's SHA-256, but the object's \
                              checksum could not be compared (the backend did not pass it \
                              on, or a part's checksum is unknown)"
                        .into(),
                });
                Ok(None)
            }
        }
    }
}

/// Every part with its ETag, in order; an empty list for an empty object
/// (the backend stores it from an empty part list).
fn completed_parts(
    record: &UploadRecord,
    with_checksums: bool,
) -> Result<Vec<CompletedPart>, Error> {
    if record.file_size == 0 {
        return Ok(Vec::new());
    }
    // Plain loops here and below: a fallible collect is its iterator
    // adapters' worth of code in the wasm (BENCHMARKS.md).
    let mut parts = Vec::with_capacity(record.parts.len());
    for p in &record.parts {
        let (PartState::Done, Some(etag)) = (&p.state, &p.etag) else {
            return Err(ErrorKind::BadResponse {
                operation: Operation::Complete,
                detail: [
                    "part ",
                    &decimal(p.number.into()),
                    " has no ETag at completion",
                ]
                .concat(),
            }
            .into());
        };
        parts.push(CompletedPart {
            part_number: p.number,
            etag: etag.clone(),
            checksum_sha256: p.checksum.clone().filter(|_| with_checksums),
        });
    }
    Ok(parts)
}

/// The composite checksum of the object these parts make, when every part
/// has a readable checksum.
fn object_checksum(parts: &[CompletedPart]) -> Option<String> {
    if parts.is_empty() {
        return None;
    }
    let mut digests = Vec::with_capacity(parts.len());
    for p in parts {
        digests.push(Sha256Digest::from_base64(p.checksum_sha256.as_deref()?)?);
    }
    Some(composite(&digests))
}
