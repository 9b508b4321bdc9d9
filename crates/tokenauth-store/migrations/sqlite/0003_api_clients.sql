-- Registered API clients (callers of /oauth2/revoke and /oauth2/introspect). The secret is
-- stored only as its SHA-256 hash.
CREATE TABLE api_clients (
    client_id   TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),
    created_at  INTEGER NOT NULL,
    disabled_at INTEGER
) STRICT, WITHOUT ROWID;
