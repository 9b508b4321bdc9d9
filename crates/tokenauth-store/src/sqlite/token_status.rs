//! Looking a refresh token up by hash without using it (introspection, revocation).

use rusqlite::{Connection, OptionalExtension};
use tokenauth_core::refresh_token::RefreshTokenHash;
use tokenauth_core::session::RefreshTokenStatus;
use tokenauth_core::store::StoreError;

use super::rows::{self, read_error};

/// The status of the refresh token with hash `token`, if any session issued it.
pub(super) fn find_refresh_token(
    conn: &Connection,
    token: &RefreshTokenHash,
) -> Result<Option<RefreshTokenStatus>, StoreError> {
    let found = conn
        .prepare_cached(
            // The history row through a scalar subquery, not a join on the hash: once
            // `PRAGMA optimize` has left statistics, SQLite re-plans such a join for every
            // new bound value (as the rotation read in sessions.rs explains).
            "SELECT s.id, s.user_id, s.current_hash = ?1, s.expires_at, s.revoked_at, u.roles \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE hash = ?1)",
        )
        .and_then(|mut stmt| {
            stmt.query_row([token.as_bytes().as_slice()], |row| {
                Ok((
                    RefreshTokenStatus {
                        session_id: rows::parse(row, 0)?,
                        user_id: rows::parse(row, 1)?,
                        current: row.get(2)?,
                        expires_at: rows::time(row, 3)?,
                        revoked_at: rows::maybe_time(row, 4)?,
                        roles: Vec::new(),
                    },
                    row.get::<_, String>(5)?,
                ))
            })
            .optional()
        })
        .map_err(read_error)?;
    found
        .map(|(status, roles)| {
            Ok(RefreshTokenStatus {
                roles: rows::roles(&roles)?,
                ..status
            })
        })
        .transpose()
}
