//! [`UserStore`] on PostgreSQL.

use async_trait::async_trait;
use tokenauth_core::session::{NewSession, RevokeReason};
use tokenauth_core::store::{StoreError, UserStore};
use tokenauth_core::user::{Email, User};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::rows::{self, USER_COLUMNS};
use super::sessions::{insert_session, revoke_live};
use super::{PostgresStore, is_unique_violation, unavailable};

/// Inserts the user's row.
///
/// # Errors
/// [`StoreError::Conflict`] if the email is taken.
async fn insert_user_row(
    client: &impl deadpool_postgres::GenericClient,
    user: &User,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO users (id, email, password_hash, roles, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .await
        .map_err(unavailable)?;
    let inserted = client
        .execute(
            &statement,
            &[
                &user.id.as_uuid(),
                &user.email.as_str(),
                &user.password_hash,
                &user.roles,
                &user.created_at.as_millis(),
            ],
        )
        .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(StoreError::Conflict("email already registered"))
        }
        Err(error) => Err(unavailable(error)),
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn insert_user_with_session(
        &self,
        user: &User,
        session: &NewSession,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        insert_user_row(&tx, user).await?;
        insert_session(&tx, session).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
            ))
            .await
            .map_err(unavailable)?;
        client
            .query_opt(&statement, &[&email.as_str()])
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .await
            .map_err(unavailable)?;
        client
            .query_opt(&statement, &[&id.as_uuid()])
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
                &[&id.as_uuid(), &password_hash, &now.as_millis()],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn add_role(
        &self,
        email: &Email,
        role: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        // One statement: append unless present, so there is no read-modify-write window.
        let found = client
            .execute(
                "UPDATE users SET roles = CASE WHEN $2 = ANY(roles) THEN roles \
                 ELSE array_append(roles, $2) END, updated_at = $3 WHERE email = $1",
                &[&email.as_str(), &role, &now.as_millis()],
            )
            .await
            .map_err(unavailable)?;
        Ok(found == 1)
    }

    async fn remove_role(
        &self,
        email: &Email,
        role: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let found = client
            .execute(
                "UPDATE users SET roles = array_remove(roles, $2), \
                 updated_at = CASE WHEN $2 = ANY(roles) THEN $3 ELSE updated_at END \
                 WHERE email = $1",
                &[&email.as_str(), &role, &now.as_millis()],
            )
            .await
            .map_err(unavailable)?;
        Ok(found == 1)
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let client = self.client().await?;
        insert_user_row(&client, user).await
    }

    async fn list_users(&self, after: Option<&Email>, limit: u32) -> Result<Vec<User>, StoreError> {
        let client = self.client().await?;
        // COLLATE "C": byte order, the order SQLite's `ORDER BY email` uses, whatever the
        // database's default collation.
        let statement = client
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email COLLATE \"C\" > $1 \
                 ORDER BY email COLLATE \"C\" LIMIT $2"
            ))
            .await
            .map_err(unavailable)?;
        let after = after.map_or("", Email::as_str);
        client
            .query(&statement, &[&after, &i64::from(limit)])
            .await
            .map_err(unavailable)?
            .iter()
            .map(rows::user)
            .collect()
    }

    async fn delete_user(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        // The row lock first: a login inserting a session for this user now waits for the
        // commit and then fails its foreign key, so no session escapes the revocation below
        // (one committed before the lock is seen by the UPDATE).
        let found = tx
            .query_opt(
                "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
                &[&user.as_uuid()],
            )
            .await
            .map_err(unavailable)?;
        if found.is_none() {
            return Ok(None);
        }
        let revoked = revoke_live(&tx, user, None, RevokeReason::UserDeleted, now).await?;
        tx.execute(
            "DELETE FROM audit_events WHERE user_id = $1",
            &[&user.as_uuid()],
        )
        .await
        .map_err(unavailable)?;
        // Sessions and their refresh-token history go with the user (ON DELETE CASCADE).
        tx.execute("DELETE FROM users WHERE id = $1", &[&user.as_uuid()])
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Some(revoked))
    }

    async fn set_user_disabled(
        &self,
        email: &Email,
        disabled_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let client = self.client().await?;
        // COALESCE keeps the first time of a repeated disable; NULL enables.
        let row = client
            .query_opt(
                "UPDATE users SET disabled_at = CASE WHEN $2::BIGINT IS NULL THEN NULL \
                 ELSE COALESCE(disabled_at, $2) END, updated_at = $3 WHERE email = $1 \
                 RETURNING id",
                &[
                    &email.as_str(),
                    &disabled_at.map(Timestamp::as_millis),
                    &now.as_millis(),
                ],
            )
            .await
            .map_err(unavailable)?;
        row.as_ref().map(|row| rows::user_id(row, "id")).transpose()
    }
}
