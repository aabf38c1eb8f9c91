//! The janitor: at start and then periodically, so that orphans never pile
//! up on the server either,
//! - aborts open uploads past their expiry on the store and removes their
//!   rows (a row whose abort fails is kept for the next sweep; one the
//!   store no longer has is marked completed if its object exists, as a
//!   complete whose row was never marked leaves it);
//! - removes completed and aborted rows after a while;
//! - aborts multipart uploads the store holds past expiry under keys of
//!   the shape this server issues (`uploads/<owner>/<random>/<name>`) that
//!   no open row accounts for (a crash between create and insert, another
//!   server's leftovers); another app's uploads in a shared bucket, even
//!   under `uploads/`, are left alone.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::db::{now_ms, UploadState};
use crate::keys::{self, KEY_PREFIX};
use crate::routes::{self, AppState, SharedState};

/// Rows handled per query while aborting expired uploads.
const BATCH: i64 = 500;

/// How the janitor sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JanitorSettings {
    /// An unfinished upload older than this is aborted (the client's
    /// `expiresAfter`, 7 days by default).
    pub expiry: Duration,
    /// Completed and aborted rows are removed this long after they finished.
    pub keep_finished: Duration,
    /// Time between two sweeps.
    pub every: Duration,
}

/// The longest margin an upload is kept from being offered before its
/// expiry (see [`JanitorSettings::offered_for`]).
const MAX_OFFER_MARGIN: Duration = Duration::from_secs(24 * 3600);

impl JanitorSettings {
    /// How long after its creation an open upload is still offered to a
    /// lookup or an adopting create: its expiry less a margin for the
    /// adopter to finish it in, a quarter of the expiry or a day,
    /// whichever is less. A later one would be aborted by a sweep while
    /// its adopter still sends parts (sweeps count from creation, as an S3
    /// lifecycle rule does); a fresh upload is created for it instead. With
    /// the default week, an upload is offered for its first 6 days.
    #[must_use]
    pub fn offered_for(&self) -> Duration {
        self.expiry - (self.expiry / 4).min(MAX_OFFER_MARGIN)
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    /// Open uploads past expiry: aborted on the store (or gone from it),
    /// rows removed.
    pub expired: u64,
    /// Completed or aborted rows removed.
    pub finished_removed: u64,
    /// Store uploads past expiry without an open row, aborted.
    pub orphans_aborted: u64,
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Runs one sweep.
///
/// # Errors
/// The database or the store failed (what was done before stays done).
pub async fn sweep(state: &AppState) -> Result<Sweep, String> {
    let settings = state.janitor;
    let now = now_ms();
    let expired = abort_expired_rows(state, now.saturating_sub(ms(settings.expiry)), BATCH).await?;
    let finished_removed = state
        .db
        .remove_finished_before(now.saturating_sub(ms(settings.keep_finished)))
        .await
        .map_err(|e| e.to_string())?;
    let orphans_aborted = abort_expired_store_uploads(state, settings.expiry).await?;
    Ok(Sweep {
        expired,
        finished_removed,
        orphans_aborted,
    })
}

/// Aborts the open uploads created before `before_ms` on the store, `batch`
/// rows at a time, and removes the row of each one the store aborted (or no
/// longer has); how many.
///
/// A row whose abort the store refused (or that could not be sent) is kept,
/// for a later sweep to try again. Such rows come first in the next batch
/// (oldest first), so a batch with a failure ends this step: a store that
/// keeps failing cannot hold the sweep in this loop. Nor can a database
/// that answers reads but fails the row's update (logged where it fails):
/// a row listed again in the same sweep ends the step too.
async fn abort_expired_rows(state: &AppState, before_ms: i64, batch: i64) -> Result<u64, String> {
    let mut done = 0;
    let mut seen = HashSet::new();
    loop {
        let rows = state
            .db
            .open_before(before_ms, batch)
            .await
            .map_err(|e| e.to_string())?;
        let mut failed = false;
        for (upload_id, key) in &rows {
            if !seen.insert(upload_id.clone()) {
                return Ok(done);
            }
            if abort_expired_row(state, upload_id, key).await? {
                done += 1;
            } else {
                failed = true;
            }
        }
        if failed || rows.len() < usize::try_from(batch).unwrap_or(usize::MAX) {
            return Ok(done);
        }
    }
}

/// Aborts one expired upload on the store and removes its row; false when
/// the store refused (the row is kept). An upload the store no longer has
/// may have been completed (a crash between the store's complete and the
/// row's update, or a complete running alongside): its row is then marked
/// completed, not removed, so that a complete sent again is answered as
/// done rather than `NoSuchUpload`.
async fn abort_expired_row(state: &AppState, upload_id: &str, key: &str) -> Result<bool, String> {
    match state.store.abort_multipart_upload(key, upload_id).await {
        Err(e) if e.is_no_such_upload() => {
            return Ok(match routes::settle_gone(state, upload_id, key).await {
                Ok(_) => true,
                Err(e) => {
                    eprintln!("janitor: expired upload {upload_id} is gone from the store, and its object could not be looked for ({e}); its row is kept");
                    false
                }
            });
        }
        Err(e) => {
            eprintln!("janitor: could not abort expired upload {upload_id} ({e}); its row is kept, and the next sweep retries it");
            return Ok(false);
        }
        Ok(()) => {}
    }
    state.cache.close(upload_id);
    state
        .db
        .remove(upload_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// Aborts the store's multipart uploads begun before the expiry under keys
/// this server issues that no open row accounts for (orphans: no row, or a
/// finished one); how many. An open row's upload is the row step's: its
/// abort, or its kept row when the abort fails. Other keys, even under
/// `uploads/`, are another app's in a bucket it shares.
async fn abort_expired_store_uploads(state: &AppState, expiry: Duration) -> Result<u64, String> {
    let cutoff = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::try_from(expiry).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let uploads = state
        .store
        .list_multipart_uploads(KEY_PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    let mut done = 0;
    for upload in uploads {
        if upload.initiated.is_none_or(|t| t >= cutoff) || !keys::is_issued_key(&upload.key) {
            continue;
        }
        let row = state
            .db
            .get(&upload.upload_id)
            .await
            .map_err(|e| e.to_string())?;
        if row.is_some_and(|row| row.state == UploadState::Open) {
            continue;
        }
        match state
            .store
            .abort_multipart_upload(&upload.key, &upload.upload_id)
            .await
        {
            Ok(()) => done += 1,
            Err(e) if e.is_no_such_upload() => {}
            Err(e) => eprintln!("janitor: could not abort {} ({e})", upload.upload_id),
        }
    }
    Ok(done)
}

/// Sweeps now, then every `state.janitor.every`, for as long as the server
/// runs.
pub fn spawn(state: SharedState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(state.janitor.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            report(&Arc::clone(&state)).await;
        }
    })
}

async fn report(state: &AppState) {
    match sweep(state).await {
        Ok(sweep) if sweep != Sweep::default() => eprintln!(
            "janitor: {} expired upload(s) aborted, {} finished row(s) removed, {} orphan upload(s) aborted",
            sweep.expired, sweep.finished_removed, sweep.orphans_aborted
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: janitor: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Auth;
    use crate::config::StoreConfig;
    use crate::db::tests::{on_each_backend, row};
    use crate::db::Db;
    use crate::s3::Store;

    /// A loopback port nothing listens on: every store request fails.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn state_on(db: Db, port: u16) -> AppState {
        let store = Store::new(&StoreConfig {
            endpoint: format!("http://127.0.0.1:{port}").parse().unwrap(),
            bucket: "resupload".into(),
            region: "garage".into(),
            access_key_id: "GK0123".into(),
            secret_access_key: "s".into(),
        })
        .unwrap();
        AppState {
            store,
            part_url_expires: Duration::from_secs(3600),
            db,
            cache: Default::default(),
            auth: Auth::Off,
            janitor: JanitorSettings {
                expiry: Duration::from_secs(1),
                keep_finished: Duration::from_secs(1),
                every: Duration::from_secs(3600),
            },
            creates: Default::default(),
        }
    }

    #[test]
    fn an_upload_is_offered_until_a_quarter_of_its_expiry_or_a_day_is_left() {
        let offered = |expiry_secs: u64| {
            let settings = JanitorSettings {
                expiry: Duration::from_secs(expiry_secs),
                keep_finished: Duration::ZERO,
                every: Duration::from_secs(3600),
            };
            settings.offered_for().as_secs()
        };
        let day = 24 * 3600;
        assert_eq!(offered(7 * day), 6 * day);
        assert_eq!(offered(2 * day), 2 * day - day / 2);
        assert_eq!(offered(8), 6);
        assert_eq!(offered(0), 0);
    }

    #[tokio::test]
    async fn rows_whose_abort_fails_are_kept_and_the_step_ends() {
        on_each_backend(|db| async move {
            let ids: Vec<String> = (0..5).map(|i| format!("expired-{i}")).collect();
            for (i, id) in ids.iter().enumerate() {
                db.insert(&row(id, "alice", 1_000 + i64::try_from(i).unwrap()))
                    .await
                    .unwrap();
            }
            let state = state_on(db.clone(), closed_port());
            // Batches of 2 over 5 rows that all fail: without an end, the
            // same 2 rows would be fetched again and again.
            let aborted = tokio::time::timeout(
                Duration::from_secs(30),
                abort_expired_rows(&state, now_ms(), 2),
            )
            .await
            .expect("the step ends although every abort fails");
            assert_eq!(aborted, Ok(0));
            let left: Vec<(String, UploadState)> = db
                .all()
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.upload_id, r.state))
                .collect();
            let open: Vec<(String, UploadState)> =
                ids.into_iter().map(|id| (id, UploadState::Open)).collect();
            assert_eq!(left, open, "every row kept, open, for the next sweep");
        })
        .await;
    }
}
