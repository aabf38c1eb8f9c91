//! Where a part's bytes come from in the browser ([`PartSource`]): `Blob`s,
//! from a file (`Blob.slice`, never read to be sent) or from a streaming
//! source (its `read(offset, length)`), hashed by [`hash`].
//! A new kind of source is one more variant here, and one more case in
//! `api.rs`'s conversion of `new Upload(x)`.

use std::ops::Range;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::deadline::within;
use super::js::field;
use super::{blob, hash};
use crate::core::checksum::Sha256Digest;
use crate::core::fingerprint::FileIdentity;
use crate::core::text::decimal;
use crate::driver::FileInfo;
use crate::error::{Error, ErrorKind};
use crate::ports::{PartSource, PortFuture};

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
    /// Keys `identity` by a plain `Blob`'s content sample, read now (see
    /// [`FileIdentity::content_sample`]): a Blob has no name or date, so
    /// two of one size were one record (a second `start()` refused as
    /// another tab's, a paused one aborted as "changed" by the other). A
    /// File, a stream, an identity keyed already, or a Blob whose sample
    /// cannot be read (keyed by its size, its first part then fails) is
    /// left as it is.
    pub async fn key_by_content(&self, identity: &mut FileIdentity) {
        if let Source::File(blob) = self {
            if identity.content_sample.is_none() && blob::as_file(blob).is_none() {
                identity.content_sample = blob::sample_sha256(blob).await.ok();
            }
        }
    }
}

/// What `new Upload(x)` was given: a `File` or `Blob`, or a streaming
/// source (an object with a `read` function), with what the driver needs
/// to know of it; [`ErrorKind::NotAFile`] for anything else.
pub fn from_js(value: &JsValue) -> Result<(Source, FileInfo), Error> {
    if let Some(blob) = super::blob::as_blob(value) {
        let (name, last_modified) = match super::blob::as_file(value) {
            Some(file) => (file.name(), file.last_modified()),
            None => ("blob".into(), 0.0),
        };
        return Ok((
            Source::File(blob.clone()),
            FileInfo {
                identity: FileIdentity {
                    name,
                    size: super::blob::size(blob),
                    last_modified,
                    source_id: None,
                    relative_path: None,
                    content_sample: None,
                },
                file_type: blob.type_(),
                sample_sha256: None,
            },
        ));
    }
    if let Some(read) = field(value, "read").dyn_ref::<js_sys::Function>() {
        return stream_info(value, read);
    }
    Err(ErrorKind::NotAFile.into())
}

/// A streaming source `{ size, id, name?, type?, read }`.
fn stream_info(value: &JsValue, read: &js_sys::Function) -> Result<(Source, FileInfo), Error> {
    let size = field(value, "size")
        .as_f64()
        .filter(|n| n.is_finite() && *n >= 0.0 && n.fract() == 0.0)
        .filter(|n| *n <= crate::core::plan::MAX_SAFE_INTEGER as f64)
        .ok_or_else(|| Error::invalid_option("source.size", "must be a whole number of bytes"))?;
    let id = field(value, "id")
        .as_string()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::invalid_option(
                "source.id",
                "a streaming source needs an id (a non-empty string) naming its content, \
                 the same across page loads",
            )
        })?;
    // `option` is the field's name in errors: `source.name`, as `source.id`.
    let optional = |name: &str, option: &'static str| -> Result<Option<String>, Error> {
        let v = field(value, name);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.as_string()
            .map(Some)
            .ok_or_else(|| Error::invalid_option(option, "must be a string"))
    };
    let name = optional("name", "source.name")?.unwrap_or_else(|| id.clone());
    let file_type = optional("type", "source.type")?.unwrap_or_default();
    Ok((
        Source::Stream {
            object: value.clone(),
            read: read.clone(),
        },
        FileInfo {
            identity: FileIdentity {
                name,
                size: size as u64,
                last_modified: 0.0,
                source_id: Some(id),
                relative_path: None,
                content_sample: None,
            },
            file_type,
            sample_sha256: None,
        },
    ))
}

fn read_failed(detail: String) -> Error {
    ErrorKind::ReadFailed { detail }.into()
}

/// `value` as a Blob when it is bytes (a Blob, or a typed array,
/// `DataView` or `ArrayBuffer`, copied now); `None` for anything else (a
/// promise of bytes, or something that is no bytes at all).
fn body_of(value: &JsValue) -> Result<Option<Blob>, Error> {
    if let Some(b) = super::blob::as_blob(value) {
        return Ok(Some(b.clone()));
    }
    // `isView` and the brand, not `instanceof`: bytes made in another
    // realm (an iframe; Firefox's WebDriver scripts) are bytes too.
    if js_sys::ArrayBuffer::is_view(value) || blob::is_array_buffer(value) {
        return Blob::new_with_u8_array_sequence(&Array::of1(value))
            .map(Some)
            .map_err(|e| read_failed(super::js_error::describe(&e)));
    }
    Ok(None)
}

/// Calls `read(offset, length)` and checks that it gave exactly that many
/// bytes (a `Uint8Array` or another typed array or `DataView`, an
/// `ArrayBuffer` or a `Blob`, or a promise of one).
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
    // Bytes given at once are copied at once: a source that reuses its
    // buffer (a scratch array filled for each read) fills it again for
    // the next part's read while this one awaits.
    let body = match body_of(&produced)? {
        Some(body) => body,
        None => {
            let value = within(
                blob::READ_TIMEOUT_MS,
                JsFuture::from(Promise::resolve(&produced)),
            )
            .await
            .ok_or_else(|| {
                read_failed(
                    [
                        "source.read gave no bytes within ",
                        &decimal((blob::READ_TIMEOUT_MS / 1000).into()),
                        " s",
                    ]
                    .concat(),
                )
            })?
            .map_err(|e| {
                read_failed(["source.read rejected: ", &super::js_error::describe(&e)].concat())
            })?;
            body_of(&value)?.ok_or_else(|| {
                read_failed("source.read must resolve to a Uint8Array, ArrayBuffer or Blob".into())
            })?
        }
    };
    let got = blob::size(&body);
    if got != length {
        let length = decimal(length);
        return Err(read_failed(
            [
                "source.read(",
                &decimal(range.start),
                ", ",
                &length,
                ") gave ",
                &decimal(got),
                " bytes; it must give exactly ",
                &length,
            ]
            .concat(),
        ));
    }
    Ok(body)
}

impl PartSource<Blob> for Source {
    fn body<'a>(&'a self, range: Range<u64>) -> PortFuture<'a, Blob> {
        Box::pin(async move {
            match self {
                Source::File(file) => blob::slice(file, range),
                Source::Stream { object, read } => read_stream(object, read, range).await,
            }
        })
    }

    fn sha256<'a>(&'a self, body: &'a Blob) -> PortFuture<'a, Sha256Digest> {
        Box::pin(async move { hash::sha256(body).await })
    }

    /// A file's part is read for its first byte (a file changed since it
    /// was picked fails to); a streaming source's bytes are in memory.
    fn readable<'a>(&'a self, body: &'a Blob) -> PortFuture<'a, ()> {
        Box::pin(async move {
            match self {
                Source::File(_) => blob::read_array(body, 0..1).await.map(drop),
                Source::Stream { .. } => Ok(()),
            }
        })
    }
}
