-- The revocation feed: one row per revoked session, appended in the transaction that revokes
-- it. Kept in step with migrations/sqlite/0004_revocation_feed.sql. Identity values are taken
-- at insert time, so appends hold an advisory lock until they commit (see
-- src/postgres/revocations.rs): seq order is then commit order. No foreign key to sessions:
-- the two are purged independently, and an event outlives its session until its own purge.
-- The purge walks the oldest rows by seq, so it needs no index of its own.
CREATE TABLE revocations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id UUID NOT NULL,
    revoked_at BIGINT NOT NULL
);

-- The feed's one row of state: a random epoch naming this database's feed (a cursor taken
-- from another database, after a restore or a `db copy`, is recognised as foreign), and the
-- highest seq the purge has deleted.
CREATE TABLE revocation_feed (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    epoch          TEXT NOT NULL,
    purged_through BIGINT NOT NULL DEFAULT 0
);
INSERT INTO revocation_feed (id, epoch)
    VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 16));
