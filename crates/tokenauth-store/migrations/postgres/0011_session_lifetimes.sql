-- Absolute session lifetimes (`session_max_lifetime`) and the latest access-token expiry of
-- each session, so a revocation is remembered until its tokens really expire. Kept in step
-- with migrations/sqlite/0011_session_lifetimes.sql (see there for the meaning of each column
-- and the values given to rows from before this migration).
ALTER TABLE sessions ADD COLUMN absolute_expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN access_expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET absolute_expires_at = created_at + 7776000000,
    access_expires_at = last_used_at + 86400000;
UPDATE sessions SET expires_at = absolute_expires_at WHERE expires_at > absolute_expires_at;
CREATE INDEX sessions_revoked_access_expiry ON sessions (access_expires_at)
    WHERE revoked_at IS NOT NULL;

ALTER TABLE revocations ADD COLUMN access_expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE revocations SET access_expires_at = revoked_at + 86400000;
