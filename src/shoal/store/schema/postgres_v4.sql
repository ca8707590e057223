-- Shoal metadata schema for PostgreSQL, version 4: an object made by CompleteMultipartUpload
-- remembers its upload id, so a repeated Complete of that upload (a client retrying after a
-- lost response) answers with the same result instead of NoSuchUpload.
-- Applied on top of version 3 in the same transaction and under the same advisory lock.

ALTER TABLE objects ADD COLUMN upload_id text COLLATE "C";

UPDATE shoal_schema SET version = 4;
