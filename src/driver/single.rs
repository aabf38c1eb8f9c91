//! A whole small file in one request (an upload queue's small files):
//! signed by the backend's `/params` route (Companion's presigned `POST`
//! form, or the dev server's presigned `PUT`), then sent. No multipart
//! upload, so no create or complete round trip and no record: a file this
//! small is sent again whole if it is interrupted, under the same signed
//! request while it is fresh (so to the same key).

use std::cell::{Cell, RefCell};

use super::parts::SIGNED_URL_FRESH_MS;
use super::progress::ProgressTracker;
use super::retry::with_retries;
use super::{Completed, Driver, FileInfo};
use crate::core::plan::check_fits;
use crate::core::text::split_at_byte;
use crate::error::{Error, ErrorKind, Refusal};
use crate::options::ChecksumMode;
use crate::ports::{NewSingle, SignedSingle, Warning, WarningCode, WholePorts};

/// A signed request, and when it was signed.
type Signed = (SignedSingle, f64);

/// Whether the store refused a presigned request as expired (403 "Request
/// has expired"): signing it again fixes it.
fn is_expired_url(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Http {
            refusal: Refusal::ExpiredUrl,
            ..
        }
    )
}

impl<B> Driver<'_, B> {
    /// Uploads `file` whole in one request, signed and sent by `whole`.
    /// With checksums, its SHA-256 is signed into the request and the
    /// store checks the bytes.
    pub async fn put_whole(
        &self,
        file: &FileInfo,
        whole: &WholePorts<'_, B>,
    ) -> Result<Box<Completed>, Error> {
        self.options.validate()?;
        let size = file.identity.size;
        // As a multipart upload's plan would: a file over the limit is its
        // own trouble, found before anything is signed.
        check_fits(size, self.options.max_object_size)?;
        let body = self.source.body(0..size).await?;
        let checksum = match self.options.checksum {
            ChecksumMode::None => None,
            _ => Some(self.source.sha256(&body).await?.to_base64()),
        };
        let single = NewSingle {
            namespace: &self.options.namespace,
            file_name: &file.identity.name,
            relative_path: file.identity.relative_path.as_deref(),
            file_type: &file.file_type,
            metadata: &self.options.metadata,
            size,
            checksum_sha256: checksum.as_deref(),
        };
        let sign = || whole.signer.sign_single(single);
        let first = self.with_retries(sign).await?;
        let signed_at = self.now();
        let checksummed = self.agree_on_single_checksum(&first, checksum.is_some())?;
        let shared = match self.budget {
            Some(budget) => Some(budget.acquire().await),
            None => None,
        };
        // Signed ahead so that a free slot never waits for a round trip
        // (one that waited long for its slot is signed afresh).
        let first = (first, signed_at);
        let signed = self.send_whole(whole, single, first, &body, size).await?;
        drop(shared);
        if let Some(budget) = self.budget {
            budget.done(size, self.now());
        }
        Ok(Box::new(Completed {
            location: split_at_byte(&signed.url, b'?')
                .map_or(&*signed.url, |(url, _)| url)
                .to_owned(),
            key: signed.key,
            upload_id: String::new(),
            checksum_sha256: checksum.filter(|_| checksummed),
        }))
    }

    /// Sends the body until the store takes it or the retry policy gives
    /// up (a body that can no longer be read ends it at once). Each
    /// attempt sends the request signed last (`first` at the start) while
    /// it is fresh ([`SIGNED_URL_FRESH_MS`], its age taken right before the
    /// attempt): a retry after an answer lost on the way back stores the
    /// same key again, not a second object under a new random key. One
    /// gone stale (a long wait for its slot or a long 429 hold: a form's
    /// policy expired is refused for good), or refused by the store as
    /// expired, is signed afresh. Answers the request that succeeded.
    async fn send_whole(
        &self,
        whole: &WholePorts<'_, B>,
        single: NewSingle<'_>,
        first: Signed,
        body: &B,
        size: u64,
    ) -> Result<SignedSingle, Error> {
        let tracker = RefCell::new(ProgressTracker::new(0, size, 0));
        let progress = |sent: u64| {
            tracker.borrow_mut().part_sent(1, sent);
            self.emit_progress(&tracker);
        };
        let kept = Cell::new(Some(first));
        let attempt = || async {
            let (signed, signed_at) = self.fresh_or_signed(whole, single, kept.take()).await?;
            tracker.borrow_mut().part_sent(1, 0);
            match whole.sender.send_whole(&signed, body, &progress).await {
                Ok(()) => Ok(signed),
                Err(error) => {
                    if !is_expired_url(&error) {
                        kept.set(Some((signed, signed_at)));
                    }
                    Err(self.unreadable_or(body, error).await)
                }
            }
        };
        let sent = with_retries(self.timer, &self.options.retry, attempt, || false).await?;
        tracker.borrow_mut().part_confirmed(1, size);
        self.emit_progress(&tracker);
        Ok(sent)
    }

    /// `kept` while it is fresh (its age taken now: under
    /// [`SIGNED_URL_FRESH_MS`], and under half the lifetime the backend
    /// gave it), else `single` signed afresh; with when it was signed.
    async fn fresh_or_signed(
        &self,
        whole: &WholePorts<'_, B>,
        single: NewSingle<'_>,
        kept: Option<Signed>,
    ) -> Result<Signed, Error> {
        match kept {
            Some((signed, at)) if self.now() - at < fresh_for(&signed) => Ok((signed, at)),
            _ => {
                let signed = whole.signer.sign_single(single).await?;
                Ok((signed, self.now()))
            }
        }
    }

    /// `error`, the whole file's request's, unless it is a network error
    /// and the `body` can no longer be read (the file changed or went
    /// since it was picked: the browser sends no body it cannot read, and
    /// reports that as a network error): then [`ErrorKind::ReadFailed`], the
    /// file's own trouble, neither retried nor stopping a queue.
    async fn unreadable_or(&self, body: &B, error: Error) -> Error {
        if !matches!(error.kind(), ErrorKind::Network { .. }) {
            return error;
        }
        match self.source.readable(body).await {
            Err(unreadable) => unreadable,
            Ok(()) => error,
        }
    }

    /// Whether the request carries the file's checksum. A backend that did
    /// not sign it is an error with `checksum: "sha256"`, and a warning
    /// when unset (a plain Companion's `POST` form has no checksum).
    fn agree_on_single_checksum(&self, signed: &SignedSingle, asked: bool) -> Result<bool, Error> {
        match (asked, signed.checksum_signed, self.options.checksum) {
            (false, _, _) => Ok(false),
            (true, true, _) => Ok(true),
            (true, false, ChecksumMode::Sha256) => Err(ErrorKind::ChecksumUnsupported.into()),
            (true, false, _) => {
                self.events.warning(Warning {
                    code: WarningCode::ChecksumUnsupported,
                    message: "the signing backend does not sign SHA-256 checksums for single \
                              uploads (a plain Uppy Companion): uploading without them; pass \
                              checksum: \"none\" to silence this"
                        .into(),
                });
                Ok(false)
            }
        }
    }
}

/// How long `signed` is used as it is: [`SIGNED_URL_FRESH_MS`], or half the
/// lifetime the backend said it has when that is less (a Companion set to
/// sign for 2 minutes: a form that waited 2 minutes for its slot is
/// refused by S3 as expired).
fn fresh_for(signed: &SignedSingle) -> f64 {
    signed.expires_secs.map_or(SIGNED_URL_FRESH_MS, |secs| {
        SIGNED_URL_FRESH_MS.min(f64::from(secs) * 1000.0 / 2.0)
    })
}
