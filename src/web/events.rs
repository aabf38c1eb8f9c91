//! Calls the JavaScript callbacks given in the options.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::ports::{Events, ExpiringSoon, PartCompleted, Progress, Restarted, Resumed, Warning};

/// The `onProgress`, `onPartComplete` and `onResume` callbacks.
#[derive(Debug, Default, Clone)]
pub struct JsEvents {
    /// `onProgress({sentBytes, confirmedBytes, totalBytes})`.
    pub on_progress: Option<Function>,
    /// `onPartComplete({partNumber, size, etag})`.
    pub on_part_complete: Option<Function>,
    /// `onResume({uploadId, skippedParts, skippedBytes})`.
    pub on_resume: Option<Function>,
    /// `onWarning({code, message})`.
    pub on_warning: Option<Function>,
    /// `onRestart({reason})`.
    pub on_restart: Option<Function>,
    /// `onExpiringSoon({uploadId, expiresAt})`.
    pub on_expiring_soon: Option<Function>,
    /// The warning codes told already (each is told once per upload).
    pub warned: Rc<RefCell<Vec<&'static str>>>,
}

impl JsEvents {
    /// Calls `onWarning` (or logs the warning on the console without one),
    /// the first time this upload meets the warning's code.
    pub fn warn(&self, warning: Warning) {
        if self.warned.borrow().contains(&warning.code) {
            return;
        }
        self.warned.borrow_mut().push(warning.code);
        if self.on_warning.is_some() {
            call(&self.on_warning, &warning);
        } else {
            web_sys::console::warn_1(&format!("resupload: {}", warning.message).into());
        }
    }
}

/// Serializes for JavaScript: plain objects, numbers, `null` for `None`.
pub fn to_js<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::NULL)
}

fn call<T: Serialize>(callback: &Option<Function>, value: &T) {
    if let Some(callback) = callback {
        // A throwing callback must not break the upload; the browser still
        // reports it on the console.
        if let Err(e) = callback.call1(&JsValue::NULL, &to_js(value)) {
            web_sys::console::error_2(&"resupload: a callback threw".into(), &e);
        }
    }
}

impl Events for JsEvents {
    fn progress(&self, progress: Progress) {
        call(&self.on_progress, &progress);
    }

    fn part_completed(&self, part: PartCompleted) {
        call(&self.on_part_complete, &part);
    }

    fn resumed(&self, resumed: Resumed) {
        call(&self.on_resume, &resumed);
    }

    fn restarted(&self, restarted: Restarted) {
        call(&self.on_restart, &restarted);
    }

    fn expiring_soon(&self, soon: ExpiringSoon) {
        call(&self.on_expiring_soon, &soon);
    }

    fn warning(&self, warning: Warning) {
        self.warn(warning);
    }
}
