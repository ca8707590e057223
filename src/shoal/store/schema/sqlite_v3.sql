-- Shoal metadata schema, version 3: named KMS keys (PRAGMA user_version = 3).
-- Applied on top of version 2, in the same kind of transaction.
-- The key material is sealed with the server master key (AES-256-GCM, see shoal.core.kms):
-- the column holds "v1:<key id>:<base64>", never a plain key.

CREATE TABLE kms_keys (
    key_id          TEXT PRIMARY KEY,
    created         REAL NOT NULL,
    material        TEXT NOT NULL             -- sealed key material
);
