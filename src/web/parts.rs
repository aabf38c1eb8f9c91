//! The data plane of one upload in the browser ([`PartIo`]): part bodies as
//! `Blob`s, from a file (`Blob.slice`, never read to be sent) or from a
//! streaming source (its `read(offset, length)`), hashed by
//! [`hash`](super::hash) and sent by [`XhrSender`].

use std::ops::Range;

use js_sys::{Array, Function, Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::deadline::within;
use super::xhr::XhrSender;
use super::{blob, hash};
use crate::core::checksum::Sha256Digest;
use crate::error::Error;
use crate::ports::PartIo;

/// Where an upload's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A `File` or `Blob`.
    File(Blob),
    /// A page object `{ size, name, id, read(offset, length) }` whose
    /// `read` produces the same bytes for the same range every time.
    Stream {
        /// The object (`read` is called on it).
        object: JsValue,
        /// Its `read` function.
        read: Function,
    },
}

impl Source {
    /// Bytes `range`, as a `Blob`.
    pub async fn body(&self, range: Range<u64>) -> Result<Blob, Error> {
        match self {
            Source::File(file) => blob::slice(file, range),
            Source::Stream { object, read } => read_stream(object, read, range).await,
        }
    }
}

fn read_failed(detail: String) -> Error {
    Error::ReadFailed { detail }
}

/// Calls `read(offset, length)` and checks that it gave exactly that many
/// bytes (a `Uint8Array`, `ArrayBuffer` or `Blob`, or a promise of one).
async fn read_stream(object: &JsValue, read: &Function, range: Range<u64>) -> Result<Blob, Error> {
    let length = range.end - range.start;
    let produced = read
        .call2(
            object,
            &(range.start as f64).into(),
            &(length as f64).into(),
        )
        .map_err(|e| {
            read_failed(["source.read threw: ", &super::js_error::describe(&e)].concat())
        })?;
    let value = within(
        blob::READ_TIMEOUT_MS,
        JsFuture::from(Promise::resolve(&produced)),
    )
    .await
    .ok_or_else(|| {
        read_failed(format!(
            "source.read gave no bytes within {} s",
            blob::READ_TIMEOUT_MS / 1000
        ))
    })?
    .map_err(|e| {
        read_failed(["source.read rejected: ", &super::js_error::describe(&e)].concat())
    })?;
    let body = if let Some(b) = value.dyn_ref::<Blob>() {
        b.clone()
    } else if value.is_instance_of::<Uint8Array>() || value.is_instance_of::<js_sys::ArrayBuffer>()
    {
        let parts = Array::of1(&value);
        Blob::new_with_u8_array_sequence(&parts)
            .map_err(|e| read_failed(super::js_error::describe(&e)))?
    } else {
        return Err(read_failed(
            "source.read must resolve to a Uint8Array, ArrayBuffer or Blob".into(),
        ));
    };
    let got = blob::size(&body);
    if got != length {
        return Err(read_failed(format!(
            "source.read({}, {length}) gave {got} bytes; it must give exactly {length}",
            range.start
        )));
    }
    Ok(body)
}

/// Reads, hashes and sends the parts of one upload.
#[derive(Debug, Clone)]
pub struct WebParts {
    source: Source,
    sender: XhrSender,
}

impl WebParts {
    /// Parts of `source`, sent by `sender`.
    pub fn new(source: Source, sender: XhrSender) -> Self {
        WebParts { source, sender }
    }
}

impl PartIo for WebParts {
    type Body = Blob;

    async fn body(&self, range: Range<u64>) -> Result<Blob, Error> {
        self.source.body(range).await
    }

    async fn sha256(&self, body: &Blob) -> Result<Sha256Digest, Error> {
        hash::sha256(body).await
    }

    async fn send(
        &self,
        url: &str,
        part_number: u32,
        body: &Blob,
        checksum_sha256: Option<&str>,
        watch_progress: bool,
        progress: &dyn Fn(u64),
    ) -> Result<String, Error> {
        self.sender
            .send(
                url,
                part_number,
                body,
                checksum_sha256,
                watch_progress,
                progress,
            )
            .await
    }
}
