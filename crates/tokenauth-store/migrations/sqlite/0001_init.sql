-- Users, sessions (refresh-token families), refresh-token history, signing keys.
-- Times are Unix milliseconds; ids are hyphenated UUID text; token hashes are 32-byte SHA-256.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    disabled_at   INTEGER
) STRICT;

-- One row per session. current_hash is the one live refresh token; previous_hash the one it
-- replaced at rotated_at (a retry of it within the grace window is answered idempotently).
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_hash  BLOB NOT NULL,
    previous_hash BLOB,
    generation    INTEGER NOT NULL DEFAULT 0,
    rotated_at    INTEGER,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoke_reason TEXT,
    user_agent    TEXT,
    ip            TEXT
) STRICT;
CREATE UNIQUE INDEX sessions_current_hash ON sessions (current_hash);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Every refresh token ever issued to a session, so that reuse of an old one is recognised as
-- theft rather than treated as unknown. Purged with the session.
CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    sealed_material BLOB NOT NULL,
    public_jwk      TEXT,
    created_at      INTEGER NOT NULL,
    activate_at     INTEGER NOT NULL,
    activated_at    INTEGER,
    retired_at      INTEGER,
    publish_until   INTEGER
) STRICT;
-- At most one 'next' and one 'active' key: concurrent rotations cannot both win.
CREATE UNIQUE INDEX signing_keys_one_live_per_state ON signing_keys (state)
    WHERE state IN ('next', 'active');
