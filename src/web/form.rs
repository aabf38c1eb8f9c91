//! The body of a whole small file's single request: the `Blob` itself for
//! a presigned `PUT`, or for a presigned `POST` (Uppy Companion's
//! `/params`) a `multipart/form-data` of the signed fields with the file
//! last, as S3's POST Object wants it.

use wasm_bindgen::JsValue;
use web_sys::{Blob, FormData};

use crate::error::{Error, ErrorKind, Operation};
use crate::ports::{SignedSingle, SingleMethod};

/// What the request for `signed` sends.
pub fn body_of(signed: &SignedSingle, file: &Blob) -> Result<JsValue, Error> {
    if signed.method == SingleMethod::Put {
        return Ok(file.clone().into());
    }
    let failed = |e: JsValue| ErrorKind::Network {
        operation: Operation::UploadFile,
        detail: super::js_error::describe(&e),
    };
    let form = FormData::new().map_err(failed)?;
    for (name, value) in &signed.fields {
        form.append_with_str(name, value).map_err(failed)?;
    }
    form.append_with_blob("file", file).map_err(failed)?;
    Ok(form.into())
}
