//! The library's data as plain JavaScript objects and back, written out by
//! hand (a serializer would cost more bytes than all of these together).
//!
//! The shapes are those the serde derives of `src/core` describe in JSON:
//! camelCase keys, whole numbers as numbers, `null` for a missing value
//! unless the field is left out when empty. Stored records must keep them,
//! so records written by any version of resupload still load.

use js_sys::Array;
use wasm_bindgen::JsValue;

use super::handles::Kind;
use super::js::{field, optional_string, string, whole, whole_u32, Builder};
use crate::core::record::{CompactParts, PartRecord, PartState, PendingUpload, UploadRecord};
use crate::driver::Completed;
use crate::ports::CompletedPart;

fn state_name(state: PartState) -> &'static str {
    match state {
        PartState::Pending => "pending",
        PartState::InFlight => "inFlight",
        PartState::Done => "done",
    }
}

fn state_of(name: &str) -> Option<PartState> {
    match name {
        "pending" => Some(PartState::Pending),
        "inFlight" => Some(PartState::InFlight),
        "done" => Some(PartState::Done),
        _ => None,
    }
}

/// A record as stored in IndexedDB: its fields, and its parts as
/// [`CompactParts`] (`partStates`, `partEtags`, `partChecksums`).
pub fn record_to_js(record: &UploadRecord) -> JsValue {
    let parts = CompactParts::of(&record.parts);
    Builder::new()
        .num("schema", f64::from(record.schema))
        .str("id", &record.id)
        .str("namespace", &record.namespace)
        .str("endpoint", &record.endpoint)
        .str("uploadId", &record.upload_id)
        .str("key", &record.key)
        .str("fileName", &record.file_name)
        .num("fileSize", record.file_size as f64)
        .num("lastModified", record.last_modified)
        .str("fileType", &record.file_type)
        .num("partSize", record.part_size as f64)
        .str_or_null("sampleSha256", record.sample_sha256.as_deref())
        .str_if("checksumAlgorithm", record.checksum_algorithm.as_deref())
        .num("createdAt", record.created_at)
        .num("updatedAt", record.updated_at)
        .set("adopted", &record.adopted.into())
        .set("queued", &record.queued.into())
        .str("partStates", &parts.states)
        .str("partEtags", &parts.etags)
        .str("partChecksums", &parts.checksums)
        .done()
}

/// One part's entry in the journal of part writes (IndexedDB store
/// `parts`, key `[id, number]`): written between two writes of the whole
/// record.
pub fn part_entry_to_js(id: &str, part: &PartRecord) -> JsValue {
    Builder::new()
        .str("id", id)
        .num("number", f64::from(part.number))
        .str("state", state_name(part.state))
        .str_if("etag", part.etag.as_deref())
        .str_if("checksum", part.checksum.as_deref())
        .done()
}

/// A journal entry: the record id, and the part's number, state, ETag and
/// checksum (its size comes from the record's plan).
pub fn part_entry_from_js(value: &JsValue) -> Option<(String, PartRecord)> {
    Some((
        string(value, "id")?,
        PartRecord {
            number: whole_u32(value, "number")?,
            size: 0,
            state: state_of(&string(value, "state")?)?,
            etag: optional_string(value, "etag")?,
            checksum: optional_string(value, "checksum")?,
        },
    ))
}

/// A part of the layout written before parts were compacted.
fn part_from_js(value: &JsValue) -> Option<PartRecord> {
    Some(PartRecord {
        number: whole_u32(value, "number")?,
        size: whole(value, "size")?,
        state: state_of(&string(value, "state")?)?,
        etag: optional_string(value, "etag")?,
        checksum: optional_string(value, "checksum")?,
    })
}

/// The parts of a stored record, in either layout.
fn parts_from_js(value: &JsValue, file_size: u64, part_size: u64) -> Option<Vec<PartRecord>> {
    let old = field(value, "parts");
    if Array::is_array(&old) {
        // A loop: a fallible collect is more code in the wasm.
        let mut parts = Vec::new();
        for part in Array::from(&old).iter() {
            parts.push(part_from_js(&part)?);
        }
        return Some(parts);
    }
    let plan = crate::core::plan::PartPlan::with_part_size(file_size, part_size);
    if !plan.is_valid() {
        return None;
    }
    CompactParts {
        states: string(value, "partStates")?,
        etags: string(value, "partEtags")?,
        checksums: string(value, "partChecksums")?,
    }
    .parts(&plan)
}

/// A stored record; `None` for a value of another layout.
pub fn record_from_js(value: &JsValue) -> Option<UploadRecord> {
    let number = |name| field(value, name).as_f64();
    let file_size = whole(value, "fileSize")?;
    let part_size = whole(value, "partSize")?;
    Some(UploadRecord {
        schema: whole_u32(value, "schema")?,
        id: string(value, "id")?,
        namespace: string(value, "namespace")?,
        endpoint: string(value, "endpoint")?,
        upload_id: string(value, "uploadId")?,
        key: string(value, "key")?,
        file_name: string(value, "fileName")?,
        file_size,
        last_modified: number("lastModified")?,
        file_type: string(value, "fileType")?,
        part_size,
        sample_sha256: optional_string(value, "sampleSha256")?,
        checksum_algorithm: optional_string(value, "checksumAlgorithm")?,
        created_at: number("createdAt")?,
        updated_at: number("updatedAt")?,
        adopted: field(value, "adopted").is_truthy(),
        queued: field(value, "queued").is_truthy(),
        parts: parts_from_js(value, file_size, part_size)?,
    })
}

/// What `findPrevious` and `listPending` give for a record; `kept` says
/// what it continues from without picking, if anything.
pub fn pending_to_js(p: &PendingUpload, kept: Option<Kind>) -> JsValue {
    let resume_from = kept.map_or(JsValue::NULL, |k| JsValue::from_str(k.resume_from()));
    Builder::new()
        .str("id", &p.id)
        .str("endpoint", &p.endpoint)
        .str("namespace", &p.namespace)
        .str("uploadId", &p.upload_id)
        .str("key", &p.key)
        .str("fileName", &p.file_name)
        .num("fileSize", p.file_size as f64)
        .num("lastModified", p.last_modified)
        .str("fileType", &p.file_type)
        .num("partSize", p.part_size as f64)
        .num("createdAt", p.created_at)
        .num("partsDone", f64::from(p.parts_done))
        .num("partsTotal", f64::from(p.parts_total))
        .num("bytesDone", p.bytes_done as f64)
        .set(
            "canResumeWithoutPicking",
            &JsValue::from_bool(kept.is_some()),
        )
        .set("resumeFrom", &resume_from)
        .set("running", &JsValue::from_bool(p.running))
        .done()
}

/// An entry of `listPending`, as a page hands it back.
pub fn pending_from_js(value: &JsValue) -> Option<PendingUpload> {
    Some(PendingUpload {
        id: string(value, "id")?,
        endpoint: string(value, "endpoint")?,
        namespace: string(value, "namespace")?,
        upload_id: string(value, "uploadId")?,
        key: string(value, "key")?,
        file_name: string(value, "fileName")?,
        file_size: whole(value, "fileSize")?,
        last_modified: field(value, "lastModified").as_f64()?,
        file_type: string(value, "fileType").unwrap_or_default(),
        part_size: whole(value, "partSize")?,
        created_at: field(value, "createdAt").as_f64()?,
        parts_done: whole_u32(value, "partsDone").unwrap_or(0),
        parts_total: whole_u32(value, "partsTotal").unwrap_or(0),
        bytes_done: whole(value, "bytesDone").unwrap_or(0),
        running: field(value, "running").is_truthy(),
    })
}

/// What `start()` resolves to.
pub fn completed_to_js(c: &Completed) -> JsValue {
    Builder::new()
        .str("key", &c.key)
        .str("uploadId", &c.upload_id)
        .str("location", &c.location)
        .str_if("checksumSha256", c.checksum_sha256.as_deref())
        .done()
}

/// The `parts` of the completion call.
pub fn completed_parts_to_js(parts: &[CompletedPart]) -> JsValue {
    parts
        .iter()
        .map(|p| {
            Builder::new()
                .num("PartNumber", f64::from(p.part_number))
                .str("ETag", &p.etag)
                .str_if("ChecksumSHA256", p.checksum_sha256.as_deref())
                .done()
        })
        .collect::<Array>()
        .into()
}
