//! One upload of a file at a time across tabs: a Web Lock
//! (`navigator.locks`) named by the upload's record key, held for the life
//! of a run. Dropping the guard releases the lock.
//!
//! Asking for a lock that is free is answered at once; a lock manager that
//! does not answer within [`LOCK_TIMEOUT_MS`], or refuses the request, counts
//! as missing, and the upload goes on unlocked. Waiting for another tab
//! (`lock: "wait"`) lasts as long as that tab uploads, or until `pause()`.
//!
//! The same lock says which stored uploads are live ([`WebLocks`], asked
//! without taking it): those are never taken for a file changed, cleared,
//! or aborted from another tab ([`hold_released`]).

use std::future::Future;
use std::pin::Pin;

use futures::channel::oneshot;
use futures::future::{select, Either};
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::deadline::within;
use super::fetch::AbortOnDrop;
use crate::error::{Error, ErrorKind};
use crate::ports::{Claim, Claiming, Claims, Warning, WarningCode};

/// How long the lock manager may take to answer a request that does not
/// wait for another tab.
pub const LOCK_TIMEOUT_MS: u32 = 10_000;

/// What asking for the lock gave.
#[derive(Debug)]
pub enum Lock {
    /// Held until dropped.
    Held(LockGuard),
    /// This browser cannot lock across tabs (no Web Locks, or no answer in
    /// time): the upload goes on unlocked. Says why, for a person.
    Unavailable(&'static str),
}

#[wasm_bindgen(module = "/src/web/guard.js")]
extern "C" {
    /// Resolves when a trap closes the module (guard.js).
    #[wasm_bindgen(js_name = whenClosed)]
    fn when_closed() -> Promise;
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks.request(name, options, callback)`.
    #[wasm_bindgen(js_namespace = ["navigator", "locks"], js_name = request, catch)]
    fn locks_request(name: &str, options: &JsValue, callback: &JsValue)
        -> Result<Promise, JsValue>;
    /// `navigator.locks.query()`: the locks held and asked for, by any tab.
    #[wasm_bindgen(js_namespace = ["navigator", "locks"], js_name = query, catch)]
    fn locks_query() -> Result<Promise, JsValue>;
}

/// The name of the Web Lock a run of record `id` holds.
pub fn record_lock(id: &str) -> String {
    ["resupload:", id].concat()
}

/// Whether a run (of any tab) holds the lock of record `id`. Asks without
/// taking the lock, so that it never makes another tab's run find it
/// taken; `false` when the browser cannot tell (no Web Locks, a refusal,
/// no answer within [`LOCK_TIMEOUT_MS`]).
pub async fn is_held(id: &str) -> bool {
    let Ok(query) = locks_query() else {
        return false;
    };
    let Some(Ok(snapshot)) = within(LOCK_TIMEOUT_MS, JsFuture::from(query)).await else {
        return false;
    };
    let name = JsValue::from(record_lock(id));
    Reflect::get(&snapshot, &"held".into())
        .map(|held| Array::from(&held))
        .is_ok_and(|held| {
            held.iter()
                .any(|lock| Reflect::get(&lock, &"name".into()).is_ok_and(|n| n == name))
        })
}

/// Takes the lock of record `id` for a run: one upload of a file at a time
/// across tabs. Where the browser cannot lock, `warn` hears it and the run
/// goes on unlocked (`None`).
pub async fn hold_record(
    id: &str,
    wait: bool,
    warn: &dyn Fn(Warning),
) -> Result<Option<LockGuard>, Error> {
    match acquire(&record_lock(id), wait).await? {
        Lock::Held(guard) => Ok(Some(guard)),
        Lock::Unavailable(why) => {
            warn(Warning {
                code: WarningCode::LockUnavailable,
                message: [why, ": another tab could upload this file at the same time"].concat(),
            });
            Ok(None)
        }
    }
}

/// How long a run of this page, just stopped, may take to give its lock
/// back (the lock manager frees it a task or two after the release).
pub const RELEASE_MS: u32 = 2_000;

/// Takes the lock of record `id` that a run of this page, just stopped,
/// gives back: waits for it up to [`RELEASE_MS`], then fails with
/// [`ErrorKind::Locked`] (a run of another tab holds it). To abort an upload
/// (rather than pull it from under another tab's run, which would only
/// start it again) or to run a queue again at once. Unlocked (`None`)
/// where the browser cannot lock.
pub async fn hold_released(id: &str) -> Result<Option<LockGuard>, Error> {
    match within(RELEASE_MS, acquire(&record_lock(id), true)).await {
        Some(Ok(Lock::Held(guard))) => Ok(Some(guard)),
        Some(Ok(Lock::Unavailable(_))) => Ok(None),
        Some(Err(e)) => Err(e),
        None => Err(ErrorKind::Locked.into()),
    }
}

/// The browser's [`Claims`]: the record locks runs hold, in every tab.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebLocks;

impl Claims for WebLocks {
    fn held<'a>(&'a self, id: &'a str) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(is_held(id))
    }
}

impl Claiming for WebLocks {
    fn claim<'a>(&'a self, id: &'a str) -> Pin<Box<dyn Future<Output = Option<Claim<'a>>> + 'a>> {
        Box::pin(async move {
            let claim: Claim = match acquire(&record_lock(id), false).await {
                Ok(Lock::Held(guard)) => Box::new(guard),
                Ok(Lock::Unavailable(_)) => Box::new(()),
                Err(_) => return None,
            };
            Some(claim)
        })
    }
}

/// Holds a Web Lock until dropped.
#[derive(Debug)]
pub struct LockGuard {
    release: Option<Function>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

/// Takes the exclusive lock `name`. With `wait`, waits for it; without,
/// fails with [`ErrorKind::Locked`] when another tab holds it. Dropped before
/// the lock is granted (a pause, a bound), a waiting request is taken back
/// out of the lock manager's queue (its `signal`), so that it is never
/// granted later to nobody, in the way of another tab's `ifAvailable`
/// request.
pub async fn acquire(name: &str, wait: bool) -> Result<Lock, Error> {
    let mut release: Option<Function> = None;
    let held = Promise::new(&mut |resolve, _| release = Some(resolve));
    // Held until the guard is dropped, or the module traps (no destructor
    // runs then, and other tabs would wait for ever).
    let held = Promise::race(&Array::of2(&held, &when_closed()));
    let (granted_tx, granted_rx) = oneshot::channel::<bool>();
    // Called once, maybe after this future was dropped (a pause while
    // waiting): then the lock is given back at once.
    let callback = Closure::once_into_js(move |lock: JsValue| -> Promise {
        let granted = !lock.is_null() && !lock.is_undefined();
        if granted && granted_tx.send(true).is_ok() {
            held
        } else {
            Promise::resolve(&JsValue::UNDEFINED)
        }
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"mode".into(), &"exclusive".into());
    let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::from_bool(!wait));
    // Aborting a granted request does nothing: the guard keeps the lock.
    // (The lock manager refuses a `signal` beside `ifAvailable`, a request
    // it answers at once.)
    let controller = wait
        .then(web_sys::AbortController::new)
        .and_then(Result::ok);
    if let Some(controller) = &controller {
        let _ = Reflect::set(&options, &"signal".into(), &controller.signal());
    }
    let _withdraw_when_dropped = controller.map(AbortOnDrop::new);
    let Ok(request) = locks_request(name, &options, &callback) else {
        return Ok(Lock::Unavailable("this browser has no Web Locks"));
    };
    let answer = answer(granted_rx, JsFuture::from(request));
    let answer = match wait {
        true => Some(answer.await),
        false => within(LOCK_TIMEOUT_MS, answer).await,
    };
    match answer {
        Some(Some(true)) => Ok(Lock::Held(LockGuard { release })),
        Some(Some(false)) => Err(ErrorKind::Locked.into()),
        Some(None) => Ok(Lock::Unavailable(
            "the browser's lock manager (navigator.locks) refused the request",
        )),
        None => Ok(Lock::Unavailable(
            "the browser's lock manager (navigator.locks) did not answer",
        )),
    }
}

/// Whether the lock was granted; `None` when the lock manager refused the
/// request. It refuses by rejecting the request's promise, without calling
/// the callback (an opaque origin, storage blocked, a document no longer
/// active): without this, `granted` would never end.
async fn answer(granted: oneshot::Receiver<bool>, request: JsFuture) -> Option<bool> {
    match select(granted, request).await {
        Either::Left((granted, _)) => Some(granted == Ok(true)),
        // Settled: the callback has run (not granted, as `ifAvailable`
        // answers a held lock).
        Either::Right((Ok(_), granted)) => Some(granted.await == Ok(true)),
        Either::Right((Err(_), _)) => None,
    }
}
