//! [`UserStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokenauth_core::session::{NewSession, RevokeReason};
use tokenauth_core::store::{StoreError, UserStore};
use tokenauth_core::user::{Email, User};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::rows::{self, USER_COLUMNS, read_error};
use super::sessions::{insert_session, revoke_live};
use super::{SqliteStore, is_constraint_violation, revocations, unavailable};

/// Inserts the user's row (`roles` already as JSON).
///
/// # Errors
/// [`StoreError::Conflict`] if the email is taken.
fn insert_user_row(conn: &Connection, user: &User, roles: &str) -> Result<(), StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO users (id, email, password_hash, roles, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                user.id.to_string(),
                user.email.as_str(),
                user.password_hash,
                roles,
                user.created_at.as_millis(),
            ])
        });
    match inserted {
        Ok(_) => Ok(()),
        Err(error) if is_constraint_violation(&error) => {
            Err(StoreError::Conflict("email already registered"))
        }
        Err(error) => Err(unavailable(error)),
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user_with_session(
        &self,
        user: &User,
        session: &NewSession,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        let session = session.clone();
        let roles =
            serde_json::to_string(&user.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                insert_user_row(&tx, &user, &roles)?;
                insert_session(&tx, &session)?;
                tx.commit().map_err(unavailable)
            })
            .await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let email = email.as_str().to_owned();
        self.workers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email = ?1"
                ))
                .and_then(|mut stmt| stmt.query_row([email], rows::user).optional())
                .map_err(read_error)?
                .map(rows::with_roles)
                .transpose()
            })
            .await
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.workers
            .read(move |conn| {
                conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
                    .and_then(|mut stmt| stmt.query_row([id.to_string()], rows::user).optional())
                    .map_err(read_error)?
                    .map(rows::with_roles)
                    .transpose()
            })
            .await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let password_hash = password_hash.to_owned();
        self.workers
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![id.to_string(), password_hash, now.as_millis()])
                })
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn add_role(
        &self,
        email: &Email,
        role: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let role = role.to_owned();
        self.change_roles(email, now, move |roles| {
            if !roles.contains(&role) {
                roles.push(role);
            }
        })
        .await
    }

    async fn remove_role(
        &self,
        email: &Email,
        role: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let role = role.to_owned();
        self.change_roles(email, now, move |roles| roles.retain(|r| *r != role))
            .await
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        let roles =
            serde_json::to_string(&user.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.workers
            .write(move |conn| insert_user_row(conn, &user, &roles))
            .await
    }

    async fn list_users(&self, after: Option<&Email>, limit: u32) -> Result<Vec<User>, StoreError> {
        // Empty string sorts before every email: no `after` lists from the start.
        let after = after.map_or_else(String::new, |email| email.as_str().to_owned());
        self.workers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE email > ?1 ORDER BY email LIMIT ?2"
                    ))
                    .map_err(read_error)?;
                let users = stmt
                    .query_map(params![after, limit], rows::user)
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                users.into_iter().map(rows::with_roles).collect()
            })
            .await
    }

    async fn delete_user(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let id = user.to_string();
                let exists = tx
                    .prepare_cached("SELECT 1 FROM users WHERE id = ?1")
                    .and_then(|mut stmt| stmt.exists([&id]))
                    .map_err(unavailable)?;
                if !exists {
                    return Ok(None);
                }
                let revoked = revoke_live(&tx, user, None, RevokeReason::UserDeleted, now)?;
                revocations::append(&tx, &revoked, now)?;
                tx.prepare_cached("DELETE FROM audit_events WHERE user_id = ?1")
                    .and_then(|mut stmt| stmt.execute([&id]))
                    .map_err(unavailable)?;
                // Sessions and their refresh-token history go with the user (ON DELETE CASCADE).
                tx.prepare_cached("DELETE FROM users WHERE id = ?1")
                    .and_then(|mut stmt| stmt.execute([&id]))
                    .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                Ok(Some(revoked))
            })
            .await
    }

    async fn set_user_disabled(
        &self,
        email: &Email,
        disabled_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let email = email.as_str().to_owned();
        self.workers
            .write(move |conn| {
                // COALESCE keeps the first time of a repeated disable; NULL enables.
                conn.prepare_cached(
                    "UPDATE users SET disabled_at = CASE WHEN ?2 IS NULL THEN NULL \
                     ELSE COALESCE(disabled_at, ?2) END, updated_at = ?3 WHERE email = ?1 \
                     RETURNING id",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            email,
                            disabled_at.map(Timestamp::as_millis),
                            now.as_millis()
                        ],
                        |row| rows::parse::<UserId>(row, 0),
                    )
                    .optional()
                })
                .map_err(unavailable)
            })
            .await
    }
}

impl SqliteStore {
    /// Applies `change` to the roles of the user with `email` in one transaction; false when
    /// there is no such user.
    async fn change_roles(
        &self,
        email: &Email,
        now: Timestamp,
        change: impl FnOnce(&mut Vec<String>) + Send + 'static,
    ) -> Result<bool, StoreError> {
        let email = email.as_str().to_owned();
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let Some(roles_json) = tx
                    .query_row(
                        "SELECT roles FROM users WHERE email = ?1",
                        [&email],
                        |row| row.get::<_, String>(0),
                    )
                    .optional()
                    .map_err(unavailable)?
                else {
                    return Ok(false);
                };
                let before = rows::roles(&roles_json)?;
                let mut roles = before.clone();
                change(&mut roles);
                if roles != before {
                    let json = serde_json::to_string(&roles)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    tx.execute(
                        "UPDATE users SET roles = ?2, updated_at = ?3 WHERE email = ?1",
                        params![email, json, now.as_millis()],
                    )
                    .map_err(unavailable)?;
                }
                tx.commit().map_err(unavailable)?;
                Ok(true)
            })
            .await
    }
}
