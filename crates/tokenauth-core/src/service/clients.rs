//! [`Clients`]: the registered API clients as one service, the same whether the CLI calls it
//! (`tokenauth client add|list`, a store and no server) or a running server does
//! ([`AuthService::clients`], to authenticate the callers of the OAuth 2.0 endpoints).

use crate::client::{
    ApiClient, ClientPermissions, ClientSecret, ClientSecretHash, MAX_CREDENTIAL_LEN,
    generate_client_id, validate_client_name,
};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::service::AuthService;
use crate::store::ClientStore;

/// Client registration and authentication over one store, as of one moment.
pub struct Clients<'a> {
    store: &'a dyn ClientStore,
    now: Timestamp,
}

impl<'a> Clients<'a> {
    /// The service over `store`, acting as of `now`.
    pub fn new(store: &'a dyn ClientStore, now: Timestamp) -> Self {
        Self { store, now }
    }

    /// Registers a client named `name` holding `permissions`; returns it with its secret, which
    /// exists in clear only in the returned value (only its hash is stored).
    ///
    /// # Errors
    /// [`AuthError::InvalidInput`] for a bad name; store failures.
    pub async fn register(
        &self,
        name: &str,
        permissions: ClientPermissions,
    ) -> Result<(ApiClient, ClientSecret), AuthError> {
        let name = validate_client_name(name)?;
        let secret = ClientSecret::generate()?;
        let client = ApiClient {
            client_id: generate_client_id()?,
            name,
            secret_hash: secret.hash(),
            created_at: self.now,
            disabled_at: None,
            permissions,
        };
        self.store.insert_client(&client).await?;
        Ok((client, secret))
    }

    /// Every registered client, in order of registration.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list(&self) -> Result<Vec<ApiClient>, AuthError> {
        Ok(self.store.list_clients().await?)
    }

    /// The client whose id and secret these are.
    ///
    /// # Errors
    /// [`AuthError::InvalidClient`] for an unknown id, a wrong secret or a disabled client
    /// (indistinguishable to the caller); store failures.
    pub async fn authenticate(
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

impl AuthService {
    /// The client service over this server's store, as of now.
    pub fn clients(&self) -> Clients<'_> {
        Clients::new(self.store.as_ref(), self.clock.now())
    }
}
