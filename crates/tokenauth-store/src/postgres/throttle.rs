//! [`ThrottleStore`] on PostgreSQL, shared by every instance on the database. A failure is one
//! transaction whose first statement is an UPSERT with the arithmetic in SQL: it takes the row
//! lock (or, for a new key, the unique index serialises the inserts), so concurrent failures
//! from any number of instances queue behind each other and each counts once; the lock-out is
//! then derived from the count under that same row lock.

use std::sync::LazyLock;

use async_trait::async_trait;
use tokenauth_core::Timestamp;
use tokenauth_core::store::{StoreError, ThrottleStore};
use tokenauth_core::throttle::{
    AttemptReservation, LockoutPolicy, LoginFailures, MAX_DOUBLINGS, ThrottleKey,
};

use super::{PostgresStore, unavailable};

/// Counts one failure: a forgotten count (`forget_at` passed) starts again from one.
const COUNT: &str = "INSERT INTO login_throttle AS t (key, failures, locked_until, forget_at) \
     VALUES ($1, 1, NULL, $2) \
     ON CONFLICT (key) DO UPDATE SET \
       failures = CASE WHEN t.forget_at <= $2 THEN 1 ELSE t.failures + 1 END, \
       locked_until = CASE WHEN t.forget_at <= $2 THEN NULL ELSE t.locked_until END";

/// Locks the key as the new count asks (`first << doublings`, capped; never shortening a
/// lock-out already in force).
const LOCK: &str = "UPDATE login_throttle SET locked_until = \
       GREATEST(COALESCE(locked_until, 0), \
                $2::int8 + LEAST($5::int8, $4::int8 << LEAST(failures - $3::int8, $6::int8)::int4)) \
     WHERE key = $1 AND $3::int8 > 0 AND failures >= $3::int8";

/// Remembers the count `memory` past its last failure or the end of its lock-out.
const REMEMBER: &str = "UPDATE login_throttle \
     SET forget_at = GREATEST($2, COALESCE(locked_until, 0)) + $3 \
     WHERE key = $1 RETURNING failures, locked_until";

/// Reserves one attempt in one statement, atomic across instances: the UPSERT counts it (a
/// forgotten count starts again from one) and, at the threshold, locks from now, under the
/// row lock (or, for a new key, the unique index) that serialises concurrent reservations; the
/// `WHERE`, evaluated on the newest version of the row, refuses it while a lock-out is in
/// force, and then no row comes back. `$1` key, `$2` now, `$3` max failures, `$4` first lock-out, `$5`
/// longest, `$6` most doublings, `$7` memory (times in milliseconds).
static RESERVE: LazyLock<String> = LazyLock::new(|| {
    // The count this attempt makes, and the lock-out it earns (NULL below the threshold).
    let next = "(CASE WHEN t.forget_at <= $2 THEN 1 ELSE t.failures + 1 END)";
    let lock = |n: &str| {
        format!(
            "(CASE WHEN $3::int8 > 0 AND {n} >= $3::int8 THEN $2::int8 + \
             LEAST($5::int8, $4::int8 << LEAST({n} - $3::int8, $6::int8)::int4) END)"
        )
    };
    let (first, later) = (lock("1"), lock(next));
    format!(
        "INSERT INTO login_throttle AS t (key, failures, locked_until, forget_at) \
         VALUES ($1, 1, {first}, COALESCE({first}, $2::int8) + $7::int8) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = {next}, locked_until = {later}, \
           forget_at = COALESCE({later}, $2::int8) + $7::int8 \
         WHERE t.forget_at <= $2 OR t.locked_until IS NULL OR t.locked_until <= $2 \
         RETURNING failures, locked_until"
    )
});

/// Forgets the key after a success unless a lock-out is in force that is not the succeeding
/// attempt's own (`$3`, the count it made); reads the lock-out that kept it.
const FORGET: &str = "WITH cleared AS (DELETE FROM login_throttle WHERE key = $1 \
       AND (locked_until IS NULL OR locked_until <= $2 OR failures = $3) RETURNING key) \
     SELECT locked_until FROM login_throttle \
     WHERE key = $1 AND locked_until > $2 AND NOT EXISTS (SELECT 1 FROM cleared)";

const LOCKED_UNTIL: &str =
    "SELECT locked_until FROM login_throttle WHERE key = $1 AND locked_until > $2";

/// In one statement: forgets the key unless it is locked, and reads the lock-out that kept it.
const CLEAR: &str = "WITH cleared AS (DELETE FROM login_throttle WHERE key = $1 \
       AND (locked_until IS NULL OR locked_until <= $2) RETURNING key) \
     SELECT locked_until FROM login_throttle \
     WHERE key = $1 AND locked_until > $2 AND NOT EXISTS (SELECT 1 FROM cleared)";

#[async_trait]
impl ThrottleStore for PostgresStore {
    async fn login_lockout(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(LOCKED_UNTIL)
            .await
            .map_err(unavailable)?;
        let row = client
            .query_opt(&statement, &[&key.as_bytes().as_slice(), &now.as_millis()])
            .await
            .map_err(unavailable)?;
        locked_until(row.as_ref())
    }

    async fn record_login_failure(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> Result<LoginFailures, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let key_bytes = key.as_bytes().as_slice();
        let now_ms = now.as_millis();
        let count = tx.prepare_cached(COUNT).await.map_err(unavailable)?;
        tx.execute(&count, &[&key_bytes, &now_ms])
            .await
            .map_err(unavailable)?;
        let lock = tx.prepare_cached(LOCK).await.map_err(unavailable)?;
        tx.execute(
            &lock,
            &[
                &key_bytes,
                &now_ms,
                &i64::from(policy.max_failures),
                &millis(policy.first_lockout),
                &millis(policy.max_lockout),
                &i64::from(MAX_DOUBLINGS),
            ],
        )
        .await
        .map_err(unavailable)?;
        let remember = tx.prepare_cached(REMEMBER).await.map_err(unavailable)?;
        let row = tx
            .query_one(&remember, &[&key_bytes, &now_ms, &millis(policy.memory)])
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        let failures: i64 = row.try_get("failures").map_err(unavailable)?;
        let locked_until: Option<i64> = row.try_get("locked_until").map_err(unavailable)?;
        Ok(LoginFailures {
            failures: u64::try_from(failures).unwrap_or(0),
            locked_until: locked_until
                .map(Timestamp::from_millis)
                .filter(|until| *until > now),
        })
    }

    async fn clear_login_failures(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(CLEAR).await.map_err(unavailable)?;
        let row = client
            .query_opt(&statement, &[&key.as_bytes().as_slice(), &now.as_millis()])
            .await
            .map_err(unavailable)?;
        locked_until(row.as_ref())
    }

    async fn reserve_attempt(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> Result<AttemptReservation, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(&RESERVE).await.map_err(unavailable)?;
        let key_bytes = key.as_bytes().as_slice();
        let row = client
            .query_opt(
                &statement,
                &[
                    &key_bytes,
                    &now.as_millis(),
                    &i64::from(policy.max_failures),
                    &millis(policy.first_lockout),
                    &millis(policy.max_lockout),
                    &i64::from(MAX_DOUBLINGS),
                    &millis(policy.memory),
                ],
            )
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            // Refused. The refusing lock-out was committed before the statement could decide,
            // so a new statement (a new snapshot) sees it, unless it has just ended.
            let statement = client
                .prepare_cached(LOCKED_UNTIL)
                .await
                .map_err(unavailable)?;
            let row = client
                .query_opt(&statement, &[&key_bytes, &now.as_millis()])
                .await
                .map_err(unavailable)?;
            let locked_until = locked_until(row.as_ref())?.unwrap_or(now);
            return Ok(AttemptReservation::Refused { locked_until });
        };
        let failures: i64 = row.try_get("failures").map_err(unavailable)?;
        let locks_until: Option<i64> = row.try_get("locked_until").map_err(unavailable)?;
        Ok(AttemptReservation::Allowed {
            attempt: u64::try_from(failures).unwrap_or(0),
            locks_until: locks_until.map(Timestamp::from_millis),
        })
    }

    async fn forget_attempts(
        &self,
        key: &ThrottleKey,
        attempt: u64,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(FORGET).await.map_err(unavailable)?;
        let attempt = i64::try_from(attempt).unwrap_or(i64::MAX);
        let row = client
            .query_opt(
                &statement,
                &[&key.as_bytes().as_slice(), &now.as_millis(), &attempt],
            )
            .await
            .map_err(unavailable)?;
        locked_until(row.as_ref())
    }

    async fn purge_login_failures(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let client = self.client().await?;
        // SKIP LOCKED: instances purging at once take different rows instead of waiting.
        client
            .execute(
                "DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle \
                 WHERE forget_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[&now.as_millis(), &i64::from(limit)],
            )
            .await
            .map_err(unavailable)
    }
}

fn locked_until(row: Option<&tokio_postgres::Row>) -> Result<Option<Timestamp>, StoreError> {
    row.map(|row| row.try_get::<_, i64>("locked_until"))
        .transpose()
        .map(|until| until.map(Timestamp::from_millis))
        .map_err(unavailable)
}

/// A policy duration in milliseconds, as the columns hold time.
fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
