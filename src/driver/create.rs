//! Starting a fresh multipart upload, and agreeing on checksums with the
//! backend.

use std::cell::RefCell;

use super::{Driver, FileInfo, RunState};
use crate::core::plan::PartPlan;
use crate::core::record::{NewRecord, UploadRecord};
use crate::error::{Error, ErrorKind, Operation};
use crate::options::ChecksumMode;
use crate::ports::{Created, NewUpload, Warning, WarningCode, SHA256};

impl<B> Driver<'_, B> {
    /// Creates the upload on the server and saves its record (every part
    /// pending). With `adopt` (and [`may_adopt`](Driver::may_adopt)), the
    /// backend may answer the caller's upload of the same content begun
    /// elsewhere instead: its record is [adopted](UploadRecord::adopted),
    /// and which parts it holds is known only from its part list.
    pub(super) async fn create(
        &self,
        id: &str,
        file: &FileInfo,
        plan: &PartPlan,
        adopt: bool,
    ) -> Result<RunState, Error> {
        let adopt = adopt && self.may_adopt(file);
        let mut created = self.ask_create(file, plan, adopt).await?;
        if let Some(adopted) = created.adopted.take() {
            if let Some(record) = self.adopted_record(id, file, &created, &adopted) {
                self.store.save(&record).await?;
                return Ok(Box::new(RefCell::new(record)));
            }
            // Not one this file can continue: a fresh upload instead.
            created = self.ask_create(file, plan, false).await?;
        }
        let checksums = self.agree_on_checksums(&created).await?;
        let fresh = NewRecord {
            checksum_algorithm: checksums.then_some(SHA256),
            ..self.fields_of(id, file, &created, self.now())
        };
        let record = self.new_record(fresh, plan);
        self.store.save(&record).await?;
        Ok(Box::new(RefCell::new(record)))
    }

    /// A new record's fields for `file` and the upload `created`, begun at
    /// `now`, with no checksum algorithm.
    pub(super) fn fields_of<'a>(
        &'a self,
        id: &'a str,
        file: &'a FileInfo,
        created: &'a Created,
        now: f64,
    ) -> NewRecord<'a> {
        NewRecord {
            id,
            namespace: &self.options.namespace,
            endpoint: self.options.endpoint_base(),
            upload_id: &created.upload_id,
            key: &created.key,
            file_name: &file.identity.name,
            last_modified: file.identity.last_modified,
            file_type: &file.file_type,
            now,
            sample_sha256: file.sample_sha256.as_deref(),
            checksum_algorithm: None,
        }
    }

    /// The record of a new upload, every part of `plan` pending, marked as
    /// the queue's when this run is one of its files.
    pub(super) fn new_record(&self, fresh: NewRecord<'_>, plan: &PartPlan) -> UploadRecord {
        let mut record = UploadRecord::new(fresh, plan);
        record.queued = self.options.in_queue;
        record
    }

    /// The backend's answer to creating an upload of `file`. An upload
    /// begun elsewhere that was not asked for is refused: its parts would
    /// be taken as this file's unverified.
    async fn ask_create(
        &self,
        file: &FileInfo,
        plan: &PartPlan,
        adopt: bool,
    ) -> Result<Box<Created>, Error> {
        let ask_checksums = self.options.checksum != ChecksumMode::None;
        let upload = NewUpload {
            namespace: &self.options.namespace,
            file_name: &file.identity.name,
            file_type: &file.file_type,
            metadata: &self.options.metadata,
            checksum_algorithm: ask_checksums.then_some(SHA256),
            size: file.identity.size,
            sample_sha256: file.sample_sha256.as_deref(),
            part_size: plan.part_size(),
            relative_path: file.identity.relative_path.as_deref(),
            adopt,
        };
        let created = self.with_retries(|| self.backend.create(upload)).await?;
        if created.adopted.is_some() && !adopt {
            return Err(ErrorKind::BadResponse {
                operation: Operation::Create,
                detail: "it answered an upload begun elsewhere, which was not asked for".into(),
            }
            .into());
        }
        Ok(Box::new(created))
    }

    /// Whether the parts of `created` carry checksums. A backend that did
    /// not confirm them is an error with `checksum: "sha256"` (the upload it
    /// created is aborted), and a warning when unset.
    async fn agree_on_checksums(&self, created: &Created) -> Result<bool, Error> {
        let confirmed = created
            .checksum_algorithm
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(SHA256));
        match self.options.checksum {
            _ if confirmed => Ok(true),
            ChecksumMode::None => Ok(false),
            ChecksumMode::Sha256 => {
                let backend = self.backend;
                let _ = backend.abort(&created.upload_id, &created.key).await;
                Err(ErrorKind::ChecksumUnsupported.into())
            }
            ChecksumMode::Auto => {
                self.events.warning(Warning {
                    code: WarningCode::ChecksumUnsupported,
                    message: "the signing backend does not support SHA-256 part checksums \
                              (a plain Uppy Companion): uploading without them; pass \
                              checksum: \"none\" to silence this"
                        .into(),
                });
                Ok(false)
            }
        }
    }
}
