-- Shoal metadata schema for PostgreSQL, version 1 (the row in shoal_schema).
-- Run as one script inside one transaction, under an advisory lock, in the first schema of the
-- connection's search_path. The database must use the UTF8 encoding.
-- Names, keys and ids use COLLATE "C": they compare in UTF-8 byte order, like SQLite's BINARY.
-- JSON columns hold compact json.dumps() output as text (round-trips exactly, unlike jsonb);
-- crc64ecma holds the unsigned 64-bit value reinterpreted as a signed int64 (two's complement).

CREATE TABLE shoal_schema (
    version     integer NOT NULL
);

CREATE TABLE buckets (
    name        text COLLATE "C" PRIMARY KEY,
    owner       text COLLATE "C" NOT NULL,
    created     double precision NOT NULL,
    region      text NOT NULL,
    acl         text,                   -- json or NULL
    config      text NOT NULL           -- json object
);

CREATE INDEX buckets_by_owner ON buckets (owner, name);

CREATE TABLE objects (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket          text COLLATE "C" NOT NULL REFERENCES buckets (name),
    key             text COLLATE "C" NOT NULL,
    size            bigint NOT NULL,
    etag            text NOT NULL,
    last_modified   double precision NOT NULL,
    owner           text NOT NULL,
    storage_class   text NOT NULL,      -- copy of meta.storage_class, for listings
    meta            text NOT NULL,      -- ObjectMeta.to_json()
    segments        text NOT NULL,      -- json [[blob, offset, length], ...]
    parts           text NOT NULL,      -- json [[number, size, etag, checksum], ...]
    checksums       text NOT NULL,      -- json {algo: b64}
    checksum_type   text,
    crc64ecma       bigint,             -- signed int64 reinterpretation of the u64
    version_id      text,
    UNIQUE (bucket, key)                -- the index every listing scans
);

CREATE TABLE uploads (
    upload_id           text COLLATE "C" PRIMARY KEY,
    bucket              text COLLATE "C" NOT NULL REFERENCES buckets (name),
    key                 text COLLATE "C" NOT NULL,
    initiated           double precision NOT NULL,
    owner               text NOT NULL,
    meta                text NOT NULL,
    checksum_algorithm  text,
    checksum_type       text
);

CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id);

CREATE INDEX uploads_by_initiated ON uploads (initiated, upload_id);

CREATE TABLE parts (
    upload_id       text COLLATE "C" NOT NULL REFERENCES uploads (upload_id),
    number          bigint NOT NULL,
    size            bigint NOT NULL,
    etag            text NOT NULL,
    last_modified   double precision NOT NULL,
    blob            text NOT NULL,
    checksums       text NOT NULL,
    crc64ecma       bigint,
    PRIMARY KEY (upload_id, number)
);

INSERT INTO shoal_schema (version) VALUES (1);
