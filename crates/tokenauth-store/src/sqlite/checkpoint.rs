//! WAL checkpoints off the commit path. By default SQLite checkpoints on the committing
//! connection once the WAL passes 1000 pages: the writer thread then copies the WAL back into
//! the database and syncs it while every queued write waits (the p99 stalls of a refresh load).
//! Here the writer never checkpoints (`wal_autocheckpoint=0`); a thread of its own, with its own
//! connection, runs a PASSIVE checkpoint every [`INTERVAL`], which copies and syncs alongside
//! the writer without blocking it or any reader.
//!
//! A WAL only starts over from its beginning when a write transaction begins with every frame
//! already copied back; under continuous writes that moment never comes by itself, and the file
//! would grow without limit. So once the WAL holds [`RESTART_FRAMES`] frames, the checkpointer
//! asks the writer thread itself to run one PASSIVE checkpoint between two transactions: it only
//! has the frames written since the last background pass to copy, and the next write restarts
//! the WAL (unless a reader still uses it; then a later round does).
//!
//! Durability does not change: a commit is durable once in the WAL (synced at each commit with
//! the default `synchronous=FULL`, see [`super::durability`]); checkpoints only move pages to
//! the database file, and sync it, in either mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Time between two background checkpoints. Longer lets a page written by many commits be
/// copied back once: at 50 ms a refresh load wrote ~80 MB/s into the database file and ran
/// 2–12 % slower than at 500 ms; 250 ms ran as fast as 500 ms with shorter worst stalls.
pub(super) const INTERVAL: Duration = Duration::from_millis(250);

/// WAL frames (4 KiB pages) above which the writer is asked to let the WAL restart: 64 MiB.
pub(super) const RESTART_FRAMES: i64 = 16_384;

/// A write-thread job the checkpointer can queue: runs `f` on the writer's connection.
pub(super) type WriterTask = Box<dyn FnOnce(&mut Connection) + Send>;

/// The checkpointer thread; stopped (and joined) by [`Checkpointer::stop`].
pub(super) struct Checkpointer {
    stop: flume::Sender<()>,
    handle: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing through `conn` (read-write, same file); `to_writer` queues a task
    /// for the writer thread and answers whether it was queued.
    pub(super) fn start(
        conn: Connection,
        to_writer: impl Fn(WriterTask) -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = flume::bounded::<()>(1);
        let handle = std::thread::Builder::new()
            .name("tokenauth-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stopped, &to_writer))?;
        Ok(Self { stop, handle })
    }

    /// Ends the thread after its current checkpoint and waits for it.
    pub(super) fn stop(self) {
        let _ = self.stop.send(());
        if self.handle.join().is_err() {
            tracing::error!("the SQLite checkpoint thread panicked");
        }
    }
}

fn run(conn: &Connection, stopped: &flume::Receiver<()>, to_writer: &dyn Fn(WriterTask) -> bool) {
    // Set while a writer-side checkpoint is queued, so that only one is.
    let restart_queued = Arc::new(AtomicBool::new(false));
    while let Err(flume::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        let frames = match passive_checkpoint(conn) {
            Ok(frames) => frames,
            Err(error) => {
                tracing::warn!(%error, "background WAL checkpoint failed");
                continue;
            }
        };
        if frames >= RESTART_FRAMES && !restart_queued.swap(true, Ordering::AcqRel) {
            let flag = Arc::clone(&restart_queued);
            let queued = to_writer(Box::new(move |writer| {
                if let Err(error) = passive_checkpoint(writer) {
                    tracing::warn!(%error, "WAL checkpoint on the writer failed");
                }
                flag.store(false, Ordering::Release);
            }));
            if !queued {
                restart_queued.store(false, Ordering::Release);
            }
        }
    }
}

/// Runs a PASSIVE checkpoint; returns the WAL's length in frames.
pub(super) fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}
