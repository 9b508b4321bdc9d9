-- Absolute session lifetimes (`session_max_lifetime`) and the latest access-token expiry of
-- each session, so a revocation is remembered until its tokens really expire. Kept in step
-- with migrations/postgres/0011_session_lifetimes.sql.
--
-- absolute_expires_at: no rotation moves expires_at past it (the rotation's compare-and-swap
-- caps it there). A session from before this migration gets created_at + 90 days (the
-- default of session_max_lifetime), and its expires_at is cut to that: one older than 90
-- days ends now.
-- access_expires_at: the latest `exp` of an access token minted for the session, set by the
-- statements that create and rotate it. Before this migration it was not recorded; 24 hours
-- after the last use is assumed (a longer access_token_ttl draws a warning at start).
ALTER TABLE sessions ADD COLUMN absolute_expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN access_expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET absolute_expires_at = created_at + 7776000000,
    access_expires_at = last_used_at + 86400000;
UPDATE sessions SET expires_at = absolute_expires_at WHERE expires_at > absolute_expires_at;
-- What a starting server reads to rebuild its revoked set.
CREATE INDEX sessions_revoked_access_expiry ON sessions (access_expires_at)
    WHERE revoked_at IS NOT NULL;

-- The feed carries each revoked session's access-token expiry, copied from the session when
-- the event is appended; older events assume 24 hours after the revocation.
ALTER TABLE revocations ADD COLUMN access_expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE revocations SET access_expires_at = revoked_at + 86400000;
