//! Looking a refresh token up without using it (introspection, revocation): a v2 token by its
//! session's primary key, a legacy token by its hash.

use rusqlite::{Connection, OptionalExtension, Row};
use tokenauth_core::refresh_token::PresentedRefreshToken;
use tokenauth_core::session::RefreshTokenStatus;
use tokenauth_core::store::StoreError;

use super::rows::{self, read_error};

/// A v2 token's session, with its live generation.
const BY_ID: &str = "SELECT s.id, s.user_id, s.generation, s.expires_at, s.revoked_at, u.roles \
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1";

/// A legacy token's session, found through the history row of its hash, and whether the token
/// is the session's current one (`IS`: a converted session's current hash is NULL). The history
/// is read through a scalar subquery, not a join on the hash: once `PRAGMA optimize` has left
/// statistics, SQLite re-plans such a join for every new bound value (as the rotation read in
/// rotation.rs explains).
const BY_HASH: &str = "SELECT s.id, s.user_id, s.current_hash IS ?1, s.expires_at, s.revoked_at, \
     u.roles FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE hash = ?1)";

/// The status of `token`, if a session issued it: for a v2 token, only if its generation is
/// at most the session's live one.
pub(super) fn find_refresh_token(
    conn: &Connection,
    token: &PresentedRefreshToken,
) -> Result<Option<RefreshTokenStatus>, StoreError> {
    let found = match token {
        PresentedRefreshToken::Session {
            session_id,
            generation,
        } => conn
            .prepare_cached(BY_ID)
            .and_then(|mut stmt| {
                stmt.query_row([session_id.to_string()], |row| {
                    let live = rows::generation(row, 2)?;
                    Ok((*generation <= live).then_some(status(row, *generation == live)?))
                })
                .optional()
            })
            .map(Option::flatten),
        PresentedRefreshToken::Legacy(hash) => conn
            .prepare_cached(BY_HASH)
            .and_then(|mut stmt| {
                stmt.query_row([hash.as_bytes().as_slice()], |row| {
                    status(row, row.get(2)?).map(Some)
                })
                .optional()
            })
            .map(Option::flatten),
    }
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

/// A status from a row of [`BY_ID`] or [`BY_HASH`], its roles still as stored JSON.
fn status(row: &Row<'_>, current: bool) -> rusqlite::Result<(RefreshTokenStatus, String)> {
    Ok((
        RefreshTokenStatus {
            session_id: rows::parse(row, 0)?,
            user_id: rows::parse(row, 1)?,
            current,
            expires_at: rows::time(row, 3)?,
            revoked_at: rows::maybe_time(row, 4)?,
            roles: Vec::new(),
        },
        row.get(5)?,
    ))
}
