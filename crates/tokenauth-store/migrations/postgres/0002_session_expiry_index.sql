-- Lets the background purge find ended sessions without a table scan.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
