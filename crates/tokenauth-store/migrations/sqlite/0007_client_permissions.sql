-- What each API client may do beyond acting on its own tokens: a space-separated set of
-- permission names (`introspect`, `revoke_any`, `revocations`). Kept in step with
-- migrations/postgres/0007_client_permissions.sql. Clients registered before this migration
-- called both endpoints and read the feed for any token, so they keep every permission; new
-- clients get only what `tokenauth client add --permission` grants.
ALTER TABLE api_clients ADD COLUMN permissions TEXT NOT NULL DEFAULT '';
UPDATE api_clients SET permissions = 'introspect revoke_any revocations';
