-- The revocation feed also carries key withdrawals: a row names either a revoked session or a
-- withdrawn signing key (`kid`), never both. Kept in step with
-- migrations/sqlite/0010_key_withdrawal_feed.sql.
ALTER TABLE revocations ALTER COLUMN session_id DROP NOT NULL;
ALTER TABLE revocations ADD COLUMN kid TEXT;
ALTER TABLE revocations ADD CONSTRAINT revocations_one_subject
    CHECK ((session_id IS NULL) <> (kid IS NULL));
