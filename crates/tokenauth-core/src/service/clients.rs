//! Registered API clients: registration (the CLI), listing, and authentication of the callers
//! of the OAuth 2.0 endpoints.

use crate::client::{
    ApiClient, ClientPermissions, ClientSecret, ClientSecretHash, MAX_CREDENTIAL_LEN,
    generate_client_id, validate_client_name,
};
use crate::error::AuthError;
use crate::service::AuthService;
use crate::store::ClientStore;

/// Registers a client named `name` holding `permissions` in `store`; returns it with its secret, which exists in
/// clear only in the returned value (only its hash is stored). For the CLI, which has a store
/// but no running service.
///
/// # Errors
/// [`AuthError::InvalidInput`] for a bad name; store failures.
pub async fn register_client(
    store: &dyn ClientStore,
    name: &str,
    permissions: ClientPermissions,
    now: crate::Timestamp,
) -> Result<(ApiClient, ClientSecret), AuthError> {
    let name = validate_client_name(name)?;
    let secret = ClientSecret::generate()?;
    let client = ApiClient {
        client_id: generate_client_id()?,
        name,
        secret_hash: secret.hash(),
        created_at: now,
        disabled_at: None,
        permissions,
    };
    store.insert_client(&client).await?;
    Ok((client, secret))
}

impl AuthService {
    /// Registers a new API client; see [`register_client`].
    ///
    /// # Errors
    /// [`AuthError::InvalidInput`] for a bad name; store failures.
    pub async fn register_client(
        &self,
        name: &str,
        permissions: ClientPermissions,
    ) -> Result<(ApiClient, ClientSecret), AuthError> {
        register_client(self.store.as_ref(), name, permissions, self.clock.now()).await
    }

    /// The client whose id and secret these are.
    ///
    /// # Errors
    /// [`AuthError::InvalidClient`] for an unknown id, a wrong secret or a disabled client
    /// (indistinguishable to the caller); store failures.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<ApiClient, AuthError> {
        if client_id.is_empty()
            || client_id.len() > MAX_CREDENTIAL_LEN
            || secret.len() > MAX_CREDENTIAL_LEN
        {
            return Err(AuthError::InvalidClient);
        }
        match self.store.find_client(client_id).await? {
            Some(client) if client.accepts(secret) => Ok(client),
            Some(_) => Err(AuthError::InvalidClient),
            None => {
                // Hash anyway, so an unknown id costs about what a wrong secret does.
                let _ = ClientSecretHash::of(secret);
                Err(AuthError::InvalidClient)
            }
        }
    }
}
