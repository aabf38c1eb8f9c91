-- The uploads table: one row per multipart upload this server created.
-- Portable SQL: the same file migrates SQLite and PostgreSQL.
CREATE TABLE uploads (
    upload_id          TEXT PRIMARY KEY,
    -- who created it: the verified identity, or the client's namespace with auth off
    owner              TEXT NOT NULL,
    object_key         TEXT NOT NULL,
    -- the content identity: the file name as the client sent it, its size and
    -- the SHA-256 of its sample (size and first/middle/last 64 KiB); no date
    name               TEXT NOT NULL,
    size               BIGINT,
    sample_sha256      TEXT,
    part_size          BIGINT,
    checksum_algorithm TEXT,
    -- JSON [[name, value], ...]: Content-Type and x-amz-meta-* of the object
    headers            TEXT NOT NULL,
    -- milliseconds since the Unix epoch
    created_at         BIGINT NOT NULL,
    -- 'open', 'completed' or 'aborted'
    state              TEXT NOT NULL,
    finished_at        BIGINT
);

CREATE INDEX uploads_identity ON uploads (owner, name, size, sample_sha256);
CREATE INDEX uploads_state_created ON uploads (state, created_at);
