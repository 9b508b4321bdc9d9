//! What every handler shares.

use std::sync::Arc;

use tokenauth_core::service::AuthService;
use tokenauth_core::store::Store;

/// The application state handed to handlers (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The domain services.
    pub auth: Arc<AuthService>,
    /// The database (readiness checks, shutdown, tests).
    pub store: Arc<dyn Store>,
    /// `max-age` of the JWKS document, in seconds.
    pub jwks_max_age_secs: u64,
}
