//! Requests to one store host, a few at a time. Browsers open at most 6
//! HTTP/1.1 connections to a host (Chromium, Firefox and WebKit alike;
//! S3 and Garage speak HTTP/1.1), and a request beyond them waits in the
//! browser's queue sending nothing: its stall timeout would run out there,
//! on a slow link, and abort it as stalled. So the page's part and file
//! requests take one of their host's slots here first, and their clocks
//! start once they have one. Other tabs' requests are not counted.

use std::cell::RefCell;

use crate::slots::{Slot, Slots};

/// Requests in flight to one host at most.
pub const PER_HOST: usize = 6;

thread_local! {
    /// The slots of each host asked for (a page sends to a few).
    static HOSTS: RefCell<Vec<(String, &'static Slots)>> = const { RefCell::new(Vec::new()) };
}

/// Waits for a slot of `url`'s host; the request goes once it has one, and
/// frees it when it ends (the slot dropped).
pub async fn slot_for(url: &str) -> Slot<'static> {
    let host = crate::http::host_of(url);
    let slots = HOSTS.with(|hosts| {
        let mut hosts = hosts.borrow_mut();
        if let Some((_, slots)) = hosts.iter().find(|(h, _)| *h == host) {
            return *slots;
        }
        // One per host for the page's life: a page sends to a few hosts.
        let slots: &'static Slots = Box::leak(Box::new(Slots::new(PER_HOST)));
        hosts.push((host.to_owned(), slots));
        slots
    });
    slots.acquire().await
}
