-- The revocation feed also carries key withdrawals: a row names either a revoked session or a
-- withdrawn signing key (`kid`), never both. SQLite cannot drop a NOT NULL in place, so the
-- table is rebuilt with its rows and seqs; the AUTOINCREMENT counter is carried over (and
-- never below `purged_through`), so no seq is ever handed out twice.
CREATE TABLE revocations_new (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT,
    kid        TEXT,
    revoked_at INTEGER NOT NULL,
    CHECK ((session_id IS NULL) <> (kid IS NULL))
) STRICT;
INSERT INTO revocations_new (seq, session_id, revoked_at)
    SELECT seq, session_id, revoked_at FROM revocations ORDER BY seq;
DELETE FROM sqlite_sequence WHERE name = 'revocations_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'revocations_new', MAX(
        COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0),
        COALESCE((SELECT MAX(seq) FROM revocations_new), 0),
        (SELECT purged_through FROM revocation_feed WHERE id = 1)
    );
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
