-- The revocation feed: one row per revoked session, appended in the transaction that revokes
-- it, numbered in commit order (the single writer serialises appends). AUTOINCREMENT so that a
-- seq is never handed out twice, not even after the purge deleted the highest one. No foreign
-- key to sessions: the two are purged independently, and an event outlives its session until
-- its own purge. The purge walks the oldest rows by seq, so it needs no index of its own.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;

-- The feed's one row of state: a random epoch naming this database's feed (a cursor taken
-- from another database, after a restore or a `db copy`, is recognised as foreign), and the
-- highest seq the purge has deleted.
CREATE TABLE revocation_feed (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    epoch          TEXT NOT NULL,
    purged_through INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO revocation_feed (id, epoch) VALUES (1, lower(hex(randomblob(8))));
