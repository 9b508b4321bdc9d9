//! What every handler shares.

use std::sync::Arc;

use tokenauth_core::service::AuthService;
use tokenauth_store::SqliteStore;

/// The application state handed to handlers (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The domain services.
    pub auth: Arc<AuthService>,
    /// The database, for readiness checks.
    pub store: Arc<SqliteStore>,
    /// `max-age` of the JWKS document, in seconds.
    pub jwks_max_age_secs: u64,
}
