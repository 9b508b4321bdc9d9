//! [`KeyStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokenauth_core::Timestamp;
use tokenauth_core::keys::{KeyPolicy, KeyState, KeyWithdrawal, SigningKeyRecord};
use tokenauth_core::store::{KeyStore, StoreError};

use crate::key_policy;

use super::rows::{self, KEY_COLUMNS, read_error};
use super::{SqliteStore, is_constraint_violation, revocations, unavailable};

#[async_trait]
impl KeyStore for SqliteStore {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        // Read on the writer so that a caller that just changed keys sees its own change even
        // with readers lagging; key reads are rare.
        self.workers
            .write(|conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"
                    ))
                    .map_err(read_error)?;
                let keys = stmt
                    .query_map([], rows::signing_key)
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                Ok(keys)
            })
            .await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let key = key.clone();
        self.workers
            .write(move |conn| {
                let inserted = insert_key_row(conn, &key);
                match inserted {
                    Ok(_) => Ok(()),
                    Err(error) if is_constraint_violation(&error) => {
                        Err(StoreError::Conflict("a key in that state already exists"))
                    }
                    Err(error) => Err(unavailable(error)),
                }
            })
            .await
    }

    async fn promote_signing_key(
        &self,
        next_kid: &str,
        now: Timestamp,
        retired_publish_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let next_kid = next_kid.to_owned();
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let still_next: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM signing_keys WHERE kid = ?1 AND state = 'next')",
                        [&next_kid],
                        |row| row.get(0),
                    )
                    .map_err(unavailable)?;
                if !still_next {
                    return Ok(false);
                }
                tx.execute(
                    "UPDATE signing_keys SET state = 'retired', retired_at = ?1, publish_until = ?2 \
                     WHERE state = 'active'",
                    params![now.as_millis(), retired_publish_until.as_millis()],
                )
                .map_err(unavailable)?;
                tx.execute(
                    "UPDATE signing_keys SET state = 'active', activated_at = ?2 WHERE kid = ?1",
                    params![next_kid, now.as_millis()],
                )
                .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                Ok(true)
            })
            .await
    }

    async fn delete_expired_signing_keys(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.workers
            .write(move |conn| {
                let deleted = conn
                    .execute(
                        "DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= ?1",
                        [now.as_millis()],
                    )
                    .map_err(unavailable)?;
                Ok(u64::try_from(deleted).unwrap_or(0))
            })
            .await
    }

    async fn withdraw_signing_key(
        &self,
        kid: &str,
        now: Timestamp,
    ) -> Result<KeyWithdrawal, StoreError> {
        let kid = kid.to_owned();
        self.workers
            .write(move |conn| {
                // One writer: nothing can promote the key between the check and the delete.
                let tx = conn.transaction().map_err(unavailable)?;
                let state: Option<String> = tx
                    .query_row(
                        "SELECT state FROM signing_keys WHERE kid = ?1",
                        [&kid],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(read_error)?;
                let Some(state) = state else {
                    return Ok(KeyWithdrawal::Unknown);
                };
                let state: KeyState = state.parse().map_err(StoreError::Corrupt)?;
                if state == KeyState::Active {
                    return Ok(KeyWithdrawal::RefusedActive);
                }
                tx.execute("DELETE FROM signing_keys WHERE kid = ?1", [&kid])
                    .map_err(unavailable)?;
                revocations::append_key_withdrawal(&tx, &kid, now)?;
                tx.commit().map_err(unavailable)?;
                Ok(KeyWithdrawal::Withdrawn(state))
            })
            .await
    }

    async fn key_policy(&self) -> Result<Option<KeyPolicy>, StoreError> {
        self.workers
            .write(|conn| {
                conn.query_row(
                    "SELECT signing_alg, publish_lead_ms, retire_hold_ms, jwks_max_age_ms \
                     FROM key_policy WHERE id = 1",
                    [],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, i64>(3)?,
                        ))
                    },
                )
                .optional()
                .map_err(read_error)?
                .map(|(alg, lead, hold, max_age)| {
                    key_policy::from_columns(&alg, lead, hold, max_age)
                })
                .transpose()
            })
            .await
    }

    async fn store_key_policy(&self, policy: &KeyPolicy, now: Timestamp) -> Result<(), StoreError> {
        let policy = *policy;
        self.workers
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO key_policy (id, signing_alg, publish_lead_ms, retire_hold_ms, \
                     jwks_max_age_ms, updated_at) VALUES (1, ?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (id) DO UPDATE SET signing_alg = excluded.signing_alg, \
                     publish_lead_ms = excluded.publish_lead_ms, \
                     retire_hold_ms = excluded.retire_hold_ms, \
                     jwks_max_age_ms = excluded.jwks_max_age_ms, updated_at = excluded.updated_at",
                    params![
                        policy.signing_alg.to_string(),
                        key_policy::millis(policy.publish_lead),
                        key_policy::millis(policy.retire_hold),
                        key_policy::millis(policy.jwks_max_age),
                        now.as_millis(),
                    ],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }
}

/// Inserts one signing key row as it is (shared by `insert_signing_key` and `db copy` imports).
pub(super) fn insert_key_row(conn: &Connection, key: &SigningKeyRecord) -> rusqlite::Result<usize> {
    conn.prepare_cached(&format!(
        "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))?
    .execute(params![
        key.kid,
        key.alg.to_string(),
        key.state.as_str(),
        key.sealed_material,
        key.public_jwk,
        key.created_at.as_millis(),
        key.activate_at.as_millis(),
        key.activated_at.map(Timestamp::as_millis),
        key.retired_at.map(Timestamp::as_millis),
        key.publish_until.map(Timestamp::as_millis),
    ])
}
