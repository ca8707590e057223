-- Shoal metadata schema, version 5 (PRAGMA user_version = 5): the bytes of small objects kept
-- in the metadata store (see shoal.core.model, INLINE_MAX), one row per inline blob, written
-- and deleted in the transaction of the object row whose one segment names it. A table of
-- their own keeps the object rows small, so that listings read as few pages as before.

CREATE TABLE inline_blobs (
    blob    TEXT PRIMARY KEY,
    data    BLOB NOT NULL
);
