//! [`ClientStore`] on SQLite, and the row mapping the transfer shares.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tokenauth_core::client::{ApiClient, ClientPermissions, ClientSecretHash};
use tokenauth_core::store::{ClientStore, StoreError};

use super::rows::{self, read_error};
use super::{SqliteStore, is_constraint_violation, unavailable};

/// Columns read by [`client_row`], in its order.
pub(super) const CLIENT_COLUMNS: &str =
    "client_id, name, secret_hash, created_at, disabled_at, permissions";

/// A client from a row selected with [`CLIENT_COLUMNS`].
pub(super) fn client_row(row: &Row<'_>) -> rusqlite::Result<ApiClient> {
    let hash: Vec<u8> = row.get(2)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Blob,
            "client secret hash is not 32 bytes".into(),
        )
    })?;
    let permissions: String = row.get(5)?;
    let permissions = ClientPermissions::from_names(&permissions).map_err(|name| {
        rusqlite::Error::FromSqlConversionFailure(
            5,
            rusqlite::types::Type::Text,
            format!("unknown client permission {name:?}").into(),
        )
    })?;
    Ok(ApiClient {
        client_id: row.get(0)?,
        name: row.get(1)?,
        secret_hash: ClientSecretHash::from_bytes(hash),
        created_at: rows::time(row, 3)?,
        disabled_at: rows::maybe_time(row, 4)?,
        permissions,
    })
}

/// Inserts one client row as given.
pub(super) fn insert_client_row(conn: &Connection, client: &ApiClient) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO api_clients ({CLIENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?
    .execute(params![
        client.client_id,
        client.name,
        client.secret_hash.as_bytes().as_slice(),
        client.created_at.as_millis(),
        client.disabled_at.map(tokenauth_core::Timestamp::as_millis),
        client.permissions.to_names(),
    ])
    .map(drop)
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, client: &ApiClient) -> Result<(), StoreError> {
        let client = client.clone();
        self.workers
            .write(move |conn| match insert_client_row(conn, &client) {
                Ok(()) => Ok(()),
                Err(error) if is_constraint_violation(&error) => {
                    Err(StoreError::Conflict("client id already registered"))
                }
                Err(error) => Err(unavailable(error)),
            })
            .await
    }

    async fn find_client(&self, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
        let client_id = client_id.to_owned();
        self.workers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM api_clients WHERE client_id = ?1"
                ))
                .and_then(|mut stmt| stmt.query_row([client_id], client_row).optional())
                .map_err(read_error)
            })
            .await
    }

    async fn list_clients(&self) -> Result<Vec<ApiClient>, StoreError> {
        self.workers
            .read(|conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {CLIENT_COLUMNS} FROM api_clients ORDER BY created_at, client_id"
                    ))
                    .map_err(read_error)?;
                stmt.query_map([], client_row)
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)
            })
            .await
    }
}
