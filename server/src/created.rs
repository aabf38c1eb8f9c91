//! Remembers the headers (Content-Type, `x-amz-meta-*`) each upload was
//! created with, so that an empty file can still be stored with them.
//!
//! Garage refuses both an empty UploadPart ("Empty body") and a
//! CompleteMultipartUpload without parts ("No data was uploaded"), so a
//! 0-byte file cannot go through multipart there: completing with
//! `parts: []` makes this server store an empty object with PutObject
//! instead. The memory is bounded and lost on restart (the object is then
//! stored without those headers).

use std::collections::HashMap;
use std::sync::Mutex;

/// The most uploads remembered at once; the oldest are forgotten first.
pub const MAX_REMEMBERED: usize = 10_000;

/// Upload id → headers it was created with.
#[derive(Debug, Default)]
pub struct CreatedHeaders {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_order: u64,
    by_upload: HashMap<String, (u64, Vec<(String, String)>)>,
}

impl CreatedHeaders {
    /// Remembers `headers` for `upload_id`.
    pub fn remember(&self, upload_id: &str, headers: Vec<(String, String)>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let order = inner.next_order;
        inner.next_order += 1;
        inner
            .by_upload
            .insert(upload_id.to_owned(), (order, headers));
        if inner.by_upload.len() > MAX_REMEMBERED {
            let oldest = inner
                .by_upload
                .iter()
                .min_by_key(|(_, (order, _))| *order)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                inner.by_upload.remove(&oldest);
            }
        }
    }

    /// The headers of `upload_id` (empty if unknown).
    pub fn get(&self, upload_id: &str) -> Vec<(String, String)> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .by_upload
            .get(upload_id)
            .map(|(_, headers)| headers.clone())
            .unwrap_or_default()
    }

    /// Forgets `upload_id` (completed or aborted).
    pub fn forget(&self, upload_id: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.by_upload.remove(upload_id);
    }

    /// How many uploads are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().by_upload.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets() {
        let created = CreatedHeaders::default();
        let headers = vec![("content-type".to_owned(), "text/plain".to_owned())];
        created.remember("u1", headers.clone());
        assert_eq!(created.get("u1"), headers);
        assert!(created.get("u2").is_empty());
        created.forget("u1");
        assert!(created.get("u1").is_empty());
    }

    #[test]
    fn is_bounded_and_forgets_the_oldest() {
        let created = CreatedHeaders::default();
        for i in 0..=MAX_REMEMBERED {
            created.remember(&format!("u{i}"), vec![("a".into(), i.to_string())]);
        }
        assert_eq!(created.len(), MAX_REMEMBERED);
        assert!(created.get("u0").is_empty());
        assert_eq!(created.get("u1"), [("a".to_owned(), "1".to_owned())]);
    }
}
