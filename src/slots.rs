//! Concurrency for the futures of one thread, written out small: a
//! counting semaphore ([`Slots`]), one whose count follows the measured
//! link ([`RampedSlots`]), and [`join_all`].
//!
//! The driver prepares (reads and hashes) more parts than it sends at once,
//! so that a part's hash is ready when a sending slot frees up; [`Slots`]
//! bounds the sending, and its workers run under [`join_all`]. (The futures
//! crate's `FuturesUnordered` did the same in 8.6 KB of wasm.)
//!
//! ```
//! use resupload::slots::Slots;
//! let slots = Slots::new(1);
//! futures::executor::block_on(async {
//!     let first = slots.acquire().await;
//!     assert_eq!(slots.free(), 0);
//!     drop(first);
//!     assert_eq!(slots.free(), 1);
//! });
//! ```

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::task::{Poll, Waker};

use crate::core::ramp::Ramp;

/// Runs `start(0)` to `start(count - 1)` together until all are done.
/// Every pending one is polled on each wake-up: meant for a handful (the
/// driver's part workers, at most 128). The futures are made in a plain
/// loop: collecting them (twice, boxed) was about 0.8 KB of iterator code
/// in the wasm.
pub async fn join_all<F: Future<Output = ()>>(count: usize, mut start: impl FnMut(usize) -> F) {
    let mut futures = Vec::with_capacity(count);
    for i in 0..count {
        futures.push(Some(Box::pin(start(i))));
    }
    poll_fn(|cx| {
        let mut pending = false;
        for slot in futures.iter_mut() {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(()) => *slot = None,
                    Poll::Pending => pending = true,
                }
            }
        }
        match pending {
            true => Poll::Pending,
            false => Poll::Ready(()),
        }
    })
    .await
}

/// At most `n` holders at a time.
#[derive(Debug)]
pub struct Slots {
    free: Cell<usize>,
    /// Slots taken away while held: the next ones freed are not returned.
    owed: Cell<usize>,
    waiting: RefCell<Vec<Waker>>,
}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot<'a> {
    slots: &'a Slots,
}

impl Slots {
    /// `n` free slots.
    pub fn new(n: usize) -> Self {
        Slots {
            free: Cell::new(n),
            owed: Cell::new(0),
            waiting: RefCell::new(Vec::new()),
        }
    }

    /// How many slots are free now.
    pub fn free(&self) -> usize {
        self.free.get()
    }

    /// Adds `n` slots (the parts in flight grew).
    pub fn add(&self, n: usize) {
        self.free.set(self.free.get() + n);
        for waker in self.waiting.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Takes `n` slots away: free ones now, held ones as they are freed.
    pub fn remove(&self, n: usize) {
        let now = n.min(self.free.get());
        self.free.set(self.free.get() - now);
        self.owed.set(self.owed.get() + n - now);
    }

    /// Waits for a free slot and takes it.
    pub async fn acquire(&self) -> Slot<'_> {
        poll_fn(|cx| {
            if self.free.get() > 0 {
                self.free.set(self.free.get() - 1);
                Poll::Ready(Slot { slots: self })
            } else {
                self.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        // Wakes every waiter: one that was dropped meanwhile cannot swallow
        // the wake-up, and the others go back to waiting.
        match self.slots.owed.get() {
            0 => self.slots.add(1),
            owed => self.slots.owed.set(owed - 1),
        }
    }
}

/// Slots whose count grows while doing so raises the measured rate (see
/// [`Ramp`]): the parts in flight of one upload, or a queue's budget.
///
/// ```
/// use resupload::slots::RampedSlots;
/// let slots = RampedSlots::new(2, 4);
/// // Two parts confirmed after the first: a round, the first measured,
/// // which grows the count by half.
/// for (i, t) in [0.0, 500.0, 1000.0].into_iter().enumerate() {
///     slots.done(8 << 20, t);
///     assert_eq!(slots.in_flight(), if i < 2 { 2 } else { 3 });
/// }
/// ```
#[derive(Debug)]
pub struct RampedSlots {
    slots: Slots,
    ramp: RefCell<Ramp>,
}

impl RampedSlots {
    /// `start` slots, grown up to `max` (an explicit count: `max == start`).
    pub fn new(start: u32, max: u32) -> Self {
        RampedSlots {
            slots: Slots::new(start as usize),
            ramp: RefCell::new(Ramp::new(start, max)),
        }
    }

    /// How many may hold a slot at once now.
    pub fn in_flight(&self) -> u32 {
        self.ramp.borrow().in_flight()
    }

    /// Waits for a free slot and takes it.
    pub async fn acquire(&self) -> Slot<'_> {
        self.slots.acquire().await
    }

    /// A request that held a slot confirmed `bytes` at `now_ms`: the count
    /// grows, or a growth that did not pay is taken back.
    pub fn done(&self, bytes: u64, now_ms: f64) {
        match self.ramp.borrow_mut().part_done(bytes, now_ms) {
            0 => {}
            more if more > 0 => self.slots.add(more as usize),
            fewer => self.slots.remove(fewer.unsigned_abs() as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;
    use std::rc::Rc;

    #[test]
    fn no_more_than_n_hold_a_slot_at_once() {
        let slots = Rc::new(Slots::new(2));
        let holding = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let mut pool = LocalPool::new();
        for _ in 0..6 {
            let (slots, holding, most) = (slots.clone(), holding.clone(), most.clone());
            pool.spawner()
                .spawn_local(async move {
                    let _slot = slots.acquire().await;
                    holding.set(holding.get() + 1);
                    most.set(most.get().max(holding.get()));
                    // Give the others a turn while holding the slot.
                    let mut yielded = false;
                    poll_fn(|cx| {
                        if yielded {
                            Poll::Ready(())
                        } else {
                            yielded = true;
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                    })
                    .await;
                    holding.set(holding.get() - 1);
                })
                .unwrap();
        }
        pool.run();
        assert_eq!(most.get(), 2);
        assert_eq!(slots.free(), 2);
    }

    #[test]
    fn join_all_ends_when_every_future_has() {
        let done = Rc::new(Cell::new(0));
        let slots = Slots::new(1);
        let start = |_| {
            let (done, slots) = (Rc::clone(&done), &slots);
            async move {
                let _slot = slots.acquire().await;
                done.set(done.get() + 1);
            }
        };
        futures::executor::block_on(join_all(5, start));
        assert_eq!(done.get(), 5);
        futures::executor::block_on(join_all(0, |_| std::future::ready(())));
    }

    #[test]
    fn slots_added_and_taken_back_while_held() {
        futures::executor::block_on(async {
            let slots = Slots::new(2);
            let a = slots.acquire().await;
            let b = slots.acquire().await;
            slots.add(2);
            assert_eq!(slots.free(), 2);
            let c = slots.acquire().await;
            // Three taken back: the free one now, two as held ones are freed.
            slots.remove(3);
            assert_eq!(slots.free(), 0);
            drop(a);
            drop(b);
            assert_eq!(slots.free(), 0, "owed, not freed");
            drop(c);
            assert_eq!(slots.free(), 1, "one in all, as before the growth");
        });
    }
}
