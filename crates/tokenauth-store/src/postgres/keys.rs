//! [`KeyStore`] on PostgreSQL.

use async_trait::async_trait;
use tokenauth_core::Timestamp;
use tokenauth_core::keys::{KeyPolicy, KeyState, KeyWithdrawal, SigningKeyRecord};
use tokenauth_core::store::{KeyStore, StoreError};

use crate::key_policy;

use super::rows::{self, KEY_COLUMNS, corrupt};
use super::{PostgresStore, is_unique_violation, revocations, unavailable};

#[async_trait]
impl KeyStore for PostgresStore {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                &format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"),
                &[],
            )
            .await
            .map_err(unavailable)?
            .iter()
            .map(rows::signing_key)
            .collect()
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let inserted = client
            .execute(
                &format!(
                    "INSERT INTO signing_keys ({KEY_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &key.kid,
                    &key.alg.to_string(),
                    &key.state.as_str(),
                    &key.sealed_material,
                    &key.public_jwk,
                    &key.created_at.as_millis(),
                    &key.activate_at.as_millis(),
                    &key.activated_at.map(Timestamp::as_millis),
                    &key.retired_at.map(Timestamp::as_millis),
                    &key.publish_until.map(Timestamp::as_millis),
                ],
            )
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(error) if is_unique_violation(&error) => {
                Err(StoreError::Conflict("a key in that state already exists"))
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn promote_signing_key(
        &self,
        next_kid: &str,
        now: Timestamp,
        retired_publish_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        // Lock the next key's row: of two instances promoting at once, the second waits here
        // and then finds it no longer 'next'.
        let still_next = tx
            .query_opt(
                "SELECT kid FROM signing_keys WHERE kid = $1 AND state = 'next' FOR UPDATE",
                &[&next_kid],
            )
            .await
            .map_err(unavailable)?;
        if still_next.is_none() {
            return Ok(false);
        }
        tx.execute(
            "UPDATE signing_keys SET state = 'retired', retired_at = $1, publish_until = $2 \
             WHERE state = 'active'",
            &[&now.as_millis(), &retired_publish_until.as_millis()],
        )
        .await
        .map_err(unavailable)?;
        tx.execute(
            "UPDATE signing_keys SET state = 'active', activated_at = $2 WHERE kid = $1",
            &[&next_kid, &now.as_millis()],
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn delete_expired_signing_keys(&self, now: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= $1",
                &[&now.as_millis()],
            )
            .await
            .map_err(unavailable)
    }

    async fn withdraw_signing_key(
        &self,
        kid: &str,
        now: Timestamp,
    ) -> Result<KeyWithdrawal, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        // Lock the key's row: a promotion of it (which locks it too) either committed before
        // this read, and the key is active, or waits until the key is gone.
        let row = tx
            .query_opt(
                "SELECT state FROM signing_keys WHERE kid = $1 FOR UPDATE",
                &[&kid],
            )
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(KeyWithdrawal::Unknown);
        };
        let state: String = rows::get(&row, "state")?;
        let state: KeyState = state.parse().map_err(corrupt)?;
        if state == KeyState::Active {
            return Ok(KeyWithdrawal::RefusedActive);
        }
        tx.execute("DELETE FROM signing_keys WHERE kid = $1", &[&kid])
            .await
            .map_err(unavailable)?;
        revocations::append_key_withdrawal(&tx, kid, now).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(KeyWithdrawal::Withdrawn(state))
    }

    async fn key_policy(&self) -> Result<Option<KeyPolicy>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT signing_alg, publish_lead_ms, retire_hold_ms, jwks_max_age_ms \
                 FROM key_policy WHERE id = 1",
                &[],
            )
            .await
            .map_err(unavailable)?;
        row.map(|row| {
            key_policy::from_columns(
                &rows::get::<String>(&row, "signing_alg")?,
                rows::get(&row, "publish_lead_ms")?,
                rows::get(&row, "retire_hold_ms")?,
                rows::get(&row, "jwks_max_age_ms")?,
            )
        })
        .transpose()
    }

    async fn store_key_policy(&self, policy: &KeyPolicy, now: Timestamp) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO key_policy (id, signing_alg, publish_lead_ms, retire_hold_ms, \
                 jwks_max_age_ms, updated_at) VALUES (1, $1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET signing_alg = EXCLUDED.signing_alg, \
                 publish_lead_ms = EXCLUDED.publish_lead_ms, \
                 retire_hold_ms = EXCLUDED.retire_hold_ms, \
                 jwks_max_age_ms = EXCLUDED.jwks_max_age_ms, updated_at = EXCLUDED.updated_at",
                &[
                    &policy.signing_alg.to_string(),
                    &key_policy::millis(policy.publish_lead),
                    &key_policy::millis(policy.retire_hold),
                    &key_policy::millis(policy.jwks_max_age),
                    &now.as_millis(),
                ],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
