//! [`Transfer`] on PostgreSQL: keyset-paginated reads, and each imported batch one transaction
//! holding a single `INSERT … SELECT FROM UNNEST(…)` per table, so a batch of a thousand rows
//! is one round trip rather than a thousand.

use async_trait::async_trait;
use tokenauth_core::Timestamp;
use tokenauth_core::keys::SigningKeyRecord;
use tokenauth_core::session::RevokeReason;
use tokenauth_core::store::{
    Batch, Cursor, RefreshTokenRow, SessionRow, StoreError, Table, Transfer, UserRow,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::clients::{CLIENT_COLUMNS, client_row, import_clients};
use super::rows::{self, KEY_COLUMNS, corrupt, get};
use super::{PostgresStore, is_unique_violation, unavailable};

const USER_COLUMNS: &str = "id, email, password_hash, roles, created_at, updated_at, disabled_at";

const SESSION_COLUMNS: &str = "id, user_id, current_hash, previous_hash, generation, rotated_at, \
     created_at, last_used_at, expires_at, revoked_at, revoke_reason, user_agent, ip, \
     absolute_expires_at, access_expires_at";

/// Roles travel as one text array literal per user (`UNNEST` would flatten an array of arrays)
/// and are cast back to `text[]`.
const USER_IMPORT: &str = "INSERT INTO users (id, email, password_hash, roles, created_at, \
     updated_at, disabled_at) SELECT id, email, password_hash, \
     roles::text[], created_at, updated_at, disabled_at \
     FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], \
     $7::int8[]) AS u(id, email, password_hash, roles, created_at, updated_at, disabled_at)";

const SESSION_IMPORT: &str = "INSERT INTO sessions (id, user_id, current_hash, previous_hash, \
     generation, rotated_at, created_at, last_used_at, expires_at, revoked_at, revoke_reason, \
     user_agent, ip, absolute_expires_at, access_expires_at) SELECT * FROM UNNEST($1::uuid[], \
     $2::uuid[], $3::bytea[], $4::bytea[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], \
     $9::int8[], $10::int8[], $11::text[], $12::text[], $13::text[], $14::int8[], $15::int8[])";

const TOKEN_IMPORT: &str = "INSERT INTO refresh_tokens (hash, session_id, generation) \
     SELECT * FROM UNNEST($1::bytea[], $2::uuid[], $3::int8[])";

const KEY_IMPORT: &str = "INSERT INTO signing_keys (kid, alg, state, sealed_material, \
     public_jwk, created_at, activate_at, activated_at, retired_at, publish_until) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], \
     $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])";

#[async_trait]
impl Transfer for PostgresStore {
    async fn export_batch(&self, after: &Cursor, limit: u32) -> Result<Batch, StoreError> {
        let limit = i64::from(limit);
        match after {
            Cursor::Users(after) => {
                let after = after.map(|id| id.as_uuid());
                let rows = self.page("users", USER_COLUMNS, "id", after, limit).await?;
                rows.iter()
                    .map(user_row)
                    .collect::<Result<_, _>>()
                    .map(Batch::Users)
            }
            Cursor::Sessions(after) => {
                let after = after.map(|id| id.as_uuid());
                let rows = self
                    .page("sessions", SESSION_COLUMNS, "id", after, limit)
                    .await?;
                rows.iter()
                    .map(session_row)
                    .collect::<Result<_, _>>()
                    .map(Batch::Sessions)
            }
            Cursor::RefreshTokens(after) => {
                let after = after.map(|hash| hash.as_bytes().to_vec());
                let columns = "hash, session_id, generation";
                let rows = self
                    .page("refresh_tokens", columns, "hash", after, limit)
                    .await?;
                rows.iter()
                    .map(token_row)
                    .collect::<Result<_, _>>()
                    .map(Batch::RefreshTokens)
            }
            Cursor::ApiClients(after) => {
                let rows = self
                    .page(
                        "api_clients",
                        CLIENT_COLUMNS,
                        "client_id",
                        after.clone(),
                        limit,
                    )
                    .await?;
                rows.iter()
                    .map(client_row)
                    .collect::<Result<_, _>>()
                    .map(Batch::ApiClients)
            }
            Cursor::SigningKeys(after) => {
                let rows = self
                    .page("signing_keys", KEY_COLUMNS, "kid", after.clone(), limit)
                    .await?;
                rows.iter()
                    .map(rows::signing_key)
                    .collect::<Result<_, _>>()
                    .map(Batch::SigningKeys)
            }
        }
    }

    async fn import_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        match batch {
            Batch::Users(users) => import_users(&tx, users).await,
            Batch::Sessions(sessions) => import_sessions(&tx, sessions).await,
            Batch::RefreshTokens(tokens) => import_tokens(&tx, tokens).await,
            Batch::SigningKeys(keys) => import_keys(&tx, keys).await,
            Batch::ApiClients(clients) => import_clients(&tx, clients).await,
        }
        .map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::Conflict("the row is already stored")
            } else {
                unavailable(error)
            }
        })?;
        tx.commit().await.map_err(unavailable)
    }

    async fn count_rows(&self, table: Table) -> Result<u64, StoreError> {
        let client = self.client().await?;
        // The name comes from the closed set of tables, never from input.
        let row = client
            .query_one(&format!("SELECT COUNT(*) FROM {}", table.name()), &[])
            .await
            .map_err(unavailable)?;
        u64::try_from(get::<i64>(&row, "count")?).map_err(corrupt)
    }
}

impl PostgresStore {
    /// Up to `limit` rows of `table` ordered by `key`, after `after` when given.
    async fn page<K: ToSql + Sync>(
        &self,
        table: &str,
        columns: &str,
        key: &str,
        after: Option<K>,
        limit: i64,
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let rows = match after {
            Some(after) => {
                let sql = format!(
                    "SELECT {columns} FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT $2"
                );
                client.query(&sql, &[&after, &limit]).await
            }
            None => {
                let sql = format!("SELECT {columns} FROM {table} ORDER BY {key} LIMIT $1");
                client.query(&sql, &[&limit]).await
            }
        };
        rows.map_err(unavailable)
    }
}

fn user_row(row: &Row) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: rows::user_id(row, "id")?,
        email: get(row, "email")?,
        password_hash: get(row, "password_hash")?,
        roles: get(row, "roles")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
        disabled_at: rows::maybe_time(row, "disabled_at")?,
    })
}

fn session_row(row: &Row) -> Result<SessionRow, StoreError> {
    let reason: Option<String> = get(row, "revoke_reason")?;
    Ok(SessionRow {
        id: rows::session_id(row, "id")?,
        user_id: rows::user_id(row, "user_id")?,
        current_hash: get::<Option<Vec<u8>>>(row, "current_hash")?
            .map(rows::token_hash)
            .transpose()?,
        previous_hash: get::<Option<Vec<u8>>>(row, "previous_hash")?
            .map(rows::token_hash)
            .transpose()?,
        generation: get(row, "generation")?,
        rotated_at: rows::maybe_time(row, "rotated_at")?,
        created_at: rows::time(row, "created_at")?,
        last_used_at: rows::time(row, "last_used_at")?,
        expires_at: rows::time(row, "expires_at")?,
        absolute_expires_at: rows::time(row, "absolute_expires_at")?,
        access_expires_at: rows::time(row, "access_expires_at")?,
        revoked_at: rows::maybe_time(row, "revoked_at")?,
        revoke_reason: reason
            .map(|r| r.parse::<RevokeReason>())
            .transpose()
            .map_err(corrupt)?,
        user_agent: get(row, "user_agent")?,
        ip: get(row, "ip")?,
    })
}

fn token_row(row: &Row) -> Result<RefreshTokenRow, StoreError> {
    Ok(RefreshTokenRow {
        hash: rows::token_hash(get(row, "hash")?)?,
        session_id: rows::session_id(row, "session_id")?,
        generation: get(row, "generation")?,
    })
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;
type Inserted = Result<u64, tokio_postgres::Error>;

fn millis(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::as_millis)
}

async fn import_users(tx: &Tx<'_>, users: &[UserRow]) -> Inserted {
    let roles: Vec<String> = users.iter().map(|u| array_literal(&u.roles)).collect();
    let params: [&(dyn ToSql + Sync); 7] = [
        &users.iter().map(|u| u.id.as_uuid()).collect::<Vec<Uuid>>(),
        &users.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        &users
            .iter()
            .map(|u| u.password_hash.as_str())
            .collect::<Vec<_>>(),
        &roles,
        &users
            .iter()
            .map(|u| u.created_at.as_millis())
            .collect::<Vec<_>>(),
        &users
            .iter()
            .map(|u| u.updated_at.as_millis())
            .collect::<Vec<_>>(),
        &users
            .iter()
            .map(|u| millis(u.disabled_at))
            .collect::<Vec<_>>(),
    ];
    tx.execute(USER_IMPORT, &params).await
}

async fn import_sessions(tx: &Tx<'_>, sessions: &[SessionRow]) -> Inserted {
    let uuids = |f: fn(&SessionRow) -> Uuid| sessions.iter().map(f).collect::<Vec<_>>();
    let times = |f: fn(&SessionRow) -> Option<Timestamp>| {
        sessions.iter().map(|s| millis(f(s))).collect::<Vec<_>>()
    };
    let texts = |f: fn(&SessionRow) -> Option<&str>| sessions.iter().map(f).collect::<Vec<_>>();
    let params: [&(dyn ToSql + Sync); 15] = [
        &uuids(|s| s.id.as_uuid()),
        &uuids(|s| s.user_id.as_uuid()),
        &sessions
            .iter()
            .map(|s| s.current_hash.as_ref().map(|h| h.as_bytes().as_slice()))
            .collect::<Vec<_>>(),
        &sessions
            .iter()
            .map(|s| s.previous_hash.as_ref().map(|h| h.as_bytes().as_slice()))
            .collect::<Vec<_>>(),
        &sessions.iter().map(|s| s.generation).collect::<Vec<_>>(),
        &times(|s| s.rotated_at),
        &times(|s| Some(s.created_at)),
        &times(|s| Some(s.last_used_at)),
        &times(|s| Some(s.expires_at)),
        &times(|s| s.revoked_at),
        &texts(|s| s.revoke_reason.map(RevokeReason::as_str)),
        &texts(|s| s.user_agent.as_deref()),
        &texts(|s| s.ip.as_deref()),
        &times(|s| Some(s.absolute_expires_at)),
        &times(|s| Some(s.access_expires_at)),
    ];
    tx.execute(SESSION_IMPORT, &params).await
}

async fn import_tokens(tx: &Tx<'_>, tokens: &[RefreshTokenRow]) -> Inserted {
    let params: [&(dyn ToSql + Sync); 3] = [
        &tokens
            .iter()
            .map(|t| t.hash.as_bytes().as_slice())
            .collect::<Vec<_>>(),
        &tokens
            .iter()
            .map(|t| t.session_id.as_uuid())
            .collect::<Vec<Uuid>>(),
        &tokens.iter().map(|t| t.generation).collect::<Vec<_>>(),
    ];
    tx.execute(TOKEN_IMPORT, &params).await
}

async fn import_keys(tx: &Tx<'_>, keys: &[SigningKeyRecord]) -> Inserted {
    let times = |f: fn(&SigningKeyRecord) -> Option<Timestamp>| {
        keys.iter().map(|k| millis(f(k))).collect::<Vec<_>>()
    };
    let params: [&(dyn ToSql + Sync); 10] = [
        &keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        &keys.iter().map(|k| k.alg.to_string()).collect::<Vec<_>>(),
        &keys.iter().map(|k| k.state.as_str()).collect::<Vec<_>>(),
        &keys
            .iter()
            .map(|k| k.sealed_material.as_slice())
            .collect::<Vec<_>>(),
        &keys
            .iter()
            .map(|k| k.public_jwk.as_deref())
            .collect::<Vec<_>>(),
        &times(|k| Some(k.created_at)),
        &times(|k| Some(k.activate_at)),
        &times(|k| k.activated_at),
        &times(|k| k.retired_at),
        &times(|k| k.publish_until),
    ];
    tx.execute(KEY_IMPORT, &params).await
}

/// `items` as a PostgreSQL array literal (`{"a","b\"c"}` for `a` and `b"c`): every element
/// quoted, with `"` and `\` escaped by a backslash, so any text round-trips.
fn array_literal(items: &[String]) -> String {
    let mut literal = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            literal.push(',');
        }
        literal.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                literal.push('\\');
            }
            literal.push(c);
        }
        literal.push('"');
    }
    literal.push('}');
    literal
}
