-- Shoal metadata schema for PostgreSQL, version 2: accounts.
-- Applied on top of version 1 in the same transaction and under the same advisory lock (a new
-- schema runs v1, then v2); shoal_schema keeps one row, updated to the new version.
-- Secrets are sealed with the server master key (AES-256-GCM, see shoal.core.secrets): the
-- column holds "v1:<key id>:<base64>", never a plain secret.

CREATE TABLE users (
    name            text COLLATE "C" PRIMARY KEY,
    user_id         text COLLATE "C" NOT NULL UNIQUE,   -- canonical id (64 hex)
    display_name    text NOT NULL,
    created         double precision NOT NULL
);

CREATE TABLE access_keys (
    access_key      text COLLATE "C" PRIMARY KEY,
    user_id         text COLLATE "C" NOT NULL REFERENCES users (user_id),
    secret          text NOT NULL,                      -- sealed secret
    created         double precision NOT NULL,
    active          boolean NOT NULL
);

CREATE INDEX access_keys_by_user ON access_keys (user_id, created, access_key);

UPDATE shoal_schema SET version = 2;
