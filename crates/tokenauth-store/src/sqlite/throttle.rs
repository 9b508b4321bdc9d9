//! [`ThrottleStore`] on SQLite. Every write runs on the single writer thread, so the count and
//! the lock-out derived from it change together; the arithmetic is in SQL all the same, as on
//! PostgreSQL, so both backends follow one formula.

use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokenauth_core::Timestamp;
use tokenauth_core::store::{StoreError, ThrottleStore};
use tokenauth_core::throttle::{
    AttemptReservation, LockoutPolicy, LoginFailures, MAX_DOUBLINGS, ThrottleKey,
};

use super::rows::read_error;
use super::{SqliteStore, unavailable};

/// Counts one failure: a forgotten count (`forget_at` passed) starts again from one.
const COUNT: &str = "INSERT INTO login_throttle (key, failures, locked_until, forget_at) \
     VALUES (?1, 1, NULL, ?2) \
     ON CONFLICT (key) DO UPDATE SET \
       failures = CASE WHEN forget_at <= ?2 THEN 1 ELSE failures + 1 END, \
       locked_until = CASE WHEN forget_at <= ?2 THEN NULL ELSE locked_until END";

/// Locks the key as the new count asks (`first << doublings`, capped; never shortening a
/// lock-out already in force).
const LOCK: &str = "UPDATE login_throttle SET locked_until = \
       MAX(COALESCE(locked_until, 0), ?2 + MIN(?5, ?4 << MIN(failures - ?3, ?6))) \
     WHERE key = ?1 AND ?3 > 0 AND failures >= ?3";

/// Remembers the count `memory` past its last failure or the end of its lock-out.
const REMEMBER: &str = "UPDATE login_throttle \
     SET forget_at = MAX(?2, COALESCE(locked_until, 0)) + ?3 \
     WHERE key = ?1 RETURNING failures, locked_until";

/// Reserves one attempt: counts it (a forgotten count starts again from one) and, at the
/// threshold, locks from now; the `WHERE` refuses it, changing nothing and returning no row,
/// while a lock-out is in force. `?1` key, `?2` now, `?3` max failures, `?4` first lock-out,
/// `?5` longest, `?6` most doublings, `?7` memory (times in milliseconds).
static RESERVE: LazyLock<String> = LazyLock::new(|| {
    // The count this attempt makes, and the lock-out it earns (NULL below the threshold).
    let next = "(CASE WHEN forget_at <= ?2 THEN 1 ELSE failures + 1 END)";
    let lock = |n: &str| {
        format!("(CASE WHEN ?3 > 0 AND {n} >= ?3 THEN ?2 + MIN(?5, ?4 << MIN({n} - ?3, ?6)) END)")
    };
    let (first, later) = (lock("1"), lock(next));
    format!(
        "INSERT INTO login_throttle (key, failures, locked_until, forget_at) \
         VALUES (?1, 1, {first}, COALESCE({first}, ?2) + ?7) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = {next}, locked_until = {later}, forget_at = COALESCE({later}, ?2) + ?7 \
         WHERE forget_at <= ?2 OR locked_until IS NULL OR locked_until <= ?2 \
         RETURNING failures, locked_until"
    )
});

const LOCKED_UNTIL: &str =
    "SELECT locked_until FROM login_throttle WHERE key = ?1 AND locked_until > ?2";

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn login_lockout(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let key = *key;
        self.workers
            .read(move |conn| locked_until(conn, &key, now).map_err(read_error))
            .await
    }

    async fn record_login_failure(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> Result<LoginFailures, StoreError> {
        let (key, policy) = (*key, *policy);
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let key_bytes = key.as_bytes().as_slice();
                let now_ms = now.as_millis();
                tx.prepare_cached(COUNT)
                    .and_then(|mut stmt| stmt.execute(params![key_bytes, now_ms]))
                    .map_err(unavailable)?;
                tx.prepare_cached(LOCK)
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            key_bytes,
                            now_ms,
                            i64::from(policy.max_failures),
                            millis(policy.first_lockout),
                            millis(policy.max_lockout),
                            MAX_DOUBLINGS,
                        ])
                    })
                    .map_err(unavailable)?;
                let (failures, locked_until) = tx
                    .prepare_cached(REMEMBER)
                    .and_then(|mut stmt| {
                        stmt.query_row(params![key_bytes, now_ms, millis(policy.memory)], |row| {
                            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?))
                        })
                    })
                    .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                Ok(LoginFailures {
                    failures: u64::try_from(failures).unwrap_or(0),
                    locked_until: locked_until
                        .map(Timestamp::from_millis)
                        .filter(|until| *until > now),
                })
            })
            .await
    }

    async fn clear_login_failures(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let key = *key;
        self.workers
            .write(move |conn| {
                // The writer thread is the only one that writes: nothing can lock the key
                // between the two statements.
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM login_throttle WHERE key = ?1 \
                         AND (locked_until IS NULL OR locked_until <= ?2)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![key.as_bytes().as_slice(), now.as_millis()])
                    })
                    .map_err(unavailable)?;
                if deleted > 0 {
                    return Ok(None);
                }
                locked_until(conn, &key, now).map_err(unavailable)
            })
            .await
    }

    async fn reserve_attempt(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> Result<AttemptReservation, StoreError> {
        let (key, policy) = (*key, *policy);
        self.workers
            .write(move |conn| {
                // The writer thread is the only one that writes: the refusal's read below sees
                // the lock-out that refused it.
                let counted = conn
                    .prepare_cached(&RESERVE)
                    .and_then(|mut stmt| {
                        stmt.query_row(
                            params![
                                key.as_bytes().as_slice(),
                                now.as_millis(),
                                i64::from(policy.max_failures),
                                millis(policy.first_lockout),
                                millis(policy.max_lockout),
                                MAX_DOUBLINGS,
                                millis(policy.memory),
                            ],
                            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?)),
                        )
                        .optional()
                    })
                    .map_err(unavailable)?;
                match counted {
                    Some((attempt, locks_until)) => Ok(AttemptReservation::Allowed {
                        attempt: u64::try_from(attempt).unwrap_or(0),
                        locks_until: locks_until.map(Timestamp::from_millis),
                    }),
                    None => {
                        let locked_until = locked_until(conn, &key, now)
                            .map_err(unavailable)?
                            .unwrap_or(now);
                        Ok(AttemptReservation::Refused { locked_until })
                    }
                }
            })
            .await
    }

    async fn forget_attempts(
        &self,
        key: &ThrottleKey,
        attempt: u64,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let key = *key;
        let attempt = i64::try_from(attempt).unwrap_or(i64::MAX);
        self.workers
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM login_throttle WHERE key = ?1 \
                         AND (locked_until IS NULL OR locked_until <= ?2 OR failures = ?3)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![key.as_bytes().as_slice(), now.as_millis(), attempt])
                    })
                    .map_err(unavailable)?;
                if deleted > 0 {
                    return Ok(None);
                }
                locked_until(conn, &key, now).map_err(unavailable)
            })
            .await
    }

    async fn purge_login_failures(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.workers
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM login_throttle WHERE key IN (SELECT key FROM \
                         login_throttle WHERE forget_at <= ?1 LIMIT ?2)",
                    )
                    .and_then(|mut stmt| stmt.execute(params![now.as_millis(), limit]))
                    .map_err(unavailable)?;
                Ok(u64::try_from(deleted).unwrap_or(0))
            })
            .await
    }
}

fn locked_until(
    conn: &Connection,
    key: &ThrottleKey,
    now: Timestamp,
) -> rusqlite::Result<Option<Timestamp>> {
    conn.prepare_cached(LOCKED_UNTIL)?
        .query_row(params![key.as_bytes().as_slice(), now.as_millis()], |row| {
            row.get::<_, i64>(0)
        })
        .optional()
        .map(|until| until.map(Timestamp::from_millis))
}

/// A policy duration in milliseconds, as the columns hold time.
fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
