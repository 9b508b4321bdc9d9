-- Per-account login throttling: consecutive failed logins per presented email, shared by every
-- process on the database. The key is the SHA-256 of the normalised email (never the email
-- itself), counted whether or not an account has it. A row is dead once forget_at has passed
-- (its last failure or the end of its lock-out, whichever is later, plus the memory window):
-- the next failure starts again from one, and the purge deletes it.
CREATE TABLE login_throttle (
    key          BLOB PRIMARY KEY NOT NULL CHECK (length(key) = 32),
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    forget_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX login_throttle_forget_at ON login_throttle (forget_at);
