//! What the domain services can fail with. No HTTP here: the server maps each kind to a status.

use crate::store_error::StoreError;

/// A failure of a domain service, as a caller should see it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Unknown email or wrong password; deliberately the same error for both.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The credentials are right but the account has been disabled by an operator. Only ever
    /// answered to a caller who proved the password, so it reveals nothing to anyone else.
    #[error("this account has been disabled")]
    AccountDisabled,
    /// Sign-up with an email that already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// A field of the request is not acceptable.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The field that was rejected.
        field: &'static str,
        /// Why, in words a client developer can act on.
        reason: String,
    },
    /// A token is malformed, unknown, forged or otherwise unusable.
    #[error("the token is invalid")]
    InvalidToken,
    /// A token was valid once but has expired.
    #[error("the token has expired")]
    TokenExpired,
    /// A rotated refresh token was presented again outside the grace window; the session has
    /// been revoked.
    #[error("refresh token reuse detected; the session has been revoked")]
    RefreshTokenReused,
    /// The token belongs to a session that has been revoked.
    #[error("the session has been revoked")]
    SessionRevoked,
    /// The thing asked for does not exist (or is not the caller's to see).
    #[error("not found")]
    NotFound,
    /// An API client failed to authenticate: unknown id, wrong secret, or disabled. The same
    /// error for each, so a caller learns nothing about which.
    #[error("client authentication failed")]
    InvalidClient,
    /// Too many attempts: the email is locked out after repeated failed logins, or the client
    /// sent more requests than its rate allows. The same error for both, so it reveals nothing
    /// about which emails exist.
    #[error("too many attempts; retry in {} s", retry_after_secs(*retry_after))]
    RateLimited {
        /// How long until an attempt can succeed again.
        retry_after: std::time::Duration,
    },
    /// Too much work is queued (password hashing); try again shortly.
    #[error("the server is busy; retry shortly")]
    Overloaded,
    /// The database cannot be reached or failed; nothing was changed, and a retry may succeed.
    /// The detail is for the logs, never for the client.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// An internal failure; the detail is for the logs, never for the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => AuthError::Unavailable(detail),
            other => AuthError::Internal(other.to_string()),
        }
    }
}

/// `retry_after` in whole seconds, rounded up, at least 1: what `Retry-After` carries.
pub fn retry_after_secs(retry_after: std::time::Duration) -> u64 {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    secs.max(1)
}
