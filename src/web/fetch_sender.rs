//! A part sender over fetch, for where there is no XMLHttpRequest (a
//! service worker). fetch reports no upload progress, so `sentBytes` moves
//! only as parts are confirmed, and a request that does not finish within
//! the stall timeout is given up. It sends the `Blob` straight from the
//! file, like XMLHttpRequest.

use web_sys::Blob;

use super::deadline::within;
use super::fetch::{failed, request};
use super::js::Builder;
use crate::core::text::decimal;
use crate::error::{Error, ErrorKind, Operation};
use crate::ports::{PartPut, PartSender, PortFuture, SignedSingle, SingleMethod, WholeSender};

/// Sends part bodies with fetch.
#[derive(Debug)]
pub struct FetchSender {
    stall_timeout_ms: u32,
}

impl FetchSender {
    /// A sender whose requests are aborted when they do not finish within
    /// `stall_timeout_ms` (a network error, which is retried).
    pub fn new(stall_timeout_ms: u32) -> Self {
        FetchSender { stall_timeout_ms }
    }
}

impl PartSender<Blob> for FetchSender {
    fn send<'a>(
        &'a self,
        put: &'a PartPut<'a, Blob>,
        _progress: &'a dyn Fn(u64),
    ) -> PortFuture<'a, String> {
        Box::pin(async move {
            let _slot = super::host_slots::slot_for(put.url).await;
            self.bounded(Operation::UploadPart, put_part(put)).await
        })
    }
}

impl WholeSender<Blob> for FetchSender {
    fn send_whole<'a>(
        &'a self,
        signed: &'a SignedSingle,
        body: &'a Blob,
        _progress: &'a dyn Fn(u64),
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let _slot = super::host_slots::slot_for(&signed.url).await;
            self.bounded(Operation::UploadFile, send_whole(signed, body))
                .await
        })
    }
}

impl FetchSender {
    /// `request`, given up when it does not finish within the stall timeout.
    async fn bounded<T>(
        &self,
        operation: Operation,
        request: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        within(self.stall_timeout_ms, request)
            .await
            .unwrap_or_else(|| {
                Err(ErrorKind::Network {
                    operation,
                    detail: [
                        "no answer within ",
                        &decimal(self.stall_timeout_ms.into()),
                        " ms: the request was aborted",
                    ]
                    .concat(),
                }
                .into())
            })
    }
}

async fn put_part(put: &PartPut<'_, Blob>) -> Result<String, Error> {
    let headers = Builder::new().str_if("x-amz-checksum-sha256", put.checksum_sha256);
    let init = Builder::new()
        .str("method", "PUT")
        .set("body", put.body)
        .set("headers", &headers.done());
    let (response, _abort) = request(Operation::UploadPart, put.url, init).await?;
    if !response.ok() {
        return Err(failed(&response, Operation::UploadPart, Some(put.upload_id)).await);
    }
    match response.headers().get("etag").ok().flatten() {
        Some(etag) if !etag.trim_ascii().is_empty() => Ok(etag),
        _ => Err(ErrorKind::MissingEtag {
            part_number: put.part_number,
        }
        .into()),
    }
}

async fn send_whole(signed: &SignedSingle, file: &Blob) -> Result<(), Error> {
    let headers = match signed.method {
        SingleMethod::Put => signed
            .headers
            .iter()
            .fold(Builder::new(), |h, (name, value)| h.str(name, value)),
        SingleMethod::Post => Builder::new(),
    };
    let init = Builder::new()
        .str("method", signed.method.as_str())
        .set("body", &super::form::body_of(signed, file)?)
        .set("headers", &headers.done());
    let (response, _abort) = request(Operation::UploadFile, &signed.url, init).await?;
    match response.ok() {
        true => Ok(()),
        false => Err(failed(&response, Operation::UploadFile, None).await),
    }
}
