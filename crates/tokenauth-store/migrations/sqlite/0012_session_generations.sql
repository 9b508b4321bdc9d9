-- Refresh tokens of format v2 (crates/tokenauth-core/src/refresh_token.rs): a token names its
-- session and generation and carries a MAC under the rotation secret, so nothing of it is
-- stored. New sessions keep no hash (current_hash NULL) and add no refresh_tokens rows; a
-- rotation is one in-place update of the session's generation. Kept in step with
-- migrations/postgres/0012_session_generations.sql.
--
-- Sessions from before keep their hashes, so that no one is logged out: current_hash and
-- previous_hash stay recognised until the session's next rotation, which clears current_hash
-- (its successor is a v2 token), and the refresh_tokens history keeps older tokens recognised
-- as theft until the session is purged.
--
-- SQLite cannot drop a NOT NULL in place, so the table is rebuilt as
-- https://www.sqlite.org/lang_altertable.html section 7 describes: src/sqlite/migrations.rs runs
-- the steps below in one transaction with foreign keys off (so that dropping the old table
-- deletes no refresh_tokens row through their ON DELETE CASCADE), the copy in batches with its
-- progress logged, and checks the foreign keys before committing. Same columns in the same
-- order, same rowids, same indexes, except that the unique index on current_hash is partial.

-- step: create
CREATE TABLE sessions_new (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_hash        BLOB,
    previous_hash       BLOB,
    generation          INTEGER NOT NULL DEFAULT 0,
    rotated_at          INTEGER,
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    revoked_at          INTEGER,
    revoke_reason       TEXT,
    user_agent          TEXT,
    ip                  TEXT,
    absolute_expires_at INTEGER NOT NULL DEFAULT 0,
    access_expires_at   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- step: copy
-- ?1: the last rowid copied (the smallest integer at first), ?2: the batch size; returns the
-- rowids it copied.
INSERT INTO sessions_new (rowid, id, user_id, current_hash, previous_hash, generation,
    rotated_at, created_at, last_used_at, expires_at, revoked_at, revoke_reason, user_agent, ip,
    absolute_expires_at, access_expires_at)
SELECT rowid, id, user_id, current_hash, previous_hash, generation, rotated_at, created_at,
    last_used_at, expires_at, revoked_at, revoke_reason, user_agent, ip, absolute_expires_at,
    access_expires_at
FROM sessions WHERE rowid > ?1 ORDER BY rowid LIMIT ?2
RETURNING rowid;

-- step: swap
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE UNIQUE INDEX sessions_current_hash ON sessions (current_hash)
    WHERE current_hash IS NOT NULL;
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_revoked_access_expiry ON sessions (access_expires_at)
    WHERE revoked_at IS NOT NULL;
