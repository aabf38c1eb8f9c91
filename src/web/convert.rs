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
use super::js::{field, string, whole, whole_u32, Builder, Fields};
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
    let f = Fields::of(value);
    let id = f.string("id");
    let part = PartRecord {
        number: f.whole_u32("number"),
        size: 0,
        state: f.require(state_of(&f.string("state"))),
        etag: f.optional_string("etag"),
        checksum: f.optional_string("checksum"),
    };
    f.checked((id, part))
}

/// A part of the layout written before parts were compacted.
fn part_from_js(value: &JsValue) -> Option<PartRecord> {
    let f = Fields::of(value);
    f.checked(PartRecord {
        number: f.whole_u32("number"),
        size: f.whole("size"),
        state: f.require(state_of(&f.string("state"))),
        etag: f.optional_string("etag"),
        checksum: f.optional_string("checksum"),
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
    let f = Fields::of(value);
    f.checked(CompactParts {
        states: f.string("partStates"),
        etags: f.string("partEtags"),
        checksums: f.string("partChecksums"),
    })?
    .parts(&plan)
}

/// A stored record; `None` for a value of another layout.
pub fn record_from_js(value: &JsValue) -> Option<UploadRecord> {
    let f = Fields::of(value);
    let file_size = f.whole("fileSize");
    let part_size = f.whole("partSize");
    let record = UploadRecord {
        schema: f.whole_u32("schema"),
        id: f.string("id"),
        namespace: f.string("namespace"),
        endpoint: f.string("endpoint"),
        upload_id: f.string("uploadId"),
        key: f.string("key"),
        file_name: f.string("fileName"),
        file_size,
        last_modified: f.number("lastModified"),
        file_type: f.string("fileType"),
        part_size,
        sample_sha256: f.optional_string("sampleSha256"),
        checksum_algorithm: f.optional_string("checksumAlgorithm"),
        created_at: f.number("createdAt"),
        updated_at: f.number("updatedAt"),
        adopted: f.truthy("adopted"),
        queued: f.truthy("queued"),
        parts: Vec::new(),
    };
    let mut record = f.checked(record)?;
    record.parts = parts_from_js(value, file_size, part_size)?;
    Some(record)
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
    let f = Fields::of(value);
    let pending = PendingUpload {
        id: f.string("id"),
        endpoint: f.string("endpoint"),
        namespace: f.string("namespace"),
        upload_id: f.string("uploadId"),
        key: f.string("key"),
        file_name: f.string("fileName"),
        file_size: f.whole("fileSize"),
        last_modified: f.number("lastModified"),
        file_type: string(value, "fileType").unwrap_or_default(),
        part_size: f.whole("partSize"),
        created_at: f.number("createdAt"),
        parts_done: whole_u32(value, "partsDone").unwrap_or(0),
        parts_total: whole_u32(value, "partsTotal").unwrap_or(0),
        bytes_done: whole(value, "bytesDone").unwrap_or(0),
        running: f.truthy("running"),
    };
    f.checked(pending)
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
