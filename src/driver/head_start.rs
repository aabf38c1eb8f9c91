//! A resume's head start: while the server's part list is on its way, the
//! first part the record lacks is read (and hashed) and its URL signed, so
//! that once the list confirms the part is still missing, it goes on the
//! wire without a signing round trip of its own.
//!
//! Nothing is sent or recorded before the list is reconciled (the server
//! wins): a part the list shows held is simply never sent, and its URL is
//! dropped. A streaming source gets no head start (its `read` is asked
//! only for parts the server lacks), nor does an upload adopted from
//! another device (which parts it holds is known only from the list).

use super::parts::{parts_hashed, PartTarget, SignedUrl};
use super::{Driver, FileInfo};
use crate::core::record::{PartState, UploadRecord};

/// A part prepared and signed ahead of the reconciliation.
pub(super) struct HeadStart<B> {
    /// The part, with its checksum when parts are hashed.
    pub part: PartTarget,
    /// Its bytes.
    pub body: B,
    /// Its presigned URL (or why signing failed), and when it was signed.
    pub url: SignedUrl,
}

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
    ) -> Option<HeadStart<B>> {
        if file.identity.is_stream() || record.adopted {
            return None;
        }
        let first = record.parts.iter().find(|p| p.state != PartState::Done)?;
        let part = PartTarget::of(record, first.number);
        let (part, body) = self.prepare(part, parts_hashed(record, file)).await.ok()?;
        let url = self.sign_ahead(&part).await;
        Some(HeadStart { part, body, url })
    }
}
