//! Conversions between rows and domain values.

use tokenauth_core::keys::SigningKeyRecord;
use tokenauth_core::refresh_token::RefreshTokenHash;
use tokenauth_core::session::Session;
use tokenauth_core::store::StoreError;
use tokenauth_core::user::{Email, User};
use tokenauth_core::{SessionId, Timestamp, UserId};
use tokio_postgres::Row;
use uuid::Uuid;

pub(super) fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

pub(super) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    column: &str,
) -> Result<T, StoreError> {
    row.try_get(column).map_err(corrupt)
}

pub(super) fn time(row: &Row, column: &str) -> Result<Timestamp, StoreError> {
    get::<i64>(row, column).map(Timestamp::from_millis)
}

pub(super) fn maybe_time(row: &Row, column: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(get::<Option<i64>>(row, column)?.map(Timestamp::from_millis))
}

pub(super) fn token_hash(bytes: Vec<u8>) -> Result<RefreshTokenHash, StoreError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("token hash is not 32 bytes".into()))?;
    Ok(RefreshTokenHash::from_bytes(array))
}

/// Reads `column` as a generation (stored as a non-negative `BIGINT`).
pub(super) fn generation(row: &Row, column: &str) -> Result<u64, StoreError> {
    u64::try_from(get::<i64>(row, column)?).map_err(corrupt)
}

/// A generation as the `BIGINT` column stores it; none past `i64::MAX` can be stored.
pub(super) fn stored_generation(generation: u64) -> Result<i64, StoreError> {
    i64::try_from(generation).map_err(corrupt)
}

pub(super) fn session_id(row: &Row, column: &str) -> Result<SessionId, StoreError> {
    get::<Uuid>(row, column).map(SessionId::from_uuid)
}

pub(super) fn user_id(row: &Row, column: &str) -> Result<UserId, StoreError> {
    get::<Uuid>(row, column).map(UserId::from_uuid)
}

/// Columns: id, email, password_hash, roles, created_at, disabled_at.
pub(super) const USER_COLUMNS: &str = "id, email, password_hash, roles, created_at, disabled_at";

pub(super) fn user(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: user_id(row, "id")?,
        email: Email::from_stored(get(row, "email")?),
        password_hash: get(row, "password_hash")?,
        roles: get(row, "roles")?,
        created_at: time(row, "created_at")?,
        disabled_at: maybe_time(row, "disabled_at")?,
    })
}

/// Columns of a listed session.
pub(super) const SESSION_COLUMNS: &str = "id, user_id, created_at, last_used_at, expires_at, \
     generation, user_agent, ip, revoked_at, revoke_reason, absolute_expires_at";

pub(super) fn session(row: &Row) -> Result<Session, StoreError> {
    Ok(Session {
        id: session_id(row, "id")?,
        user_id: user_id(row, "user_id")?,
        created_at: time(row, "created_at")?,
        last_used_at: time(row, "last_used_at")?,
        expires_at: time(row, "expires_at")?,
        absolute_expires_at: time(row, "absolute_expires_at")?,
        generation: get(row, "generation")?,
        user_agent: get(row, "user_agent")?,
        ip: get(row, "ip")?,
        revoked_at: maybe_time(row, "revoked_at")?,
        revoke_reason: get::<Option<String>>(row, "revoke_reason")?
            .map(|reason| reason.parse())
            .transpose()
            .map_err(corrupt)?,
    })
}

/// Columns of a signing key.
pub(super) const KEY_COLUMNS: &str = "kid, alg, state, sealed_material, public_jwk, created_at, \
     activate_at, activated_at, retired_at, publish_until";

pub(super) fn signing_key(row: &Row) -> Result<SigningKeyRecord, StoreError> {
    let alg: String = get(row, "alg")?;
    let state: String = get(row, "state")?;
    Ok(SigningKeyRecord {
        kid: get(row, "kid")?,
        alg: alg
            .parse()
            .map_err(|_| corrupt(format!("unknown algorithm {alg:?}")))?,
        state: state.parse().map_err(corrupt)?,
        sealed_material: get(row, "sealed_material")?,
        public_jwk: get(row, "public_jwk")?,
        created_at: time(row, "created_at")?,
        activate_at: time(row, "activate_at")?,
        activated_at: maybe_time(row, "activated_at")?,
        retired_at: maybe_time(row, "retired_at")?,
        publish_until: maybe_time(row, "publish_until")?,
    })
}
