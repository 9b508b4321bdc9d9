//! Conversions between rows and domain values.

use std::str::FromStr;

use rusqlite::Row;
use tokenauth_core::keys::SigningKeyRecord;
use tokenauth_core::refresh_token::RefreshTokenHash;
use tokenauth_core::session::Session;
use tokenauth_core::store::StoreError;
use tokenauth_core::user::{Email, User};
use tokenauth_core::{SessionId, Timestamp, UserId};

/// Reads column `index` as `T` via its text form.
pub(super) fn parse<T: FromStr>(row: &Row<'_>, index: usize) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.get(index)?;
    text.parse().map_err(|e: T::Err| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            e.to_string().into(),
        )
    })
}

/// Reads column `index`, which may be NULL, as `T` via its text form.
pub(super) fn maybe_parse<T: FromStr>(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => parse(row, index).map(Some),
    }
}

/// Reads column `index` as a timestamp (Unix milliseconds).
pub(super) fn time(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    row.get(index).map(Timestamp::from_millis)
}

/// Reads column `index` as an optional timestamp.
pub(super) fn maybe_time(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Timestamp>> {
    Ok(row
        .get::<_, Option<i64>>(index)?
        .map(Timestamp::from_millis))
}

/// Reads column `index` as a 32-byte token hash.
pub(super) fn token_hash(row: &Row<'_>, index: usize) -> rusqlite::Result<RefreshTokenHash> {
    let bytes: Vec<u8> = row.get(index)?;
    let array: [u8; 32] = bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Blob,
            "token hash is not 32 bytes".into(),
        )
    })?;
    Ok(RefreshTokenHash::from_bytes(array))
}

/// Reads column `index`, which may be NULL, as a 32-byte token hash.
pub(super) fn maybe_token_hash(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<RefreshTokenHash>> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => token_hash(row, index).map(Some),
    }
}

/// Reads column `index` as a generation (stored as a non-negative `INTEGER`).
pub(super) fn generation(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let stored: i64 = row.get(index)?;
    u64::try_from(stored).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Integer, e.into())
    })
}

/// A generation as the `INTEGER` column stores it; none past `i64::MAX` can be stored.
pub(super) fn stored_generation(generation: u64) -> rusqlite::Result<i64> {
    i64::try_from(generation).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

/// Parses the JSON array of roles.
pub(super) fn roles(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("roles: {e}")))
}

/// Columns: id, email, password_hash, roles, created_at, disabled_at.
pub(super) const USER_COLUMNS: &str = "id, email, password_hash, roles, created_at, disabled_at";

/// A user from a row selected with [`USER_COLUMNS`].
pub(super) fn user(row: &Row<'_>) -> rusqlite::Result<(User, String)> {
    let roles_json: String = row.get(3)?;
    Ok((
        User {
            id: parse::<UserId>(row, 0)?,
            email: Email::from_stored(row.get(1)?),
            password_hash: row.get(2)?,
            roles: Vec::new(),
            created_at: time(row, 4)?,
            disabled_at: maybe_time(row, 5)?,
        },
        roles_json,
    ))
}

/// Finishes a user read with [`user`]: parses its roles.
pub(super) fn with_roles((mut user, roles_json): (User, String)) -> Result<User, StoreError> {
    user.roles = roles(&roles_json)?;
    Ok(user)
}

/// Columns: id, user_id, created_at, last_used_at, expires_at, generation, user_agent, ip,
/// revoked_at, revoke_reason.
pub(super) const SESSION_COLUMNS: &str = "id, user_id, created_at, last_used_at, expires_at, \
     generation, user_agent, ip, revoked_at, revoke_reason, absolute_expires_at";

/// A session from a row selected with [`SESSION_COLUMNS`].
pub(super) fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: parse::<SessionId>(row, 0)?,
        user_id: parse::<UserId>(row, 1)?,
        created_at: time(row, 2)?,
        last_used_at: time(row, 3)?,
        expires_at: time(row, 4)?,
        generation: row.get(5)?,
        user_agent: row.get(6)?,
        ip: row.get(7)?,
        revoked_at: maybe_time(row, 8)?,
        revoke_reason: maybe_parse(row, 9)?,
        absolute_expires_at: time(row, 10)?,
    })
}

/// Columns of a signing key, in [`signing_key`]'s order.
pub(super) const KEY_COLUMNS: &str = "kid, alg, state, sealed_material, public_jwk, created_at, \
     activate_at, activated_at, retired_at, publish_until";

/// A signing key from a row selected with [`KEY_COLUMNS`].
pub(super) fn signing_key(row: &Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get(0)?,
        alg: parse(row, 1)?,
        state: parse(row, 2)?,
        sealed_material: row.get(3)?,
        public_jwk: row.get(4)?,
        created_at: time(row, 5)?,
        activate_at: time(row, 6)?,
        activated_at: maybe_time(row, 7)?,
        retired_at: maybe_time(row, 8)?,
        publish_until: maybe_time(row, 9)?,
    })
}

/// Maps a read failure: conversion failures mean corrupt data, the rest an unavailable database.
pub(super) fn read_error(error: rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::Corrupt(error.to_string())
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}
