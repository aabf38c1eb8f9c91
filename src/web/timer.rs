//! The browser's clock and timers.

use futures::channel::oneshot;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::ports::{Timer, Wait};

/// The epoch's clock, `performance.timeOrigin + performance.now()` (a
/// fraction of a millisecond) while it keeps to `Date.now()`, and
/// `setTimeout` (through gloo-timers).
///
/// `performance.now()` stops while the device sleeps (macOS, Linux and
/// Android, in every engine), so in a page left open overnight it falls
/// hours behind: a record stamped by it would look hours older after a
/// reload, and expire early. So where the two differ by more than
/// [`CLOCK_DRIFT_MS`], `Date.now()` is taken (and without `performance`).
#[derive(Debug, Default, Clone, Copy)]
pub struct BrowserTimer;

/// How far `performance`'s clock may stray from `Date.now()` before the
/// latter is taken.
const CLOCK_DRIFT_MS: f64 = 1_000.0;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The global `performance`, `None` where there is none.
    type Performance;
    #[wasm_bindgen(thread_local_v2, js_name = performance)]
    static PERFORMANCE: Option<Performance>;
    /// `performance.timeOrigin`, `None` where it is not a number.
    #[wasm_bindgen(method, getter, js_name = timeOrigin)]
    fn time_origin(this: &Performance) -> Option<f64>;
    /// `performance.now()`; an error where it is not a function.
    #[wasm_bindgen(method, catch)]
    fn now(this: &Performance) -> Result<f64, JsValue>;
}

impl Timer for BrowserTimer {
    fn now_ms(&self) -> f64 {
        let wall = js_sys::Date::now();
        PERFORMANCE
            .with(|performance| {
                let performance = performance.as_ref()?;
                Some(performance.time_origin()? + performance.now().ok()?)
            })
            .filter(|precise| (precise - wall).abs() <= CLOCK_DRIFT_MS)
            .unwrap_or(wall)
    }

    fn sleep(&self, ms: u32) -> Wait<'_> {
        Box::pin(async move {
            if ms > 0 {
                gloo_timers::future::TimeoutFuture::new(ms).await;
            }
        })
    }

    fn until_online(&self) -> Wait<'_> {
        Box::pin(async move {
            // The page's or the worker's: both have `navigator.onLine` and
            // fire `online` at their global.
            let global: web_sys::EventTarget = js_sys::global().unchecked_into();
            let navigator = super::js::field(&global, "navigator");
            if super::js::field(&navigator, "onLine").as_bool() != Some(false) {
                return;
            }
            let (tx, rx) = oneshot::channel::<()>();
            let mut tx = Some(tx);
            let listener = OnlineListener {
                global,
                callback: Closure::new(move || {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }),
            };
            let _ = listener.global.add_event_listener_with_callback(
                "online",
                listener.callback.as_ref().unchecked_ref(),
            );
            let _ = rx.await;
        })
    }
}

/// An `online` listener, removed when dropped (also when a pause drops the
/// wait).
struct OnlineListener {
    global: web_sys::EventTarget,
    callback: Closure<dyn FnMut()>,
}

impl Drop for OnlineListener {
    fn drop(&mut self) {
        let _ = self
            .global
            .remove_event_listener_with_callback("online", self.callback.as_ref().unchecked_ref());
    }
}
