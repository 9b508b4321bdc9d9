//! Looking a refresh token up by hash without using it (introspection, revocation).

use tokenauth_core::refresh_token::RefreshTokenHash;
use tokenauth_core::session::RefreshTokenStatus;
use tokenauth_core::store::StoreError;

use super::rows::{self, get};
use super::{PostgresStore, unavailable};

impl PostgresStore {
    /// The status of the refresh token with hash `token`, if any session issued it.
    pub(super) async fn refresh_token_status(
        &self,
        token: &RefreshTokenHash,
    ) -> Result<Option<RefreshTokenStatus>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT s.id, s.user_id, s.current_hash = t.hash AS current, s.expires_at, \
                 s.revoked_at, u.roles FROM refresh_tokens t \
                 JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
                 WHERE t.hash = $1",
            )
            .await
            .map_err(unavailable)?;
        let Some(row) = client
            .query_opt(&statement, &[&token.as_bytes().as_slice()])
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        Ok(Some(RefreshTokenStatus {
            session_id: rows::session_id(&row, "id")?,
            user_id: rows::user_id(&row, "user_id")?,
            current: get(&row, "current")?,
            expires_at: rows::time(&row, "expires_at")?,
            revoked_at: rows::maybe_time(&row, "revoked_at")?,
            roles: get(&row, "roles")?,
        }))
    }
}
