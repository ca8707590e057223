-- Shoal metadata schema for PostgreSQL, version 5: the bytes of small objects kept in the
-- metadata store (see shoal.core.model, INLINE_MAX), one row per inline blob, written and
-- deleted in the transaction of the object row whose one segment names it.
-- Applied on top of version 4 in the same transaction and under the same advisory lock.

CREATE TABLE inline_blobs (
    blob    text COLLATE "C" PRIMARY KEY,
    data    bytea NOT NULL
);

UPDATE shoal_schema SET version = 5;
