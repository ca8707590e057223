-- Shoal metadata schema for PostgreSQL, version 6: the unique index on (bucket, key), the one
-- every listing scans, also carries the columns a listing returns, so that a page can be an
-- index-only scan instead of a heap fetch per row. INCLUDE columns are not part of the key:
-- uniqueness and ON CONFLICT (bucket, key) are as before.
-- Applied on top of version 5 in the same transaction and under the same advisory lock.

ALTER TABLE objects DROP CONSTRAINT IF EXISTS objects_bucket_key_key;
ALTER TABLE objects ADD CONSTRAINT objects_bucket_key_key
    UNIQUE (bucket, key) INCLUDE (size, etag, last_modified, storage_class, owner);

UPDATE shoal_schema SET version = 6;
