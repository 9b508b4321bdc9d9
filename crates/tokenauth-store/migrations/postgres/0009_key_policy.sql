-- The key policy of the serving instances; kept in step with migrations/sqlite/0007_key_policy.sql.
CREATE TABLE key_policy (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    signing_alg     TEXT NOT NULL,
    publish_lead_ms BIGINT NOT NULL CHECK (publish_lead_ms >= 0),
    retire_hold_ms  BIGINT NOT NULL CHECK (retire_hold_ms >= 0),
    jwks_max_age_ms BIGINT NOT NULL CHECK (jwks_max_age_ms >= 0),
    updated_at      BIGINT NOT NULL
);
