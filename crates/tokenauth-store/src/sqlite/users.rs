//! [`UserStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use tokenauth_core::session::NewSession;
use tokenauth_core::store::{StoreError, UserStore};
use tokenauth_core::user::{Email, User};
use tokenauth_core::{Timestamp, UserId};

use super::rows::{self, USER_COLUMNS, read_error};
use super::sessions::insert_session;
use super::{SqliteStore, is_constraint_violation, unavailable};

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
                let inserted = tx
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
                    Ok(_) => {}
                    Err(error) if is_constraint_violation(&error) => {
                        return Err(StoreError::Conflict("email already registered"));
                    }
                    Err(error) => return Err(unavailable(error)),
                }
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
        let email = email.as_str().to_owned();
        let role = role.to_owned();
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
                let mut roles = rows::roles(&roles_json)?;
                if !roles.contains(&role) {
                    roles.push(role);
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
