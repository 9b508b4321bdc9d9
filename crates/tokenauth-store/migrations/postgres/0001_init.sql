-- Users, sessions (refresh-token families), refresh-token history, signing keys.
-- Kept in step with migrations/sqlite/0001_init.sql: same tables, columns and meaning.
-- Times are Unix milliseconds (BIGINT) on both backends, so `db copy` moves rows unchanged.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT[] NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);

-- One row per session. current_hash is the one live refresh token; previous_hash the one it
-- replaced at rotated_at (a retry of it within the grace window is answered idempotently).
CREATE TABLE sessions (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_hash  BYTEA NOT NULL,
    previous_hash BYTEA,
    generation    BIGINT NOT NULL DEFAULT 0,
    rotated_at    BIGINT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT,
    user_agent    TEXT,
    ip            TEXT
);
CREATE UNIQUE INDEX sessions_current_hash ON sessions (current_hash);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Every refresh token ever issued to a session, so that reuse of an old one is recognised as
-- theft rather than treated as unknown. Purged with the session.
CREATE TABLE refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    sealed_material BYTEA NOT NULL,
    public_jwk      TEXT,
    created_at      BIGINT NOT NULL,
    activate_at     BIGINT NOT NULL,
    activated_at    BIGINT,
    retired_at      BIGINT,
    publish_until   BIGINT
);
-- At most one 'next' and one 'active' key: concurrent rotations cannot both win.
CREATE UNIQUE INDEX signing_keys_one_live_per_state ON signing_keys (state)
    WHERE state IN ('next', 'active');
