//! The threads that own the connections. Hand-written because no maintained crate offers a
//! single-writer thread plus a reader pool for rusqlite 0.43 with async callers; it is small.
//! The writer groups queued batchable writes into one transaction ([`super::batch`]); a
//! checkpointer thread keeps WAL checkpoints off the writer ([`super::checkpoint`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokenauth_core::store::{PoolStatus, StoreError};
use tokio::sync::oneshot;

use super::batch::{self, BatchedJob, Finish};
use super::checkpoint::Checkpointer;

/// Work that runs alone on a connection (and manages its own transaction, if any).
type AloneJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// What the writer thread is asked to do.
enum WriteJob {
    /// Runs by itself, after every write queued before it.
    Alone(AloneJob),
    /// May share a transaction with the batchable writes queued right behind it.
    Batched(BatchedJob),
}

/// The sending end of a job queue; `None` once the workers are stopping. Stopping drops the
/// sender, so each thread runs every job queued before that and then sees the queue
/// disconnected: no job can be left in a queue nobody reads, whose caller would wait forever.
/// Senders enqueue under the read lock, so a job is either queued before the sender is dropped
/// (and runs) or refused.
type Queue<J> = RwLock<Option<flume::Sender<J>>>;

/// One writer thread, a pool of reader threads, each owning one connection, and the
/// checkpointer.
pub(super) struct Workers {
    writer: Arc<Queue<WriteJob>>,
    readers: Queue<AloneJob>,
    threads: Mutex<Vec<Worker>>,
    checkpointer: Mutex<Option<Checkpointer>>,
    /// How many connections there are (the writer's and the readers').
    connections: usize,
    /// How many threads are running a job now.
    busy: Arc<AtomicUsize>,
}

/// A worker thread and the signal it sends once its connection is closed.
struct Worker {
    handle: JoinHandle<()>,
    closed: oneshot::Receiver<()>,
}

impl Workers {
    /// Starts one thread per connection, and the checkpointer on `checkpoints` (a read-write
    /// connection of its own). The writer stops checkpointing by itself.
    pub(super) fn start(
        writer: Connection,
        readers: Vec<Connection>,
        checkpoints: Connection,
    ) -> Result<Self, StoreError> {
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let (writer_tx, writer_rx) = flume::unbounded();
        let (readers_tx, readers_rx) = flume::unbounded();
        let connections = readers.len() + 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::with_capacity(connections);
        threads.push(spawn_writer(writer, writer_rx, busy.clone())?);
        for (index, reader) in readers.into_iter().enumerate() {
            let name = format!("tokenauth-sqlite-reader-{index}");
            threads.push(spawn_reader(
                &name,
                reader,
                readers_rx.clone(),
                busy.clone(),
            )?);
        }
        let writer = Arc::new(RwLock::new(Some(writer_tx)));
        let queue = Arc::clone(&writer);
        let checkpointer = Checkpointer::start(checkpoints, move |task| {
            enqueue(&queue, WriteJob::Alone(task)).is_ok()
        })
        .map_err(|e| StoreError::Unavailable(format!("cannot start database thread: {e}")))?;
        Ok(Self {
            writer,
            readers: RwLock::new(Some(readers_tx)),
            threads: Mutex::new(threads),
            checkpointer: Mutex::new(Some(checkpointer)),
            connections,
            busy,
        })
    }

    /// The connections and the jobs queued for them, right now.
    pub(super) fn status(&self) -> PoolStatus {
        fn queued<J>(queue: &Queue<J>) -> usize {
            queue
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map_or(0, flume::Sender::len)
        }
        let stopped = self
            .writer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none();
        let connections = if stopped { 0 } else { self.connections };
        let queued_writes = queued(&self.writer);
        PoolStatus {
            max_connections: self.connections,
            connections,
            idle: connections.saturating_sub(self.busy.load(Ordering::Relaxed)),
            waiting: queued_writes + queued(&self.readers),
            queued_writes: Some(queued_writes),
        }
    }

    /// Runs `work` on the writer's connection, alone, after every write queued before it.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = WriteJob::Alone(Box::new(move |conn| {
            let _ = reply.send(work(conn));
        }));
        enqueue(&self.writer, job)?;
        wait(answer).await
    }

    /// Runs `work` on the writer's connection inside a transaction it may share with other
    /// batchable writes queued around it (see [`super::batch`] for the guarantees): `work` must
    /// not open or end a transaction itself. Its result reaches the caller after the commit.
    pub(super) async fn write_batched<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = WriteJob::Batched(Box::new(move |conn| Finish::new(work(conn), reply)));
        enqueue(&self.writer, job)?;
        wait(answer).await
    }

    /// Runs `work` on one of the read-only connections.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: AloneJob = Box::new(move |conn| {
            let _ = reply.send(work(conn));
        });
        enqueue(&self.readers, job)?;
        wait(answer).await
    }

    /// Lets queued work finish, then closes every connection and joins the threads (blocking).
    pub(super) fn stop(&self) {
        if let Some(checkpointer) = self.take_checkpointer() {
            checkpointer.stop();
        }
        for worker in self.signal_stop() {
            join(worker.handle);
        }
    }

    /// Like [`Workers::stop`], but waits without blocking the async runtime.
    pub(super) async fn stop_async(&self) {
        if let Some(checkpointer) = self.take_checkpointer() {
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        for worker in self.signal_stop() {
            let _ = worker.closed.await;
            join(worker.handle);
        }
    }

    /// The checkpointer, if still running: stopped first, so that its last pass does not
    /// overlap the writer's final checkpoint.
    fn take_checkpointer(&self) -> Option<Checkpointer> {
        self.checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Asks every thread to finish after the work queued so far; returns the threads to wait
    /// on (none if already stopped).
    fn signal_stop(&self) -> Vec<Worker> {
        let Ok(mut threads) = self.threads.lock() else {
            return Vec::new();
        };
        if threads.is_empty() {
            return Vec::new();
        }
        // Dropping a sender disconnects its queue once the jobs already in it are done.
        drop(
            self.writer
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        drop(
            self.readers
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        threads.drain(..).collect()
    }
}

fn enqueue<J>(queue: &Queue<J>, job: J) -> Result<(), StoreError> {
    let closed = || StoreError::Unavailable("database is closed".into());
    let sender = queue.read().unwrap_or_else(PoisonError::into_inner);
    sender
        .as_ref()
        .ok_or_else(closed)?
        .send(job)
        .map_err(|_| closed())
}

async fn wait<T>(answer: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    answer
        .await
        .map_err(|_| StoreError::Unavailable("database worker stopped".into()))?
}

fn join(handle: JoinHandle<()>) {
    if handle.join().is_err() {
        tracing::error!("a SQLite worker thread panicked");
    }
}

fn spawn_reader(
    name: &str,
    conn: Connection,
    queue: flume::Receiver<AloneJob>,
    busy: Arc<AtomicUsize>,
) -> Result<Worker, StoreError> {
    spawn(name, conn, move |conn| {
        while let Ok(job) = queue.recv() {
            let _busy = BusySlot::enter(&busy);
            job(conn);
        }
    })
}

/// Counts its thread as busy from `enter` until dropped (also if the job panics).
struct BusySlot<'a>(&'a AtomicUsize);

impl<'a> BusySlot<'a> {
    fn enter(busy: &'a AtomicUsize) -> Self {
        busy.fetch_add(1, Ordering::Relaxed);
        Self(busy)
    }
}

impl Drop for BusySlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn spawn_writer(
    conn: Connection,
    queue: flume::Receiver<WriteJob>,
    busy: Arc<AtomicUsize>,
) -> Result<Worker, StoreError> {
    spawn("tokenauth-sqlite-writer", conn, move |conn| {
        let mut pending = None;
        while let Some(job) = pending.take().or_else(|| queue.recv().ok()) {
            let _busy = BusySlot::enter(&busy);
            match job {
                WriteJob::Alone(job) => job(conn),
                WriteJob::Batched(first) => batch::run(conn, first, || match queue.try_recv() {
                    Ok(WriteJob::Batched(job)) => Some(job),
                    // Runs right after this batch, in its turn.
                    Ok(alone) => {
                        pending = Some(alone);
                        None
                    }
                    Err(_) => None,
                }),
            }
        }
        // Leave a compact file behind: fold the WAL into the database.
        let _ = conn.pragma_update(None, "optimize", "");
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    })
}

fn spawn(
    name: &str,
    mut conn: Connection,
    work: impl FnOnce(&mut Connection) + Send + 'static,
) -> Result<Worker, StoreError> {
    let (done, closed) = oneshot::channel();
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            work(&mut conn);
            if let Err((_, error)) = conn.close() {
                tracing::error!(%error, "closing a SQLite connection failed");
            }
            let _ = done.send(());
        })
        .map_err(|e| StoreError::Unavailable(format!("cannot start database thread: {e}")))?;
    Ok(Worker { handle, closed })
}
