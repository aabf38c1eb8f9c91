//! The uploads table: every multipart upload this server created, with its
//! owner and content identity, so that another device can find it again
//! (the lookup route) and every route can check who may touch it without
//! asking the store.
//!
//! SQLite (a file under the data directory) by default, PostgreSQL when
//! `DATABASE_URL` points at one: one code path through sqlx's `Any` driver,
//! the schema in `server/migrations/` (portable SQL, embedded at build time).

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row as _};

/// The environment variable naming the database (else SQLite in the data
/// directory).
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";

/// The SQLite file's name inside the data directory.
pub const SQLITE_FILE: &str = "resupload.sqlite3";

/// How long a query may wait for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The columns every read selects, in [`row_from`]'s order.
const COLUMNS: &str = "upload_id, owner, object_key, name, size, sample_sha256, part_size, \
     checksum_algorithm, headers, created_at, state";

/// The longest owner or file name the table takes, in bytes: S3's longest
/// object key, and what keeps a row of the `uploads_identity` index
/// (owner, name, size, sample) within PostgreSQL's btree limit of 2704
/// bytes, however little the text compresses.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Why the table cannot take `text` as an owner or a file name, if it
/// cannot: a NUL character (PostgreSQL's `text` refuses it) or more than
/// [`MAX_TEXT_BYTES`]. The same rule holds on SQLite, which would take
/// both, so that the two backends agree.
pub fn text_refusal(text: &str) -> Option<String> {
    if text.contains('\0') {
        Some("holds a NUL character".to_owned())
    } else if text.len() > MAX_TEXT_BYTES {
        Some(format!(
            "is {} bytes long: at most {MAX_TEXT_BYTES}",
            text.len()
        ))
    } else {
        None
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A database failure, with what was being done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError(pub String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database: {}", self.0)
    }
}

impl std::error::Error for DbError {}

fn failed(what: &'static str) -> impl Fn(sqlx::Error) -> DbError {
    move |e| DbError(format!("{what}: {e}"))
}

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Created, not yet completed or aborted.
    Open,
    /// Completed: the object exists.
    Completed,
    /// Aborted (by its owner, the janitor, or found gone on the store).
    Aborted,
}

impl UploadState {
    /// Its name in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Completed => "completed",
            Self::Aborted => "aborted",
        }
    }
}

impl FromStr for UploadState {
    type Err = DbError;

    fn from_str(s: &str) -> Result<Self, DbError> {
        match s {
            "open" => Ok(Self::Open),
            "completed" => Ok(Self::Completed),
            "aborted" => Ok(Self::Aborted),
            other => Err(DbError(format!("unknown upload state {other:?}"))),
        }
    }
}

/// One row of the uploads table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// The store's upload id.
    pub upload_id: String,
    /// Who created it.
    pub owner: String,
    /// Its object key.
    pub key: String,
    /// The file name as the client sent it.
    pub name: String,
    /// The file's size in bytes, if the client said.
    pub size: Option<u64>,
    /// The SHA-256 of the client's content sample (64 lowercase hex), if sent.
    pub sample_sha256: Option<String>,
    /// The part size the client planned, if sent.
    pub part_size: Option<u64>,
    /// `SHA256` if parts are checksummed.
    pub checksum_algorithm: Option<String>,
    /// Content-Type and `x-amz-meta-*` headers of the object.
    pub headers: Vec<(String, String)>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Open, completed or aborted.
    pub state: UploadState,
}

/// The content identity a lookup searches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The owner whose uploads are searched.
    pub owner: &'a str,
    /// The file name.
    pub name: &'a str,
    /// The size in bytes.
    pub size: u64,
    /// The sample's SHA-256 (64 lowercase hex).
    pub sample_sha256: &'a str,
}

fn to_i64(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn to_u64(value: Option<i64>) -> Option<u64> {
    value.and_then(|v| u64::try_from(v).ok())
}

fn row_from(row: &AnyRow) -> Result<UploadRow, sqlx::Error> {
    let headers: String = row.try_get(8)?;
    let state: String = row.try_get(10)?;
    Ok(UploadRow {
        upload_id: row.try_get(0)?,
        owner: row.try_get(1)?,
        key: row.try_get(2)?,
        name: row.try_get(3)?,
        size: to_u64(row.try_get(4)?),
        sample_sha256: row.try_get(5)?,
        part_size: to_u64(row.try_get(6)?),
        checksum_algorithm: row.try_get(7)?,
        headers: serde_json::from_str(&headers).map_err(|e| sqlx::Error::Decode(e.into()))?,
        created_at_ms: row.try_get(9)?,
        state: state
            .parse()
            .map_err(|e: DbError| sqlx::Error::Decode(e.into()))?,
    })
}

/// The uploads table, on a pool of connections.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: String,
}

impl Db {
    /// The URL of the SQLite file `path` (created if missing).
    pub fn sqlite_url(path: &Path) -> String {
        // Percent-encoded, so `?`, `#` or `%` in the path stay in the name.
        match url::Url::from_file_path(path) {
            Ok(url) => format!("sqlite://{}?mode=rwc", url.path()),
            Err(()) => format!("sqlite://{}?mode=rwc", path.display()),
        }
    }

    /// Connects to `url` (`sqlite://…` or `postgres://…`) and brings the
    /// schema up to date.
    ///
    /// # Errors
    /// The database cannot be reached, or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Readers never wait for the writer; a commit waits
                        // for the OS, not for the disk.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(failed("connect"))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| DbError(format!("migrations: {e}")))?;
        let backend = if sqlite { "SQLite" } else { "PostgreSQL" }.to_owned();
        Ok(Self { pool, backend })
    }

    /// `SQLite` or `PostgreSQL`.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Writes a new row.
    ///
    /// # Errors
    /// The database failed (or the upload id is there already).
    pub async fn insert(&self, row: &UploadRow) -> Result<(), DbError> {
        let headers = serde_json::to_string(&row.headers).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query(
            "INSERT INTO uploads (upload_id, owner, object_key, name, size, sample_sha256, \
             part_size, checksum_algorithm, headers, created_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&row.upload_id)
        .bind(&row.owner)
        .bind(&row.key)
        .bind(&row.name)
        .bind(to_i64(row.size))
        .bind(&row.sample_sha256)
        .bind(to_i64(row.part_size))
        .bind(&row.checksum_algorithm)
        .bind(headers)
        .bind(row.created_at_ms)
        .bind(row.state.as_str())
        .execute(&self.pool)
        .await
        .map_err(failed("insert"))?;
        Ok(())
    }

    /// The row of `upload_id`, if any.
    ///
    /// # Errors
    /// The database failed.
    pub async fn get(&self, upload_id: &str) -> Result<Option<UploadRow>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM uploads WHERE upload_id = $1");
        let row = sqlx::query(&sql)
            .bind(upload_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("get"))?;
        row.as_ref()
            .map(row_from)
            .transpose()
            .map_err(failed("get"))
    }

    /// Marks an open upload completed or aborted at `now_ms`; whether it
    /// was changed. Completed also replaces aborted: the store answering a
    /// complete with the object outranks an earlier reading of the upload
    /// as gone (a row already completed stays as it is).
    ///
    /// # Errors
    /// The database failed.
    pub async fn finish(
        &self,
        upload_id: &str,
        state: UploadState,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let sql = match state {
            UploadState::Completed => {
                "UPDATE uploads SET state = $1, finished_at = $2 \
                 WHERE upload_id = $3 AND state IN ('open', 'aborted')"
            }
            _ => {
                "UPDATE uploads SET state = $1, finished_at = $2 \
                 WHERE upload_id = $3 AND state = 'open'"
            }
        };
        let done = sqlx::query(sql)
            .bind(state.as_str())
            .bind(now_ms)
            .bind(upload_id)
            .execute(&self.pool)
            .await
            .map_err(failed("finish"))?;
        Ok(done.rows_affected() > 0)
    }

    /// The owner's newest open upload of `identity` created at or after
    /// `not_before_ms` (older ones are past expiry).
    ///
    /// # Errors
    /// The database failed.
    pub async fn lookup(
        &self,
        identity: &Identity<'_>,
        not_before_ms: i64,
    ) -> Result<Option<UploadRow>, DbError> {
        let mut rows = self.open_uploads_of(identity, not_before_ms, 1).await?;
        Ok(rows.pop())
    }

    /// The owner's open uploads of `identity` created at or after
    /// `not_before_ms`, newest first, at most `limit` of them.
    ///
    /// # Errors
    /// The database failed.
    pub async fn open_uploads_of(
        &self,
        identity: &Identity<'_>,
        not_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<UploadRow>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM uploads WHERE owner = $1 AND name = $2 AND size = $3 \
             AND sample_sha256 = $4 AND state = 'open' AND created_at >= $5 \
             ORDER BY created_at DESC, upload_id DESC LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(identity.owner)
            .bind(identity.name)
            .bind(to_i64(Some(identity.size)))
            .bind(identity.sample_sha256)
            .bind(not_before_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(failed("lookup"))?;
        rows.iter()
            .map(row_from)
            .collect::<Result<_, _>>()
            .map_err(failed("lookup"))
    }

    /// Open uploads created before `before_ms`, oldest first, at most
    /// `limit`: `(upload id, key)`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn open_before(
        &self,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT upload_id, object_key FROM uploads WHERE state = 'open' AND created_at < $1 \
             ORDER BY created_at LIMIT $2",
        )
        .bind(before_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("open_before"))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(failed("open_before"))
    }

    /// Removes a row; whether there was one.
    ///
    /// # Errors
    /// The database failed.
    pub async fn remove(&self, upload_id: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&self.pool)
            .await
            .map_err(failed("remove"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes completed and aborted rows finished before `before_ms`; how
    /// many.
    ///
    /// # Errors
    /// The database failed.
    pub async fn remove_finished_before(&self, before_ms: i64) -> Result<u64, DbError> {
        let done = sqlx::query("DELETE FROM uploads WHERE state <> 'open' AND finished_at < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(failed("remove_finished_before"))?;
        Ok(done.rows_affected())
    }

    /// Every row, oldest first (for the debug routes).
    ///
    /// # Errors
    /// The database failed.
    pub async fn all(&self) -> Result<Vec<UploadRow>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM uploads ORDER BY created_at, upload_id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(failed("all"))?;
        rows.iter()
            .map(row_from)
            .collect::<Result<_, _>>()
            .map_err(failed("all"))
    }
}

#[cfg(test)]
pub(crate) mod tests;
