//! Looking a refresh token up without using it (introspection, revocation): a v2 token by its
//! session's primary key, a legacy token by its hash.

use tokenauth_core::refresh_token::PresentedRefreshToken;
use tokenauth_core::session::RefreshTokenStatus;
use tokenauth_core::store::StoreError;
use tokio_postgres::Row;

use super::rows::{self, get};
use super::{PostgresStore, unavailable};

/// A v2 token's session, with its live generation.
const BY_ID: &str = "SELECT s.id, s.user_id, s.generation, s.expires_at, s.revoked_at, u.roles \
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1";

/// A legacy token's session, found through the history row of its hash, and whether the token
/// is the session's current one (a converted session's current hash is NULL: not it).
const BY_HASH: &str = "SELECT s.id, s.user_id, \
     s.current_hash IS NOT DISTINCT FROM t.hash AS current, s.expires_at, s.revoked_at, \
     u.roles FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
     JOIN users u ON u.id = s.user_id WHERE t.hash = $1";

impl PostgresStore {
    /// The status of `token`, if a session issued it: for a v2 token, only if its generation
    /// is at most the session's live one.
    pub(super) async fn refresh_token_status(
        &self,
        token: &PresentedRefreshToken,
    ) -> Result<Option<RefreshTokenStatus>, StoreError> {
        let client = self.client().await?;
        let found = match token {
            PresentedRefreshToken::Session { session_id, .. } => {
                let statement = client.prepare_cached(BY_ID).await.map_err(unavailable)?;
                client.query_opt(&statement, &[&session_id.as_uuid()]).await
            }
            PresentedRefreshToken::Legacy(hash) => {
                let statement = client.prepare_cached(BY_HASH).await.map_err(unavailable)?;
                client
                    .query_opt(&statement, &[&hash.as_bytes().as_slice()])
                    .await
            }
        }
        .map_err(unavailable)?;
        let Some(row) = found else {
            return Ok(None);
        };
        let current = match token {
            PresentedRefreshToken::Session { generation, .. } => {
                let live = rows::generation(&row, "generation")?;
                if *generation > live {
                    return Ok(None);
                }
                *generation == live
            }
            PresentedRefreshToken::Legacy(_) => get(&row, "current")?,
        };
        status(&row, current).map(Some)
    }
}

/// A status from a row of [`BY_ID`] or [`BY_HASH`].
fn status(row: &Row, current: bool) -> Result<RefreshTokenStatus, StoreError> {
    Ok(RefreshTokenStatus {
        session_id: rows::session_id(row, "id")?,
        user_id: rows::user_id(row, "user_id")?,
        current,
        expires_at: rows::time(row, "expires_at")?,
        revoked_at: rows::maybe_time(row, "revoked_at")?,
        roles: get(row, "roles")?,
    })
}
