-- Registered API clients (callers of /oauth2/revoke and /oauth2/introspect). The secret is
-- stored only as its SHA-256 hash.
CREATE TABLE api_clients (
    client_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BYTEA NOT NULL CHECK (length(secret_hash) = 32),
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);
