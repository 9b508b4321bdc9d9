//! Group commit on the writer thread: the batchable writes already queued when one starts
//! (refresh-token rotations, new sessions) share one transaction, so a burst of N rotations
//! costs one commit (one WAL append of the pages they touch) instead of N.
//!
//! Each job still behaves as if it ran alone:
//! - it runs inside its own savepoint, after every job queued before it, so it sees their
//!   effects exactly as it would have in sequence (two racing rotations of one token: the
//!   first rotates, the second is a replay);
//! - a job that fails is rolled back to its savepoint: none of its writes reach the commit,
//!   and the others' results are untouched;
//! - no caller hears of success before the shared transaction has committed. If the commit
//!   (or the transaction machinery) fails, nothing of the batch was written, and every job that
//!   had succeeded gets that error instead; jobs that had failed keep their own error.
//!
//! Durability is that of any other commit here ([`super::durability`]): with the default
//! `synchronous=FULL` the batch's one commit syncs the WAL once for all its jobs, and a caller
//! told "done" keeps its write across a power loss; with `normal`, across a process crash.

use rusqlite::Connection;
use tokenauth_core::store::StoreError;

/// Most jobs one transaction takes; more stay queued for the next one.
pub(super) const MAX_BATCH: usize = 64;

/// A write that may share a transaction: it runs on the writer's connection, inside a
/// transaction and a savepoint of its own, and hands back how to answer its caller.
pub(super) type BatchedJob = Box<dyn FnOnce(&Connection) -> Finish + Send>;

/// What a batched job did, and how to tell its caller once the batch's fate is known.
pub(super) struct Finish {
    succeeded: bool,
    deliver: Box<dyn FnOnce(Result<(), String>) + Send>,
}

impl Finish {
    /// Wraps the job's `result`; `reply` gets it once the batch commits, or the commit's error.
    pub(super) fn new<T: Send + 'static>(
        result: Result<T, StoreError>,
        reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
    ) -> Self {
        Self {
            succeeded: result.is_ok(),
            deliver: Box::new(move |committed| {
                let answer = match (result, committed) {
                    (Ok(value), Ok(())) => Ok(value),
                    // Rolled back with the batch: nothing of it was written.
                    (Ok(_), Err(error)) => Err(StoreError::Unavailable(error)),
                    // Rolled back to its own savepoint already.
                    (Err(error), _) => Err(error),
                };
                let _ = reply.send(answer);
            }),
        }
    }
}

/// Runs `first` and the batchable jobs `next` yields (it is asked until it returns `None` or
/// [`MAX_BATCH`] jobs ran) in one transaction, each in its own savepoint, then commits and
/// answers every caller.
pub(super) fn run(
    conn: &Connection,
    first: BatchedJob,
    mut next: impl FnMut() -> Option<BatchedJob>,
) {
    let mut finished = Vec::new();
    let outcome = (|| {
        exec(conn, "BEGIN")?;
        let mut job = Some(first);
        while let Some(work) = job.take() {
            exec(conn, "SAVEPOINT batched_job")?;
            let finish = work(conn);
            let succeeded = finish.succeeded;
            finished.push(finish);
            if !succeeded {
                // A failed statement may have ended the whole transaction (SQLite rolls back by
                // itself on some I/O errors); then there is nothing to continue.
                if conn.is_autocommit() {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                        Some("the transaction was rolled back".into()),
                    ));
                }
                exec(conn, "ROLLBACK TO batched_job")?;
            }
            exec(conn, "RELEASE batched_job")?;
            if finished.len() < MAX_BATCH {
                job = next();
            }
        }
        exec(conn, "COMMIT")
    })();
    let committed = match outcome {
        Ok(()) => Ok(()),
        Err(error) => {
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
            Err(error.to_string())
        }
    };
    for finish in finished {
        (finish.deliver)(committed.clone());
    }
}

/// Runs one statement of the batch's bracket, prepared once per connection.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
