//! Slicing a `File`/`Blob` into parts without reading its bytes, and
//! reading bounded ranges of it (for hashing and the content sample).

use std::ops::Range;

use wasm_bindgen::prelude::*;
use web_sys::{Blob, File};

use super::deadline::within;

use crate::core::plan::MAX_SAFE_INTEGER;
use crate::core::text::decimal;
use crate::error::{Error, ErrorKind};

#[wasm_bindgen]
extern "C" {
    /// `Object.prototype.toString.call(value)`: "[object File]" for a File
    /// of any realm.
    #[wasm_bindgen(js_namespace = ["Object", "prototype", "toString"], js_name = call)]
    fn brand(value: &JsValue) -> String;
}

/// `value` as a `Blob` (a `File` is one), made in this realm or another
/// (an iframe's input), where `instanceof Blob` says no.
pub fn as_blob(value: &JsValue) -> Option<&Blob> {
    if let Some(blob) = value.dyn_ref::<Blob>() {
        return Some(blob);
    }
    let other_realm =
        value.is_object() && matches!(brand(value).as_str(), "[object Blob]" | "[object File]");
    other_realm.then(|| value.unchecked_ref())
}

/// `value` as a `File`, of this realm or another.
pub fn as_file(value: &JsValue) -> Option<&File> {
    if let Some(file) = value.dyn_ref::<File>() {
        return Some(file);
    }
    (value.is_object() && brand(value) == "[object File]").then(|| value.unchecked_ref())
}

/// Whether `value` is an `ArrayBuffer`, of this realm or another (an
/// iframe's, where `instanceof ArrayBuffer` says no), by its brand.
pub fn is_array_buffer(value: &JsValue) -> bool {
    value.is_object() && brand(value) == "[object ArrayBuffer]"
}

/// How long one read of a range may take before the file counts as
/// unreadable (a file on a network share that went away, a browser bug).
pub const READ_TIMEOUT_MS: u32 = 30_000;

/// `blob.slice(range)`: a lazy view of the bytes, sent as a request body by
/// the browser without copying them into wasm memory.
pub fn slice(blob: &Blob, range: Range<u64>) -> Result<Blob, Error> {
    if range.end > MAX_SAFE_INTEGER || range.start > range.end {
        return Err(Error::invalid_option(
            "file",
            "byte offsets beyond 2^53 cannot be addressed in JavaScript",
        ));
    }
    // Offsets up to 2^53 are exact in an f64.
    blob.slice_with_f64_and_f64(range.start as f64, range.end as f64)
        .map_err(|e| {
            ErrorKind::ReadFailed {
                detail: ["Blob.slice failed: ", &super::js_error::describe(&e)].concat(),
            }
            .into()
        })
}

/// The size of a Blob as a whole number of bytes.
pub fn size(blob: &Blob) -> u64 {
    let size = blob.size();
    if size.is_finite() && size >= 0.0 {
        size as u64
    } else {
        0
    }
}

/// Reads bytes `range` of a Blob (`slice()` + `arrayBuffer()`), within
/// [`READ_TIMEOUT_MS`]: for hashing and the content sample, never to send.
pub async fn read_array(blob: &Blob, range: Range<u64>) -> Result<js_sys::Uint8Array, Error> {
    let part = slice(blob, range)?;
    let reading = wasm_bindgen_futures::JsFuture::from(part.array_buffer());
    match within(READ_TIMEOUT_MS, reading).await {
        Some(Ok(buffer)) => Ok(js_sys::Uint8Array::new(&buffer)),
        Some(Err(e)) => Err(ErrorKind::ReadFailed {
            detail: super::js_error::describe(&e),
        }
        .into()),
        None => Err(ErrorKind::ReadFailed {
            detail: [
                "reading ",
                &decimal(size(&part)),
                " bytes took more than ",
                &decimal((READ_TIMEOUT_MS / 1000).into()),
                " s",
            ]
            .concat(),
        }
        .into()),
    }
}

/// The content fingerprint of a Blob: the SHA-256 of its size and of its
/// first, middle and last 64 KiB. The three are read as one Blob of the
/// three slices, in one read (one after the other, the reads took a few
/// ms of every start).
pub async fn sample_sha256(blob: &Blob) -> Result<String, Error> {
    let total = size(blob);
    let ranges = crate::core::fingerprint::sample_ranges(total);
    let slices = js_sys::Array::new();
    for range in &ranges {
        slices.push(&slice(blob, range.clone())?.into());
    }
    let joined = Blob::new_with_blob_sequence(&slices).map_err(|e| ErrorKind::ReadFailed {
        detail: super::js_error::describe(&e),
    })?;
    let bytes = read_array(&joined, 0..size(&joined)).await?.to_vec();
    let mut rest = bytes.as_slice();
    let mut samples = Vec::new();
    for range in ranges {
        let Some((sample, after)) = rest.split_at_checked((range.end - range.start) as usize)
        else {
            return Err(ErrorKind::ReadFailed {
                detail: "the file gave fewer bytes than its size".into(),
            }
            .into());
        };
        samples.push(sample);
        rest = after;
    }
    Ok(crate::core::fingerprint::sample_digest(total, &samples))
}
