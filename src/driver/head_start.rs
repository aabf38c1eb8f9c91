//! Head starts: the first part a run sends, prepared while a round trip it
//! cannot do without is on its way.
//!
//! - A fresh upload's first part is read and hashed while the upload is
//!   created, so its hash (tens of ms for 8 MiB) does not wait for the
//!   create round trip. Only with checksums asked for: unhashed, a file's
//!   part is a `Blob` slice, ready at once. Its URL is signed by its worker,
//!   as the upload did not exist before. If the backend does not confirm
//!   checksums, the hashing is dropped unfinished.
//! - A resume's lowest part not done is read (and hashed) and its URL
//!   signed while the server's part list is on its way, so that once the
//!   list confirms the part is still missing, it goes on the wire without a
//!   signing round trip of its own. Nothing is sent or recorded before the
//!   list is reconciled (the server wins): a part the list shows held is
//!   simply never sent, and its URL is dropped. Nor does an upload adopted
//!   from another device get one (which parts it holds is known only from
//!   the list).
//!
//! A streaming source gets neither (its `read` is asked only for parts the
//! server lacks, in order).

use std::pin::pin;

use futures::future::{select, Either};

use super::parts::{parts_hashed, PartTarget, ReadyPart};
use super::{Driver, FileInfo, RunState};
use crate::core::plan::PartPlan;
use crate::core::record::{PartState, UploadRecord};
use crate::error::Error;
use crate::options::ChecksumMode;

impl<B> Driver<'_, B> {
    /// The head start of a resume of `record`: its lowest part not done,
    /// prepared and signed. `None` for a streaming source, an adopted
    /// upload, a record with every part done, or a part that could not be
    /// read (its worker reads it again, and fails the run there if it
    /// must).
    pub(super) async fn head_start(
        &self,
        record: &UploadRecord,
        file: &FileInfo,
    ) -> Option<Box<ReadyPart<B>>> {
        if file.identity.is_stream() || record.adopted {
            return None;
        }
        let first = record.parts.iter().find(|p| p.state != PartState::Done)?;
        let part = PartTarget::of(record, first.number);
        let (part, body) = self.prepare(part, parts_hashed(record, file)).await.ok()?;
        let url = Some(self.sign_ahead(&part).await);
        Some(Box::new(ReadyPart { part, body, url }))
    }

    /// Creates a fresh upload ([`create`](Driver::create), which may
    /// `adopt` one) while its first part is read and hashed; answers its
    /// record and that part, unsigned (an adopted upload's is not
    /// waited for, and not for the caller to send: it may be held).
    pub(super) async fn create_with_head_start(
        &self,
        id: &str,
        file: &FileInfo,
        plan: &PartPlan,
        adopt: bool,
    ) -> Result<(RunState, Option<Box<ReadyPart<B>>>), Error> {
        let create = pin!(self.create(id, file, plan, adopt));
        let first = pin!(self.first_part_hashed(file, plan));
        let (record, first) = match select(create, first).await {
            Either::Left((created, first)) => {
                let record = created?;
                let hashed = parts_hashed(&record.borrow(), file);
                // Not hashed after all, or adopted: the hashing is dropped.
                let first = match hashed && !record.borrow().adopted {
                    true => first.await,
                    false => None,
                };
                (record, first)
            }
            Either::Right((first, create)) => (create.await?, first),
        };
        let head = first.map(|(body, checksum)| {
            let fresh = record.borrow();
            Box::new(ReadyPart {
                part: PartTarget::of(&fresh, 1)
                    .with_checksum(checksum.filter(|_| parts_hashed(&fresh, file))),
                body,
                url: None,
            })
        });
        Ok((record, head))
    }

    /// A fresh upload's first part, read and hashed; `None` without
    /// checksums asked for, for a streaming source or an empty file, or if
    /// it could not be read (its worker reads it again, and fails the run
    /// there if it must).
    async fn first_part_hashed(
        &self,
        file: &FileInfo,
        plan: &PartPlan,
    ) -> Option<(B, Option<String>)> {
        let asked = self.options.checksum != ChecksumMode::None;
        if !asked || file.identity.is_stream() || plan.total_size() == 0 {
            return None;
        }
        self.read_part(plan.range(1), true).await.ok()
    }
}
