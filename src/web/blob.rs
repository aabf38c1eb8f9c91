//! Slicing a `File`/`Blob` into parts without reading its bytes.

use std::ops::Range;

use web_sys::Blob;

use crate::core::plan::MAX_SAFE_INTEGER;
use crate::error::{Error, Operation};

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
        .map_err(|e| Error::Network {
            operation: Operation::UploadPart,
            detail: format!("Blob.slice failed: {}", super::js_error::describe(&e)),
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
