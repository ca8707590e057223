-- Shoal metadata schema, version 4 (PRAGMA user_version = 4): an object made by
-- CompleteMultipartUpload remembers its upload id, so a repeated Complete of that upload (a
-- client retrying after a lost response) answers with the same result instead of NoSuchUpload.

ALTER TABLE objects ADD COLUMN upload_id TEXT;
