//! [`ClientStore`] on PostgreSQL, and the row mapping and bulk import the transfer shares.

use async_trait::async_trait;
use tokenauth_core::Timestamp;
use tokenauth_core::client::{ApiClient, ClientPermissions, ClientSecretHash};
use tokenauth_core::store::{ClientStore, StoreError};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::rows::{self, get};
use super::{PostgresStore, is_unique_violation, unavailable};

/// Columns read by [`client_row`].
pub(super) const CLIENT_COLUMNS: &str =
    "client_id, name, secret_hash, created_at, disabled_at, permissions";

const CLIENT_IMPORT: &str = "INSERT INTO api_clients (client_id, name, secret_hash, created_at, \
     disabled_at, permissions) SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], \
     $4::int8[], $5::int8[], $6::text[])";

/// A client from a row selected with [`CLIENT_COLUMNS`].
pub(super) fn client_row(row: &Row) -> Result<ApiClient, StoreError> {
    let hash: [u8; 32] = get::<Vec<u8>>(row, "secret_hash")?
        .try_into()
        .map_err(|_| StoreError::Corrupt("client secret hash is not 32 bytes".into()))?;
    let permissions = ClientPermissions::from_names(&get::<String>(row, "permissions")?)
        .map_err(|name| StoreError::Corrupt(format!("unknown client permission {name:?}")))?;
    Ok(ApiClient {
        client_id: get(row, "client_id")?,
        name: get(row, "name")?,
        secret_hash: ClientSecretHash::from_bytes(hash),
        created_at: rows::time(row, "created_at")?,
        disabled_at: rows::maybe_time(row, "disabled_at")?,
        permissions,
    })
}

/// Inserts `clients` unchanged, in one statement.
pub(super) async fn import_clients(
    tx: &deadpool_postgres::Transaction<'_>,
    clients: &[ApiClient],
) -> Result<u64, tokio_postgres::Error> {
    let params: [&(dyn ToSql + Sync); 6] = [
        &clients
            .iter()
            .map(|c| c.client_id.as_str())
            .collect::<Vec<_>>(),
        &clients.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        &clients
            .iter()
            .map(|c| c.secret_hash.as_bytes().as_slice())
            .collect::<Vec<_>>(),
        &clients
            .iter()
            .map(|c| c.created_at.as_millis())
            .collect::<Vec<_>>(),
        &clients
            .iter()
            .map(|c| c.disabled_at.map(Timestamp::as_millis))
            .collect::<Vec<_>>(),
        &clients
            .iter()
            .map(|c| c.permissions.to_names())
            .collect::<Vec<_>>(),
    ];
    tx.execute(CLIENT_IMPORT, &params).await
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn insert_client(&self, client: &ApiClient) -> Result<(), StoreError> {
        let db = self.client().await?;
        let inserted = db
            .execute(
                &format!(
                    "INSERT INTO api_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                ),
                &[
                    &client.client_id,
                    &client.name,
                    &client.secret_hash.as_bytes().as_slice(),
                    &client.created_at.as_millis(),
                    &client.disabled_at.map(Timestamp::as_millis),
                    &client.permissions.to_names(),
                ],
            )
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(error) if is_unique_violation(&error) => {
                Err(StoreError::Conflict("client id already registered"))
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn find_client(&self, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
        let db = self.client().await?;
        let statement = db
            .prepare_cached(&format!(
                "SELECT {CLIENT_COLUMNS} FROM api_clients WHERE client_id = $1"
            ))
            .await
            .map_err(unavailable)?;
        db.query_opt(&statement, &[&client_id])
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(client_row)
            .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<ApiClient>, StoreError> {
        let db = self.client().await?;
        db.query(
            &format!("SELECT {CLIENT_COLUMNS} FROM api_clients ORDER BY created_at, client_id"),
            &[],
        )
        .await
        .map_err(unavailable)?
        .iter()
        .map(client_row)
        .collect()
    }
}
