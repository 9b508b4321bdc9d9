-- The audit log: security-relevant events (sign-ups, logins, revocations, account and key
-- changes), read per user newest first and purged after a retention time. Kept in step with
-- migrations/postgres/0006_audit_log.sql. No foreign keys: an event outlives the user or
-- session it names until its own purge. Never holds an email, a password or a token.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY NOT NULL,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT
) STRICT;
-- `tokenauth audit --user`: one user's events in a time range.
CREATE INDEX audit_events_user_at ON audit_events (user_id, at);
-- The retention purge deletes the oldest events without scanning the table.
CREATE INDEX audit_events_at ON audit_events (at);
