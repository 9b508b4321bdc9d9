//! [`Transfer`] on SQLite: keyset-paginated reads on the reader connections, each imported
//! batch one transaction on the writer.
//!
//! Each read starts after its cursor's key, or after the smallest value of the key's type
//! (`''` for text ids and kids, the empty blob for token hashes), so every page is one range
//! read of the primary-key index.

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, Row, ToSql, Transaction, params};
use tokenauth_core::keys::SigningKeyRecord;
use tokenauth_core::session::RevokeReason;
use tokenauth_core::store::{
    Batch, Cursor, RefreshTokenRow, SessionRow, StoreError, Table, Transfer, UserRow,
};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::clients::{CLIENT_COLUMNS, client_row, insert_client_row};
use super::rows::{self, KEY_COLUMNS, read_error};
use super::{SqliteStore, unavailable};

const USER_EXPORT: &str = "SELECT id, email, password_hash, roles, created_at, updated_at, \
     disabled_at FROM users WHERE id > ?1 ORDER BY id LIMIT ?2";

const SESSION_COLUMNS: &str = "id, user_id, current_hash, previous_hash, generation, rotated_at, \
     created_at, last_used_at, expires_at, revoked_at, revoke_reason, user_agent, ip, \
     absolute_expires_at, access_expires_at";

const TOKEN_EXPORT: &str = "SELECT hash, session_id, generation FROM refresh_tokens \
     WHERE hash > ?1 ORDER BY hash LIMIT ?2";

#[async_trait]
impl Transfer for SqliteStore {
    async fn export_batch(&self, after: &Cursor, limit: u32) -> Result<Batch, StoreError> {
        let after = after.clone();
        self.workers
            .read(move |conn| match after {
                Cursor::Users(after) => {
                    let from = after.map(|id| id.to_string()).unwrap_or_default();
                    let rows = select(conn, USER_EXPORT, &from, limit, user_row)?;
                    rows.into_iter()
                        .map(|(user, roles)| {
                            Ok(UserRow {
                                roles: rows::roles(&roles)?,
                                ..user
                            })
                        })
                        .collect::<Result<_, StoreError>>()
                        .map(Batch::Users)
                }
                Cursor::Sessions(after) => {
                    let from = after.map(|id| id.to_string()).unwrap_or_default();
                    let sql = format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id > ?1 ORDER BY id LIMIT ?2"
                    );
                    select(conn, &sql, &from, limit, session_row).map(Batch::Sessions)
                }
                Cursor::RefreshTokens(after) => {
                    let from = after.map(|h| h.as_bytes().to_vec()).unwrap_or_default();
                    select(conn, TOKEN_EXPORT, &from, limit, token_row).map(Batch::RefreshTokens)
                }
                Cursor::ApiClients(after) => {
                    let from = after.unwrap_or_default();
                    let sql = format!(
                        "SELECT {CLIENT_COLUMNS} FROM api_clients WHERE client_id > ?1 \
                         ORDER BY client_id LIMIT ?2"
                    );
                    select(conn, &sql, &from, limit, client_row).map(Batch::ApiClients)
                }
                Cursor::SigningKeys(after) => {
                    let from = after.unwrap_or_default();
                    let sql = format!(
                        "SELECT {KEY_COLUMNS} FROM signing_keys WHERE kid > ?1 ORDER BY kid LIMIT ?2"
                    );
                    select(conn, &sql, &from, limit, rows::signing_key).map(Batch::SigningKeys)
                }
            })
            .await
    }

    async fn import_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        let batch = batch.clone();
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                match &batch {
                    Batch::Users(users) => users.iter().try_for_each(|u| insert_user(&tx, u)),
                    Batch::Sessions(sessions) => {
                        sessions.iter().try_for_each(|s| insert_session(&tx, s))
                    }
                    Batch::RefreshTokens(tokens) => {
                        tokens.iter().try_for_each(|t| insert_token(&tx, t))
                    }
                    Batch::SigningKeys(keys) => keys.iter().try_for_each(|k| insert_key(&tx, k)),
                    Batch::ApiClients(clients) => clients
                        .iter()
                        .try_for_each(|c| conflict_or_unavailable(insert_client_row(&tx, c))),
                }?;
                tx.commit().map_err(unavailable)
            })
            .await
    }

    async fn count_rows(&self, table: Table) -> Result<u64, StoreError> {
        self.workers
            .read(move |conn| {
                // The name comes from the closed set of tables, never from input.
                let sql = format!("SELECT COUNT(*) FROM {}", table.name());
                let count: i64 = conn
                    .query_row(&sql, [], |row| row.get(0))
                    .map_err(read_error)?;
                u64::try_from(count).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .await
    }
}

/// Runs a page query (`?1` = the key to start after, `?2` = the limit) and maps its rows.
fn select<K: ToSql, T>(
    conn: &Connection,
    sql: &str,
    after: &K,
    limit: u32,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(read_error)?;
    stmt.query_map(params![after, limit], map)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)
}

/// A user row, with its roles still as stored JSON.
fn user_row(row: &Row<'_>) -> rusqlite::Result<(UserRow, String)> {
    Ok((
        UserRow {
            id: rows::parse::<UserId>(row, 0)?,
            email: row.get(1)?,
            password_hash: row.get(2)?,
            roles: Vec::new(),
            created_at: rows::time(row, 4)?,
            updated_at: rows::time(row, 5)?,
            disabled_at: rows::maybe_time(row, 6)?,
        },
        row.get(3)?,
    ))
}

fn session_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    let reason: Option<String> = row.get(10)?;
    Ok(SessionRow {
        id: rows::parse::<SessionId>(row, 0)?,
        user_id: rows::parse::<UserId>(row, 1)?,
        current_hash: rows::maybe_token_hash(row, 2)?,
        previous_hash: rows::maybe_token_hash(row, 3)?,
        generation: row.get(4)?,
        rotated_at: rows::maybe_time(row, 5)?,
        created_at: rows::time(row, 6)?,
        last_used_at: rows::time(row, 7)?,
        expires_at: rows::time(row, 8)?,
        absolute_expires_at: rows::time(row, 13)?,
        access_expires_at: rows::time(row, 14)?,
        revoked_at: rows::maybe_time(row, 9)?,
        revoke_reason: reason
            .map(|r| r.parse::<RevokeReason>())
            .transpose()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(10, Type::Text, e.into()))?,
        user_agent: row.get(11)?,
        ip: row.get(12)?,
    })
}

fn token_row(row: &Row<'_>) -> rusqlite::Result<RefreshTokenRow> {
    Ok(RefreshTokenRow {
        hash: rows::token_hash(row, 0)?,
        session_id: rows::parse::<SessionId>(row, 1)?,
        generation: row.get(2)?,
    })
}

fn insert_user(tx: &Transaction<'_>, user: &UserRow) -> Result<(), StoreError> {
    let roles =
        serde_json::to_string(&user.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    execute(
        tx,
        "INSERT INTO users (id, email, password_hash, roles, created_at, updated_at, disabled_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            user.id.to_string(),
            user.email,
            user.password_hash,
            roles,
            user.created_at.as_millis(),
            user.updated_at.as_millis(),
            user.disabled_at.map(Timestamp::as_millis),
        ],
    )
}

fn insert_session(tx: &Transaction<'_>, s: &SessionRow) -> Result<(), StoreError> {
    execute(
        tx,
        &format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ),
        params![
            s.id.to_string(),
            s.user_id.to_string(),
            s.current_hash.as_ref().map(|h| h.as_bytes().as_slice()),
            s.previous_hash.as_ref().map(|h| h.as_bytes().as_slice()),
            s.generation,
            s.rotated_at.map(Timestamp::as_millis),
            s.created_at.as_millis(),
            s.last_used_at.as_millis(),
            s.expires_at.as_millis(),
            s.revoked_at.map(Timestamp::as_millis),
            s.revoke_reason.map(RevokeReason::as_str),
            s.user_agent,
            s.ip,
            s.absolute_expires_at.as_millis(),
            s.access_expires_at.as_millis(),
        ],
    )
}

fn insert_token(tx: &Transaction<'_>, token: &RefreshTokenRow) -> Result<(), StoreError> {
    execute(
        tx,
        "INSERT INTO refresh_tokens (hash, session_id, generation) VALUES (?1, ?2, ?3)",
        params![
            token.hash.as_bytes().as_slice(),
            token.session_id.to_string(),
            token.generation,
        ],
    )
}

fn insert_key(tx: &Transaction<'_>, key: &SigningKeyRecord) -> Result<(), StoreError> {
    conflict_or_unavailable(super::keys::insert_key_row(tx, key).map(drop))
}

/// Runs one cached insert; a unique or primary-key violation becomes [`StoreError::Conflict`].
fn execute(tx: &Transaction<'_>, sql: &str, params: &[&dyn ToSql]) -> Result<(), StoreError> {
    conflict_or_unavailable(
        tx.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .map(drop),
    )
}

/// Maps a unique or primary-key violation to [`StoreError::Conflict`].
fn conflict_or_unavailable(result: rusqlite::Result<()>) -> Result<(), StoreError> {
    match result {
        Ok(()) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Err(StoreError::Conflict("the row is already stored"))
        }
        Err(error) => Err(unavailable(error)),
    }
}
