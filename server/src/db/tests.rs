//! One suite for the uploads table, run against SQLite always and against
//! PostgreSQL when `RESUPLOAD_TEST_DATABASE_URL` names a server (scripts/test.sh
//! starts one): each test gets a database of its own.

use std::future::Future;
use std::path::PathBuf;

use sqlx::Connection as _;

use super::*;

/// The PostgreSQL server the suite also runs against, if any (a URL whose
/// user may create databases).
pub(crate) const TEST_DATABASE_URL_VAR: &str = "RESUPLOAD_TEST_DATABASE_URL";

/// A database made for one test, removed by [`TestDb::remove`].
pub(crate) struct TestDb {
    pub(crate) db: Db,
    pub(crate) url: String,
    place: Place,
}

enum Place {
    File(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}_{}", crate::keys::random_hex().unwrap())
}

impl TestDb {
    /// A fresh SQLite file in the temp folder.
    pub(crate) async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(random_name("resupload-db-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = Db::sqlite_url(&dir.join("test ?#%.sqlite3"));
        let db = Db::connect(&url).await.unwrap();
        Self {
            db,
            url,
            place: Place::File(dir),
        }
    }

    /// A fresh database on the PostgreSQL server of `admin_url`.
    pub(crate) async fn postgres(admin_url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let name = random_name("resupload_test");
        let mut admin = sqlx::AnyConnection::connect(admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let db = Db::connect(&url).await.unwrap();
        Self {
            db,
            url,
            place: Place::Postgres {
                admin_url: admin_url.to_owned(),
                name,
            },
        }
    }

    /// Closes the pool and removes the database.
    pub(crate) async fn remove(self) {
        self.db.close().await;
        match self.place {
            Place::File(dir) => std::fs::remove_dir_all(dir).unwrap(),
            Place::Postgres { admin_url, name } => {
                let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
                sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Runs `test` on a fresh SQLite database, then on a fresh PostgreSQL one
/// when [`TEST_DATABASE_URL_VAR`] is set.
pub(crate) async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let sqlite = TestDb::sqlite().await;
    test(sqlite.db.clone()).await;
    sqlite.remove().await;
    match std::env::var(TEST_DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => {
            let pg = TestDb::postgres(&url).await;
            assert_eq!(pg.db.backend(), "PostgreSQL");
            test(pg.db.clone()).await;
            pg.remove().await;
        }
        _ => eprintln!("PostgreSQL: skipped ({TEST_DATABASE_URL_VAR} is not set)"),
    }
}

const SAMPLE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const OTHER_SAMPLE: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

/// An open row of `owner`, created at `created_at_ms`.
pub(crate) fn row(upload_id: &str, owner: &str, created_at_ms: i64) -> UploadRow {
    UploadRow {
        upload_id: upload_id.to_owned(),
        owner: owner.to_owned(),
        key: format!("uploads/{owner}/0123456789abcdef0123456789abcdef/Été 1.bin"),
        name: "Été 1.bin".to_owned(),
        size: Some(20 * 1024 * 1024),
        sample_sha256: Some(SAMPLE.to_owned()),
        part_size: Some(8 * 1024 * 1024),
        checksum_algorithm: Some("SHA256".to_owned()),
        headers: vec![
            ("content-type".to_owned(), "video/mp4".to_owned()),
            ("x-amz-meta-project".to_owned(), "x".to_owned()),
        ],
        created_at_ms,
        state: UploadState::Open,
    }
}

fn identity(owner: &str) -> Identity<'_> {
    Identity {
        owner,
        name: "Été 1.bin",
        size: 20 * 1024 * 1024,
        sample_sha256: SAMPLE,
    }
}

#[tokio::test]
async fn rows_round_trip() {
    on_each_backend(|db| async move {
        let full = row("u1", "user:alice", 1_000);
        db.insert(&full).await.unwrap();
        let plain = UploadRow {
            size: None,
            sample_sha256: None,
            part_size: None,
            checksum_algorithm: None,
            headers: vec![],
            ..row("u2", "", 2_000)
        };
        db.insert(&plain).await.unwrap();
        assert_eq!(db.get("u1").await.unwrap(), Some(full.clone()));
        assert_eq!(db.get("u2").await.unwrap(), Some(plain.clone()));
        assert_eq!(db.get("u3").await.unwrap(), None);
        assert_eq!(db.all().await.unwrap(), [full.clone(), plain]);
        assert!(db.insert(&full).await.is_err(), "an upload id is unique");
    })
    .await;
}

#[tokio::test]
async fn an_upload_finishes_once() {
    on_each_backend(|db| async move {
        db.insert(&row("u1", "a", 1_000)).await.unwrap();
        assert!(db
            .finish("u1", UploadState::Completed, 5_000)
            .await
            .unwrap());
        assert!(!db.finish("u1", UploadState::Aborted, 6_000).await.unwrap());
        assert!(!db
            .finish("nope", UploadState::Aborted, 6_000)
            .await
            .unwrap());
        let got = db.get("u1").await.unwrap().unwrap();
        assert_eq!(got.state, UploadState::Completed);
    })
    .await;
}

#[tokio::test]
async fn a_completion_the_store_confirmed_overrides_an_aborted_mark() {
    on_each_backend(|db| async move {
        db.insert(&row("u1", "a", 1_000)).await.unwrap();
        // Marked aborted on a NoSuchUpload, then the store's own answer to
        // a complete that ran alongside says the object was made.
        assert!(db.finish("u1", UploadState::Aborted, 5_000).await.unwrap());
        assert!(db
            .finish("u1", UploadState::Completed, 6_000)
            .await
            .unwrap());
        let got = db.get("u1").await.unwrap().unwrap();
        assert_eq!(got.state, UploadState::Completed);
    })
    .await;
}

#[tokio::test]
async fn lookups_find_the_owners_newest_open_upload_of_that_identity() {
    on_each_backend(|db| async move {
        db.insert(&row("old", "alice", 1_000)).await.unwrap();
        db.insert(&row("new", "alice", 2_000)).await.unwrap();
        db.insert(&row("done", "alice", 3_000)).await.unwrap();
        db.finish("done", UploadState::Completed, 3_500)
            .await
            .unwrap();
        db.insert(&row("bobs", "bob", 4_000)).await.unwrap();
        let found = db.lookup(&identity("alice"), 0).await.unwrap().unwrap();
        assert_eq!(found.upload_id, "new");
        assert_eq!(found.part_size, Some(8 * 1024 * 1024));
        let bobs = db.lookup(&identity("bob"), 0).await.unwrap().unwrap();
        assert_eq!(bobs.upload_id, "bobs");
        assert_eq!(db.lookup(&identity("carol"), 0).await.unwrap(), None);
        // Past expiry: not offered any more.
        assert_eq!(db.lookup(&identity("alice"), 2_001).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn lookups_match_name_size_and_sample_exactly() {
    on_each_backend(|db| async move {
        db.insert(&row("u1", "alice", 1_000)).await.unwrap();
        let unsampled = UploadRow {
            sample_sha256: None,
            ..row("u2", "carol", 1_000)
        };
        db.insert(&unsampled).await.unwrap();
        let base = identity("alice");
        for other in [
            Identity {
                name: "été 1.bin",
                ..base.clone()
            },
            Identity {
                size: base.size + 1,
                ..base.clone()
            },
            Identity {
                sample_sha256: OTHER_SAMPLE,
                ..base.clone()
            },
        ] {
            assert_eq!(db.lookup(&other, 0).await.unwrap(), None, "{other:?}");
        }
        // A row created without a sample is never offered.
        assert_eq!(db.lookup(&identity("carol"), 0).await.unwrap(), None);
        assert!(db.lookup(&base, 0).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn the_janitor_queries_see_expired_and_finished_rows() {
    on_each_backend(|db| async move {
        for (id, at) in [("a", 1_000), ("b", 2_000), ("c", 3_000), ("d", 9_000)] {
            db.insert(&row(id, "alice", at)).await.unwrap();
        }
        db.finish("b", UploadState::Aborted, 4_000).await.unwrap();
        db.finish("d", UploadState::Completed, 9_500).await.unwrap();
        let expired = db.open_before(5_000, 10).await.unwrap();
        let ids: Vec<&str> = expired.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert!(expired[0].1.starts_with("uploads/alice/"));
        assert_eq!(db.open_before(5_000, 1).await.unwrap().len(), 1);
        assert_eq!(db.remove_finished_before(5_000).await.unwrap(), 1);
        assert_eq!(db.get("b").await.unwrap(), None);
        assert!(db.get("d").await.unwrap().is_some());
        assert!(db.remove("a").await.unwrap());
        assert!(!db.remove("a").await.unwrap());
        let left: Vec<String> = db
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.upload_id)
            .collect();
        assert_eq!(left, ["c", "d"]);
    })
    .await;
}

/// `n` random hex digits: text PostgreSQL's compression (LZ, no entropy
/// coding) cannot shrink.
fn random_text(n: usize) -> String {
    let mut text = String::new();
    while text.len() < n {
        text.push_str(&crate::keys::random_hex().unwrap());
    }
    text.truncate(n);
    text
}

#[test]
fn the_table_refuses_a_nul_and_text_past_its_limit() {
    assert_eq!(text_refusal(""), None);
    assert_eq!(text_refusal("Été report.bin"), None);
    assert_eq!(text_refusal(&"é".repeat(MAX_TEXT_BYTES / 2)), None);
    assert!(text_refusal("a\0b").unwrap().contains("NUL"));
    let too_long = text_refusal(&format!("{}é", "x".repeat(MAX_TEXT_BYTES - 1))).unwrap();
    assert!(too_long.contains("1025 bytes"), "{too_long}");
}

#[tokio::test]
async fn an_owner_and_a_name_at_the_limit_fit_the_identity_index() {
    on_each_backend(|db| async move {
        let owner = random_text(MAX_TEXT_BYTES);
        let mut long = row("long", &owner, 1_000);
        long.name = random_text(MAX_TEXT_BYTES);
        assert_eq!(text_refusal(&long.owner), None);
        assert_eq!(text_refusal(&long.name), None);
        db.insert(&long).await.unwrap();
        let found = db
            .lookup(
                &Identity {
                    owner: &long.owner,
                    name: &long.name,
                    ..identity("")
                },
                0,
            )
            .await
            .unwrap();
        assert_eq!(found, Some(long));
    })
    .await;
}

#[tokio::test]
async fn a_second_connection_finds_the_schema_in_place() {
    let sqlite = TestDb::sqlite().await;
    sqlite.db.insert(&row("u1", "a", 1)).await.unwrap();
    let again = Db::connect(&sqlite.url).await.unwrap();
    assert!(again.get("u1").await.unwrap().is_some());
    again.close().await;
    assert_eq!(sqlite.db.backend(), "SQLite");
    sqlite.remove().await;
}
