-- One row that `/readyz` rewrites, only while the last write failed, to learn whether the
-- database accepts writes again. Kept in step with migrations/sqlite/0008_write_probe.sql.
CREATE TABLE write_probe (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    written_at BIGINT NOT NULL
);
