-- Shoal metadata schema for PostgreSQL, version 3: named KMS keys.
-- Applied on top of version 2 in the same transaction and under the same advisory lock.
-- The key material is sealed with the server master key (AES-256-GCM, see shoal.core.kms):
-- the column holds "v1:<key id>:<base64>", never a plain key.

CREATE TABLE kms_keys (
    key_id          text COLLATE "C" PRIMARY KEY,
    created         double precision NOT NULL,
    material        text NOT NULL                       -- sealed key material
);

UPDATE shoal_schema SET version = 3;
