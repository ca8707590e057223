-- Shoal metadata schema, version 1 (PRAGMA user_version = 1).
-- Statements are executed one by one inside a single BEGIN IMMEDIATE transaction.
-- TEXT keys compare with the BINARY collation, i.e. in UTF-8 byte order.
-- JSON columns hold compact json.dumps() output; crc64ecma holds the unsigned 64-bit value
-- reinterpreted as a signed int64 (two's complement).

CREATE TABLE buckets (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created     REAL NOT NULL,
    region      TEXT NOT NULL,
    acl         TEXT,                 -- json or NULL
    config      TEXT NOT NULL         -- json object
);

CREATE TABLE objects (
    id              INTEGER PRIMARY KEY,
    bucket          TEXT NOT NULL REFERENCES buckets (name),
    key             TEXT NOT NULL,
    size            INTEGER NOT NULL,
    etag            TEXT NOT NULL,
    last_modified   REAL NOT NULL,
    owner           TEXT NOT NULL,
    storage_class   TEXT NOT NULL,    -- copy of meta.storage_class, for listings
    meta            TEXT NOT NULL,    -- ObjectMeta.to_json()
    segments        TEXT NOT NULL,    -- json [[blob, offset, length], ...]
    parts           TEXT NOT NULL,    -- json [[number, size, etag, checksum], ...]
    checksums       TEXT NOT NULL,    -- json {algo: b64}
    checksum_type   TEXT,
    crc64ecma       INTEGER,          -- signed int64 reinterpretation of the u64
    version_id      TEXT,
    UNIQUE (bucket, key)
);

CREATE TABLE uploads (
    upload_id           TEXT PRIMARY KEY,
    bucket              TEXT NOT NULL REFERENCES buckets (name),
    key                 TEXT NOT NULL,
    initiated           REAL NOT NULL,
    owner               TEXT NOT NULL,
    meta                TEXT NOT NULL,
    checksum_algorithm  TEXT,
    checksum_type       TEXT
);

CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id);

CREATE INDEX uploads_by_initiated ON uploads (initiated, upload_id);

CREATE TABLE parts (
    upload_id       TEXT NOT NULL REFERENCES uploads (upload_id),
    number          INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    etag            TEXT NOT NULL,
    last_modified   REAL NOT NULL,
    blob            TEXT NOT NULL,
    checksums       TEXT NOT NULL,
    crc64ecma       INTEGER,
    PRIMARY KEY (upload_id, number)
) WITHOUT ROWID;
