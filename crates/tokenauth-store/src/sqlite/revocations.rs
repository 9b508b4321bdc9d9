//! [`RevocationStore`] on SQLite: the revocation feed. Appends run on the single writer thread
//! inside the transaction that revokes, so seq order is commit order by construction; reads
//! go to the reader connections.

use async_trait::async_trait;
use rusqlite::{Connection, Row, Transaction, params};
use tokenauth_core::store::{FeedEvent, FeedPosition, FeedSubject, RevocationStore, StoreError};
use tokenauth_core::{SessionId, Timestamp};

use super::rows::{self, read_error};
use super::{SqliteStore, unavailable};
use crate::feed;

/// Appends one feed event per session in `sessions`, each revoked at `revoked_at`, inside the
/// caller's transaction (the one that set their `revoked_at`), with the session's stored
/// latest access-token expiry. A session that is not stored fails the append (the column is
/// `NOT NULL`) rather than be left out.
pub(super) fn append(
    tx: &Connection,
    sessions: &[SessionId],
    revoked_at: Timestamp,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO revocations (session_id, revoked_at, access_expires_at) \
             VALUES (?1, ?2, (SELECT access_expires_at FROM sessions WHERE id = ?1))",
        )
        .map_err(unavailable)?;
    for session in sessions {
        stmt.execute(params![session.to_string(), revoked_at.as_millis()])
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Appends the withdrawal of signing key `kid` at `withdrawn_at` to the feed, inside the
/// caller's transaction (the one that deleted the key). Its `access_expires_at` is the
/// withdrawal time: a withdrawn key's tokens are refused from then on, so the event is kept
/// for the feed's retention alone.
pub(super) fn append_key_withdrawal(
    tx: &Connection,
    kid: &str,
    withdrawn_at: Timestamp,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO revocations (kid, revoked_at, access_expires_at) VALUES (?1, ?2, ?2)",
    )
    .and_then(|mut stmt| stmt.execute(params![kid, withdrawn_at.as_millis()]))
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn revocation_feed_position(&self) -> Result<FeedPosition, StoreError> {
        self.workers.read(position).await
    }

    async fn feed_events_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        let after = feed::cursor(after);
        self.workers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, session_id, kid, revoked_at, access_expires_at \
                         FROM revocations WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    )
                    .map_err(read_error)?;
                let events = stmt
                    .query_map(params![after, limit], event)
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                Ok(events)
            })
            .await
    }

    async fn key_withdrawals_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.workers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT kid, revoked_at FROM revocations \
                         WHERE kid IS NOT NULL AND revoked_at >= ?1 ORDER BY seq",
                    )
                    .map_err(read_error)?;
                let withdrawals = stmt
                    .query_map([since.as_millis()], |row| {
                        Ok((row.get::<_, String>(0)?, rows::time(row, 1)?))
                    })
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                Ok(withdrawals)
            })
            .await
    }

    async fn purge_revocations(
        &self,
        revoked_before: Timestamp,
        alive_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let deleted = purge(&tx, revoked_before, alive_before, limit)?;
                tx.commit().map_err(unavailable)?;
                Ok(deleted)
            })
            .await
    }
}

/// The feed's position, read in one statement (one snapshot).
fn position(conn: &mut Connection) -> Result<FeedPosition, StoreError> {
    let (epoch, purged_through, max_seq) = conn
        .prepare_cached(
            "SELECT epoch, purged_through, (SELECT MAX(seq) FROM revocations) \
             FROM revocation_feed WHERE id = 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                ))
            })
        })
        .map_err(read_error)?;
    let purged_through = feed::seq(purged_through)?;
    let head = feed::seq(max_seq.unwrap_or(0))?.max(purged_through);
    Ok(FeedPosition {
        epoch: feed::checked_epoch(epoch)?,
        head,
        purged_through,
    })
}

/// Deletes the oldest events, in seq order, up to `limit` of them and stopping at the first
/// one revoked at or after `revoked_before` or alive at or after `alive_before`; raises
/// `purged_through` to the last seq deleted.
///
/// Only a prefix of the feed is ever deleted, so every event at or below `purged_through` is
/// gone even when revocation times are not in seq order.
fn purge(
    tx: &Transaction<'_>,
    revoked_before: Timestamp,
    alive_before: Timestamp,
    limit: u32,
) -> Result<u64, StoreError> {
    let oldest = tx
        .prepare_cached(
            "SELECT seq, revoked_at, access_expires_at FROM revocations ORDER BY seq LIMIT ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_map([limit], |row| {
                Ok(feed::Stored {
                    seq: row.get::<_, i64>(0)?,
                    revoked_at: rows::time(row, 1)?,
                    alive_until: rows::time(row, 2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(read_error)?;
    let Some(last) = feed::purge_end(&oldest, revoked_before, alive_before) else {
        return Ok(0);
    };
    let deleted = tx
        .prepare_cached("DELETE FROM revocations WHERE seq <= ?1")
        .and_then(|mut stmt| stmt.execute([last]))
        .map_err(unavailable)?;
    tx.prepare_cached(
        "UPDATE revocation_feed SET purged_through = MAX(purged_through, ?1) WHERE id = 1",
    )
    .and_then(|mut stmt| stmt.execute([last]))
    .map_err(unavailable)?;
    u64::try_from(deleted).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An event from a row of `seq, session_id, kid, revoked_at, access_expires_at` (exactly one
/// of `session_id` and `kid` set).
fn event(row: &Row<'_>) -> rusqlite::Result<FeedEvent> {
    let stored: i64 = row.get(0)?;
    let subject = match row.get::<_, Option<String>>(2)? {
        Some(kid) => FeedSubject::SigningKey(kid),
        None => FeedSubject::Session(rows::parse::<SessionId>(row, 1)?),
    };
    Ok(FeedEvent {
        seq: u64::try_from(stored).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, e.into())
        })?,
        subject,
        revoked_at: rows::time(row, 3)?,
        alive_until: rows::time(row, 4)?,
    })
}
