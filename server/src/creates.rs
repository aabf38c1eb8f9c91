//! Creates that may adopt, one at a time per file. A create with `adopt`
//! looks for the caller's open upload of the file and, finding none,
//! starts one: two such creates at once (a pause and resume in quick
//! succession, whose first create still runs after its request went, or
//! two tabs) would both find none and both start one, leaving the second
//! open on the store until it expires. Each waits for the one before it
//! here, and then adopts what it started.
//!
//! Within this process: servers that share one table can still race
//! (the janitor collects the upload left over at its expiry).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::db::Identity;

/// The locks of the files being created, by identity; an entry lives as
/// long as a create holds or waits for it.
#[derive(Debug, Default)]
pub struct CreateLocks(Mutex<HashMap<String, Weak<AsyncMutex<()>>>>);

impl CreateLocks {
    /// Waits until no other create of `identity` runs; the create runs
    /// until the guard is dropped.
    pub async fn hold(&self, identity: &Identity<'_>) -> OwnedMutexGuard<()> {
        let key = [
            identity.owner,
            identity.name,
            &identity.size.to_string(),
            identity.sample_sha256,
        ]
        .join("\n");
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(|e| e.into_inner());
            locks.retain(|_, lock| lock.strong_count() > 0);
            match locks.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(AsyncMutex::new(()));
                    locks.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn identity<'a>(owner: &'a str, sample: &'a str) -> Identity<'a> {
        Identity {
            owner,
            name: "a.bin",
            size: 10,
            sample_sha256: sample,
        }
    }

    #[tokio::test]
    async fn a_second_create_of_a_file_waits_for_the_first_and_others_do_not() {
        let locks = CreateLocks::default();
        let (ann, bob, other_file) = (
            identity("ann", "s"),
            identity("bob", "s"),
            identity("ann", "t"),
        );
        let within = |ms| Duration::from_millis(ms);
        let first = locks.hold(&ann).await;
        // Another owner's, or another file's: not held up.
        assert!(tokio::time::timeout(within(1000), locks.hold(&bob))
            .await
            .is_ok());
        assert!(tokio::time::timeout(within(1000), locks.hold(&other_file))
            .await
            .is_ok());
        let same = tokio::time::timeout(within(100), locks.hold(&ann)).await;
        assert!(same.is_err(), "waits while the first runs");
        drop(first);
        let same = tokio::time::timeout(within(1000), locks.hold(&ann)).await;
        assert!(same.is_ok(), "and goes on once it ended");
        drop(same);
        let left = locks.0.lock().unwrap().len();
        assert!(left <= 1, "ended creates leave no entry behind: {left}");
    }
}
