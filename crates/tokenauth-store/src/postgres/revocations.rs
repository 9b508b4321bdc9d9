//! [`RevocationStore`] on PostgreSQL: the revocation feed.
//!
//! An identity value is taken when a row is inserted, but transactions commit in any order: if
//! one appending transaction took seq 5 and another seq 6, and the second committed first, a
//! reader could see 6, move its cursor past it, and never see 5. So every transaction that
//! appends takes one transaction-scoped advisory lock, [`APPEND_LOCK`], before its first insert
//! and holds it until it commits or rolls back. Seqs are then handed out in the order the lock
//! is granted, and each holder's commit is visible before the next holder can take a seq
//! (PostgreSQL makes a commit visible before it releases the transaction's locks): seq order
//! is commit order. The lock is taken only after the revoking UPDATE, and nothing but the
//! inserts follows it, so it is held briefly and never while waiting for a row lock.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokenauth_core::store::{FeedEvent, FeedPosition, FeedSubject, RevocationStore, StoreError};
use tokenauth_core::{SessionId, Timestamp};
use tokio_postgres::Row;
use uuid::Uuid;

use super::rows::{self, get};
use super::{PostgresStore, unavailable};
use crate::feed;

/// Arbitrary constant naming the feed's append lock ("revfeed1" in ASCII); distinct from the
/// migration lock's key.
const APPEND_LOCK: i64 = 0x7265_7666_6565_6431;

/// Appends one feed event per session in `sessions`, each revoked at `revoked_at`, inside the
/// caller's transaction (the one that set their `revoked_at`), under [`APPEND_LOCK`], with the
/// session's stored latest access-token expiry. A session that is not stored fails the append
/// (the column is `NOT NULL`) rather than be left out.
pub(super) async fn append(
    tx: &Transaction<'_>,
    sessions: &[SessionId],
    revoked_at: Timestamp,
) -> Result<(), StoreError> {
    if sessions.is_empty() {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
        .await
        .map_err(unavailable)?;
    let ids: Vec<Uuid> = sessions.iter().map(SessionId::as_uuid).collect();
    // One insert for all of them, one round trip.
    let insert = tx
        .prepare_cached(
            "INSERT INTO revocations (session_id, revoked_at, access_expires_at) \
             SELECT r.id, $2, s.access_expires_at FROM UNNEST($1::uuid[]) AS r(id) \
             LEFT JOIN sessions s ON s.id = r.id",
        )
        .await
        .map_err(unavailable)?;
    tx.execute(&insert, &[&ids, &revoked_at.as_millis()])
        .await
        .map_err(unavailable)?;
    // Delivered at commit, not before (and not at all on rollback): other instances' listeners
    // then read the feed at once.
    tx.execute("SELECT pg_notify($1, '')", &[&super::listener::CHANNEL])
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Appends the withdrawal of signing key `kid` at `withdrawn_at` to the feed, inside the
/// caller's transaction (the one that deleted the key), under [`APPEND_LOCK`] like every append.
/// Its `access_expires_at` is the withdrawal time: a withdrawn key's tokens are refused from
/// then on, so the event is kept for the feed's retention alone.
pub(super) async fn append_key_withdrawal(
    tx: &Transaction<'_>,
    kid: &str,
    withdrawn_at: Timestamp,
) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
        .await
        .map_err(unavailable)?;
    tx.execute(
        "INSERT INTO revocations (kid, revoked_at, access_expires_at) VALUES ($1, $2, $2)",
        &[&kid, &withdrawn_at.as_millis()],
    )
    .await
    .map_err(unavailable)?;
    tx.execute("SELECT pg_notify($1, '')", &[&super::listener::CHANNEL])
        .await
        .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl RevocationStore for PostgresStore {
    async fn revocation_feed_position(&self) -> Result<FeedPosition, StoreError> {
        let client = self.client().await?;
        // One statement, so one snapshot.
        let row = client
            .query_one(
                "SELECT epoch, purged_through, (SELECT MAX(seq) FROM revocations) AS max_seq \
                 FROM revocation_feed WHERE id = 1",
                &[],
            )
            .await
            .map_err(unavailable)?;
        let purged_through = feed::seq(get(&row, "purged_through")?)?;
        let head = feed::seq(get::<Option<i64>>(&row, "max_seq")?.unwrap_or(0))?;
        Ok(FeedPosition {
            epoch: feed::checked_epoch(get(&row, "epoch")?)?,
            head: head.max(purged_through),
            purged_through,
        })
    }

    async fn feed_events_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT seq, session_id, kid, revoked_at, access_expires_at FROM revocations \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .await
            .map_err(unavailable)?;
        client
            .query(&statement, &[&feed::cursor(after), &i64::from(limit)])
            .await
            .map_err(unavailable)?
            .iter()
            .map(event)
            .collect()
    }

    async fn key_withdrawals_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                "SELECT kid, revoked_at FROM revocations \
                 WHERE kid IS NOT NULL AND revoked_at >= $1 ORDER BY seq",
                &[&since.as_millis()],
            )
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| Ok((get::<String>(row, "kid")?, rows::time(row, "revoked_at")?)))
            .collect()
    }

    fn revocation_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        Some(self.listener().signal.clone())
    }

    async fn purge_revocations(
        &self,
        revoked_before: Timestamp,
        alive_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let deleted = purge(&tx, revoked_before, alive_before, limit).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(deleted)
    }
}

/// Deletes the oldest events, in seq order, up to `limit` of them and stopping at the first
/// one revoked at or after `revoked_before` or alive at or after `alive_before`; raises
/// `purged_through` to the last seq deleted.
///
/// Locking the feed's row first makes concurrent purges (several instances) take turns; appends
/// never touch that row, so they are not held up. Every row at or below the last seq read was
/// committed before it (appends commit in seq order), so the DELETE removes exactly the rows
/// read.
async fn purge(
    tx: &Transaction<'_>,
    revoked_before: Timestamp,
    alive_before: Timestamp,
    limit: u32,
) -> Result<u64, StoreError> {
    tx.execute("SELECT 1 FROM revocation_feed WHERE id = 1 FOR UPDATE", &[])
        .await
        .map_err(unavailable)?;
    let oldest = tx
        .query(
            "SELECT seq, revoked_at, access_expires_at FROM revocations ORDER BY seq LIMIT $1",
            &[&i64::from(limit)],
        )
        .await
        .map_err(unavailable)?
        .iter()
        .map(|row| {
            Ok(feed::Stored {
                seq: get::<i64>(row, "seq")?,
                revoked_at: rows::time(row, "revoked_at")?,
                alive_until: rows::time(row, "access_expires_at")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let Some(last) = feed::purge_end(&oldest, revoked_before, alive_before) else {
        return Ok(0);
    };
    let deleted = tx
        .execute("DELETE FROM revocations WHERE seq <= $1", &[&last])
        .await
        .map_err(unavailable)?;
    tx.execute(
        "UPDATE revocation_feed SET purged_through = GREATEST(purged_through, $1) WHERE id = 1",
        &[&last],
    )
    .await
    .map_err(unavailable)?;
    Ok(deleted)
}

/// An event from a row of `seq, session_id, kid, revoked_at, access_expires_at` (exactly one
/// of `session_id` and `kid` set).
fn event(row: &Row) -> Result<FeedEvent, StoreError> {
    let subject = match get::<Option<String>>(row, "kid")? {
        Some(kid) => FeedSubject::SigningKey(kid),
        None => FeedSubject::Session(rows::session_id(row, "session_id")?),
    };
    Ok(FeedEvent {
        seq: feed::seq(get(row, "seq")?)?,
        subject,
        revoked_at: rows::time(row, "revoked_at")?,
        alive_until: rows::time(row, "access_expires_at")?,
    })
}
