//! Calls the JavaScript callbacks given in the options.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::JsValue;

use super::js::Builder;
use crate::ports::{
    Events, ExpiringSoon, PartBookkeeping, PartCompleted, Progress, RestartReason, Resumed,
    Warning, WarningCode,
};

/// The page's callbacks (`onProgress`, `onWarning`, ...).
#[derive(Debug, Default, Clone)]
pub struct JsEvents {
    /// `onProgress({sentBytes, confirmedBytes, totalBytes})`.
    pub on_progress: Option<Function>,
    /// `onPartComplete({partNumber, size, etag})`.
    pub on_part_complete: Option<Function>,
    /// `onResume({uploadId, skippedParts, skippedBytes, source})`.
    pub on_resume: Option<Function>,
    /// `onWarning({code, message})`.
    pub on_warning: Option<Function>,
    /// `onRestart({reason})`.
    pub on_restart: Option<Function>,
    /// `onExpiringSoon({uploadId, expiresAt})`.
    pub on_expiring_soon: Option<Function>,
    /// `onPartBookkeeping({partNumber, ms, blockingMs})`.
    pub on_part_bookkeeping: Option<Function>,
    /// The warning codes told already (each is told once per upload).
    pub warned: Rc<RefCell<Vec<WarningCode>>>,
    /// The most bytes `onProgress` has said were sent, since the upload
    /// began or last restarted. A run reports from the confirmed bytes, so
    /// after a pause (or a failed run) the next `start()` would report the
    /// parts that were in flight as unsent: the bar would jump back.
    pub sent_told: Rc<Cell<u64>>,
    /// Whether the running run has not resumed a stored upload (yet): its
    /// first progress then begins `sent_told` again, as a fresh upload
    /// (one whose paused predecessor `clearPending()` forgot, say) is told
    /// by no `onRestart`.
    pub fresh_run: Rc<Cell<bool>>,
    /// Whether the running run has stored the object (set by
    /// [`Events::object_stored`], cleared when a run begins): a pause or an
    /// abort then lets it end (it only tidies up), and `start()` resolves
    /// with the object.
    pub stored: Rc<Cell<bool>>,
    /// Where a measured link rate is noted (`link_memory`): the endpoint
    /// of an `Upload`; none for a queue's files.
    pub link_key: Option<String>,
}

/// A callback's name and how it is kept.
pub type Callback = (&'static str, fn(&mut JsEvents, Function));

/// The callbacks a page sets by name, one row each (adding one: a field
/// above, a row here, and its call below).
pub const CALLBACKS: [Callback; 7] = [
    ("onProgress", |e, f| e.on_progress = Some(f)),
    ("onPartComplete", |e, f| e.on_part_complete = Some(f)),
    ("onResume", |e, f| e.on_resume = Some(f)),
    ("onWarning", |e, f| e.on_warning = Some(f)),
    ("onRestart", |e, f| e.on_restart = Some(f)),
    ("onExpiringSoon", |e, f| e.on_expiring_soon = Some(f)),
    ("onPartBookkeeping", |e, f| e.on_part_bookkeeping = Some(f)),
];

impl JsEvents {
    /// Calls `onWarning` (or logs the warning on the console without one),
    /// the first time this upload meets the warning's code (each time for
    /// a code about one call: see [`WarningCode::once_per_upload`]).
    pub fn warn(&self, warning: Warning) {
        self.warn_of(warning, None);
    }

    /// As [`Self::warn`], the warning naming the `key` of a stored object
    /// (its `key` field), for the page to act on without reading the
    /// message.
    pub fn warn_of(&self, warning: Warning, key: Option<&str>) {
        if warning.code.once_per_upload() && self.warned.borrow().contains(&warning.code) {
            return;
        }
        self.warned.borrow_mut().push(warning.code);
        if self.on_warning.is_some() {
            call(&self.on_warning, |o| {
                o.str("code", warning.code.as_str())
                    .str("message", &warning.message)
                    .set_if(
                        "key",
                        key.is_some(),
                        &key.map_or(JsValue::NULL, JsValue::from_str),
                    )
            });
        } else {
            web_sys::console::warn_1(&["resupload: ", &warning.message].concat().into());
        }
    }
}

/// Calls `callback` (if set) with the object `make` builds.
pub(super) fn call(callback: &Option<Function>, make: impl FnOnce(Builder) -> Builder) {
    if callback.is_some() {
        call_with(callback, &make(Builder::new()).done());
    }
}

/// Calls `callback` (if set) with `value`. A throwing callback must not
/// break the upload; the browser still reports it on the console.
pub(super) fn call_with(callback: &Option<Function>, value: &JsValue) {
    if let Some(callback) = callback {
        if let Err(e) = callback.call1(&JsValue::NULL, value) {
            web_sys::console::error_2(&"resupload: a callback threw".into(), &e);
        }
    }
}

impl Events for JsEvents {
    fn progress(&self, progress: Progress) {
        if self.fresh_run.replace(false) {
            self.sent_told.set(0);
        }
        let sent = progress
            .sent_bytes
            .max(self.sent_told.get())
            .min(progress.total_bytes);
        self.sent_told.set(sent);
        call(&self.on_progress, |o| {
            o.num("sentBytes", sent as f64)
                .num("confirmedBytes", progress.confirmed_bytes as f64)
                .num("totalBytes", progress.total_bytes as f64)
        });
    }

    fn part_completed(&self, part: PartCompleted) {
        call(&self.on_part_complete, |o| {
            o.num("partNumber", f64::from(part.part_number))
                .num("size", part.size as f64)
                .str("etag", &part.etag)
        });
    }

    fn resumed(&self, resumed: Resumed) {
        self.fresh_run.set(false);
        call(&self.on_resume, |o| {
            o.str("uploadId", &resumed.upload_id)
                .num("skippedParts", f64::from(resumed.skipped_parts))
                .num("skippedBytes", resumed.skipped_bytes as f64)
                .str("source", resumed.source.as_str())
        });
    }

    fn restarted(&self, reason: RestartReason) {
        self.sent_told.set(0);
        call(&self.on_restart, |o| o.str("reason", reason.as_str()));
    }

    fn expiring_soon(&self, soon: ExpiringSoon) {
        call(&self.on_expiring_soon, |o| {
            o.str("uploadId", &soon.upload_id)
                .num("expiresAt", soon.expires_at)
        });
    }

    fn warning(&self, warning: Warning) {
        self.warn(warning);
    }

    fn object_stored(&self, _key: &str) {
        self.stored.set(true);
    }

    fn part_bookkeeping(&self, b: PartBookkeeping) {
        call(&self.on_part_bookkeeping, |o| {
            o.num("partNumber", f64::from(b.part_number))
                .num("ms", b.state_writes_ms)
                .num("blockingMs", b.blocking_ms)
        });
    }

    fn link_measured(&self, bytes_per_second: f64) {
        if let Some(endpoint) = &self.link_key {
            super::link_memory::note(endpoint, bytes_per_second);
        }
    }
}
