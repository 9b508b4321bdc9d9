-- The key policy of the serving instances (their signing algorithm, how long a new key is
-- published before it signs, how long a retired key stays published, their JWKS max-age),
-- written by `tokenauth serve` at every start. The CLI's key commands follow it instead of
-- their own settings. One row; the last instance to start wins.
CREATE TABLE key_policy (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    signing_alg     TEXT NOT NULL,
    publish_lead_ms INTEGER NOT NULL CHECK (publish_lead_ms >= 0),
    retire_hold_ms  INTEGER NOT NULL CHECK (retire_hold_ms >= 0),
    jwks_max_age_ms INTEGER NOT NULL CHECK (jwks_max_age_ms >= 0),
    updated_at      INTEGER NOT NULL
) STRICT;
