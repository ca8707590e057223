-- Shoal metadata schema, version 2: accounts (PRAGMA user_version = 2).
-- Applied on top of version 1, in the same kind of transaction (a new database runs v1, then v2).
-- Secrets are sealed with the server master key (AES-256-GCM, see shoal.core.secrets): the
-- column holds "v1:<key id>:<base64>", never a plain secret.

CREATE TABLE users (
    name            TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL UNIQUE,     -- canonical id (64 hex)
    display_name    TEXT NOT NULL,
    created         REAL NOT NULL
);

CREATE TABLE access_keys (
    access_key      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (user_id),
    secret          TEXT NOT NULL,            -- sealed secret
    created         REAL NOT NULL,
    active          INTEGER NOT NULL          -- 1 = active, 0 = revoked
);

CREATE INDEX access_keys_by_user ON access_keys (user_id, created, access_key);

CREATE INDEX buckets_by_owner ON buckets (owner, name);
