//! A part sender over XMLHttpRequest: the one browser API that reports
//! upload progress (`upload.onprogress`), so `sentBytes` moves while a part
//! is on the wire. Like fetch, it sends a `Blob` body straight from the
//! file, never through wasm memory. It listens to progress only while parts
//! go slowly ([`ProgressWatch`]: the listener costs throughput). Dropping
//! the future aborts the request (that is how `pause()` stops parts in
//! flight).

use std::cell::RefCell;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures::future::{select, Either};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, ProgressEvent, XmlHttpRequest};

use super::js::set as handle;
use crate::core::text::decimal;
use crate::core::watch::ProgressWatch;
use crate::error::{Error, ErrorKind, Operation};
use crate::http::{failure, Answer};
use crate::ports::{PartPut, PartSender, PortFuture, SignedSingle, SingleMethod, WholeSender};

/// Sends part bodies with XMLHttpRequest.
#[derive(Debug)]
pub struct XhrSender {
    stall_timeout_ms: u32,
    watch: ProgressWatch,
}

impl XhrSender {
    /// A sender whose requests are aborted after `stall_timeout_ms` without
    /// progress (reported as a network error, which is retried).
    pub fn new(stall_timeout_ms: u32) -> Self {
        XhrSender {
            stall_timeout_ms,
            watch: ProgressWatch::new(stall_timeout_ms),
        }
    }
}

enum XhrEvent {
    Progress(u64),
    Load,
    Error,
    Timeout,
    Abort,
}

/// What the request's handlers saw and the sending future has not taken
/// yet: the bytes sent at the latest progress event, and how the request
/// ended. (Progress events that come faster than the future runs are
/// merged into the latest.)
#[derive(Default)]
struct Seen {
    sent: Option<u64>,
    end: Option<XhrEvent>,
    waker: Option<Waker>,
}

/// Owns a request and its handlers; dropping it before the request ends
/// aborts the request.
struct XhrGuard {
    xhr: XmlHttpRequest,
    handlers: Vec<Closure<dyn FnMut(ProgressEvent)>>,
    finished: bool,
}

impl XhrGuard {
    /// Sets the request's handlers (and its upload progress listener, when
    /// watching); they report into `seen`.
    fn attach(
        xhr: &XmlHttpRequest,
        seen: &Rc<RefCell<Seen>>,
        watch_progress: bool,
        outgoing: &Outgoing<'_>,
    ) -> Result<Self, Error> {
        let mut guard = XhrGuard {
            xhr: xhr.clone(),
            handlers: Vec::new(),
            finished: false,
        };
        if watch_progress {
            let upload = xhr.upload().map_err(|e| outgoing.js_failure(e))?;
            let on_progress = |e: &ProgressEvent| XhrEvent::Progress(e.loaded().max(0.0) as u64);
            handle(&upload, "onprogress", guard.on(seen, on_progress));
        }
        let ends: [fn(&ProgressEvent) -> XhrEvent; 4] = [
            |_| XhrEvent::Load,
            |_| XhrEvent::Error,
            |_| XhrEvent::Timeout,
            |_| XhrEvent::Abort,
        ];
        for (name, make) in HANDLERS.into_iter().zip(ends) {
            handle(xhr, name, guard.on(seen, make));
        }
        Ok(guard)
    }

    fn on(&mut self, seen: &Rc<RefCell<Seen>>, make: fn(&ProgressEvent) -> XhrEvent) -> &JsValue {
        let seen = Rc::clone(seen);
        let handler = Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
            let mut seen = seen.borrow_mut();
            match make(&event) {
                XhrEvent::Progress(sent) => seen.sent = Some(sent),
                end => {
                    seen.end.get_or_insert(end);
                }
            }
            if let Some(waker) = seen.waker.take() {
                waker.wake();
            }
        });
        self.handlers.push(handler);
        self.handlers.last().expect("just pushed").as_ref()
    }
}

/// The request's event handlers, set and cleared by name (one import for
/// all of them, instead of one per typed setter).
const HANDLERS: [&str; 4] = ["onload", "onerror", "ontimeout", "onabort"];

impl Drop for XhrGuard {
    fn drop(&mut self) {
        for name in HANDLERS {
            handle(&self.xhr, name, &JsValue::NULL);
        }
        if let Ok(upload) = self.xhr.upload() {
            handle(&upload, "onprogress", &JsValue::NULL);
        }
        if !self.finished {
            let _ = self.xhr.abort();
        }
    }
}

/// One request to the store.
struct Outgoing<'a> {
    operation: Operation,
    method: &'a str,
    url: &'a str,
    headers: &'a [(&'a str, &'a str)],
    /// A `Blob` or a `FormData`.
    body: &'a JsValue,
    /// The bytes of the file it carries (a form's fields left out).
    size: u64,
}

impl Outgoing<'_> {
    fn network(&self, detail: impl Into<String>) -> Error {
        ErrorKind::Network {
            operation: self.operation,
            detail: detail.into(),
        }
        .into()
    }

    fn js_failure(&self, e: JsValue) -> Error {
        self.network(super::js_error::describe(&e))
    }
}

impl PartSender<Blob> for XhrSender {
    fn send<'a>(
        &'a self,
        put: &'a PartPut<'a, Blob>,
        progress: &'a dyn Fn(u64),
    ) -> PortFuture<'a, String> {
        Box::pin(async move {
            let checksum = put.checksum_sha256.map(|c| ("x-amz-checksum-sha256", c));
            let outgoing = Outgoing {
                operation: Operation::UploadPart,
                method: "PUT",
                url: put.url,
                headers: checksum.as_slice(),
                body: put.body.as_ref(),
                size: super::blob::size(put.body),
            };
            let xhr = self.timed_exchange(&outgoing, progress).await?;
            failed(&xhr, &outgoing, Some(put.upload_id))?;
            match xhr.get_response_header("ETag").ok().flatten() {
                Some(etag) if !etag.trim_ascii().is_empty() => Ok(etag),
                _ => Err(ErrorKind::MissingEtag {
                    part_number: put.part_number,
                }
                .into()),
            }
        })
    }
}

impl WholeSender<Blob> for XhrSender {
    fn send_whole<'a>(
        &'a self,
        signed: &'a SignedSingle,
        body: &'a Blob,
        progress: &'a dyn Fn(u64),
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let form = super::form::body_of(signed, body)?;
            let headers: Vec<(&str, &str)> = match signed.method {
                SingleMethod::Put => signed
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect(),
                SingleMethod::Post => Vec::new(),
            };
            let outgoing = Outgoing {
                operation: Operation::UploadFile,
                method: signed.method.as_str(),
                url: &signed.url,
                headers: &headers,
                body: &form,
                size: super::blob::size(body),
            };
            let xhr = self.timed_exchange(&outgoing, progress).await?;
            failed(&xhr, &outgoing, None)
        })
    }
}

impl XhrSender {
    /// Whether the next request, of `bytes`, listens to its upload
    /// progress (see [`ProgressWatch`]).
    pub fn watching_for(&self, bytes: u64) -> bool {
        self.watch.watching_for(bytes)
    }

    /// [`exchange`](Self::exchange), watched as the shared
    /// [`ProgressWatch`] says, which then learns from how long it took: a
    /// part's request and a whole file's alike, so that a whole file's
    /// request given up at the stall timeout turns watching back on for
    /// its retry and the requests after it (a link that slowed down).
    async fn timed_exchange(
        &self,
        outgoing: &Outgoing<'_>,
        progress: &dyn Fn(u64),
    ) -> Result<XmlHttpRequest, Error> {
        // Not sent (nor timed) before a connection to its host is free.
        let _slot = super::host_slots::slot_for(outgoing.url).await;
        let started = js_sys::Date::now();
        let watched = self.watch.watching_for(outgoing.size);
        let exchanged = self.exchange(outgoing, watched, progress).await;
        let took = js_sys::Date::now() - started;
        // Only a stored part or file tells how fast the link is: an error
        // answer (a 503 at once) is a failure, fast or slow.
        match exchanged.as_ref().map(|xhr| xhr.status().unwrap_or(0)) {
            Ok(200..=299) => self.watch.stored(outgoing.size, took),
            _ => self.watch.failed(took),
        }
        exchanged
    }

    /// Sends the request and answers it once it ended (any status). With
    /// `watch_progress`, upload progress is reported and the stall timeout
    /// counts from the last progress; without, no upload listener is set
    /// (Chromium then sends Blob bodies as fast as fetch does) and the
    /// timeout counts from the start.
    async fn exchange(
        &self,
        outgoing: &Outgoing<'_>,
        watch_progress: bool,
        progress: &dyn Fn(u64),
    ) -> Result<XmlHttpRequest, Error> {
        let fail = |e| outgoing.js_failure(e);
        let xhr = XmlHttpRequest::new().map_err(fail)?;
        xhr.open(outgoing.method, outgoing.url).map_err(fail)?;
        for (name, value) in outgoing.headers {
            xhr.set_request_header(name, value).map_err(fail)?;
        }
        let seen = Rc::new(RefCell::new(Seen::default()));
        let mut guard = XhrGuard::attach(&xhr, &seen, watch_progress, outgoing)?;
        send(&xhr, outgoing.body).map_err(fail)?;
        let outcome = self.until_end(&seen, progress, outgoing).await;
        // A request given up at the stall timeout has not ended: the guard
        // aborts it, so it stops sending beside its retry.
        guard.finished = outcome.is_ok();
        outcome.map(|()| xhr)
    }

    /// Waits for the request's end, passing its progress on; gives it up
    /// after the stall timeout without progress.
    async fn until_end(
        &self,
        seen: &RefCell<Seen>,
        progress: &dyn Fn(u64),
        outgoing: &Outgoing<'_>,
    ) -> Result<(), Error> {
        let network = |detail: &str| outgoing.network(detail);
        loop {
            let stall = gloo_timers::future::TimeoutFuture::new(self.stall_timeout_ms);
            let event = match select(pin!(next_seen(seen)), stall).await {
                Either::Left((event, _)) => event,
                Either::Right(_) => {
                    return Err(outgoing.network(
                        [
                            "no progress for ",
                            &decimal(self.stall_timeout_ms.into()),
                            " ms: the request stalled and was aborted",
                        ]
                        .concat(),
                    ))
                }
            };
            match event {
                XhrEvent::Progress(sent) => progress(sent),
                XhrEvent::Load => return Ok(()),
                XhrEvent::Error => {
                    return Err(network(
                        "the request failed (offline, connection reset, refused by the bucket's CORS rules, \
                         or refused by the store before its body, as Firefox and Safari report a bad signature)",
                    ))
                }
                XhrEvent::Timeout => return Err(network("the request timed out")),
                XhrEvent::Abort => return Err(network("the request was aborted")),
            }
        }
    }
}

/// The next thing the handlers saw: progress first, then the end.
async fn next_seen(seen: &RefCell<Seen>) -> XhrEvent {
    std::future::poll_fn(|cx| {
        let mut seen = seen.borrow_mut();
        let progress = seen.sent.take().map(XhrEvent::Progress);
        match progress.or_else(|| seen.end.take()) {
            Some(event) => Poll::Ready(event),
            None => {
                seen.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// `xhr.send(body)` for a `Blob` or a `FormData` (one import for both).
fn send(xhr: &XmlHttpRequest, body: &JsValue) -> Result<(), JsValue> {
    let send = js_sys::Reflect::get(xhr, &"send".into())?;
    send.unchecked_into::<js_sys::Function>()
        .call1(xhr, body)
        .map(|_| ())
}

/// The error a finished request's answer means, if it is not a success.
fn failed(
    xhr: &XmlHttpRequest,
    outgoing: &Outgoing<'_>,
    upload_id: Option<&str>,
) -> Result<(), Error> {
    let status = xhr.status().map_err(|e| outgoing.js_failure(e))?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body = xhr.response_text().ok().flatten().unwrap_or_default();
    let retry_after = xhr.get_response_header("Retry-After").ok().flatten();
    let answer = Answer {
        status,
        body: &body,
        retry_after: retry_after.as_deref(),
    };
    Err(failure(outgoing.operation, upload_id, answer))
}
