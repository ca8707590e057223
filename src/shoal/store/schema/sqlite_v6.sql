-- Shoal metadata schema, version 6 (PRAGMA user_version = 6): a covering index for listings.
-- A page of ListObjects reads key, size, etag, last_modified, storage_class and owner of up to
-- a thousand consecutive keys. With only the UNIQUE (bucket, key) index every row cost a
-- second B-tree lookup into the table (whose rows also hold the meta, segment and part JSON);
-- with this index a page is one range scan of the index alone.

CREATE INDEX objects_listing
    ON objects (bucket, key, size, etag, last_modified, storage_class, owner);
