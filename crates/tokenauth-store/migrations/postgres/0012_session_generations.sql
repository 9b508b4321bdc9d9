-- Refresh tokens of format v2 (crates/tokenauth-core/src/refresh_token.rs): a token names its
-- session and generation and carries a MAC under the rotation secret, so nothing of it is
-- stored. New sessions keep no hash (current_hash NULL) and add no refresh_tokens rows; a
-- rotation is one in-place update of the session's generation. Kept in step with
-- migrations/sqlite/0012_session_generations.sql (see there for how sessions from before keep
-- working until their next rotation).
--
-- Dropping the NOT NULL is a catalog change; the partial unique index is built from the
-- table, under the migration's transaction, in one pass over the sessions.
ALTER TABLE sessions ALTER COLUMN current_hash DROP NOT NULL;
DROP INDEX sessions_current_hash;
CREATE UNIQUE INDEX sessions_current_hash ON sessions (current_hash)
    WHERE current_hash IS NOT NULL;
