//! The threads that own the connections. Hand-written because no maintained crate offers a
//! single-writer thread plus a reader pool for rusqlite 0.43 with async callers; it is small.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokenauth_core::store::{PoolStatus, StoreError};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The sending end of a job queue; `None` once the workers are stopping. Stopping drops the
/// sender, so each thread runs every job queued before that and then sees the queue
/// disconnected: no job can be left in a queue nobody reads, whose caller would wait forever.
/// Senders enqueue under the read lock, so a job is either queued before the sender is dropped
/// (and runs) or refused.
type Queue = RwLock<Option<flume::Sender<Job>>>;

/// One writer thread and a pool of reader threads, each owning one connection.
pub(super) struct Workers {
    writer: Queue,
    readers: Queue,
    threads: Mutex<Vec<Worker>>,
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
    /// Starts one thread per connection.
    pub(super) fn start(writer: Connection, readers: Vec<Connection>) -> Result<Self, StoreError> {
        let (writer_tx, writer_rx) = flume::unbounded();
        let (readers_tx, readers_rx) = flume::unbounded();
        let connections = readers.len() + 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::with_capacity(connections);
        threads.push(spawn(
            "tokenauth-sqlite-writer",
            writer,
            writer_rx,
            true,
            busy.clone(),
        )?);
        for (index, reader) in readers.into_iter().enumerate() {
            let name = format!("tokenauth-sqlite-reader-{index}");
            threads.push(spawn(
                &name,
                reader,
                readers_rx.clone(),
                false,
                busy.clone(),
            )?);
        }
        Ok(Self {
            writer: RwLock::new(Some(writer_tx)),
            readers: RwLock::new(Some(readers_tx)),
            threads: Mutex::new(threads),
            connections,
            busy,
        })
    }

    /// The connections and the jobs queued for them, right now.
    pub(super) fn status(&self) -> PoolStatus {
        let queued = |queue: &Queue| {
            queue
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map_or(0, flume::Sender::len)
        };
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

    /// Runs `work` on the writer's connection, after every write queued before it.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        submit(&self.writer, work).await
    }

    /// Runs `work` on one of the read-only connections.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        submit(&self.readers, work).await
    }

    /// Lets queued work finish, then closes every connection and joins the threads (blocking).
    pub(super) fn stop(&self) {
        for worker in self.signal_stop() {
            join(worker.handle);
        }
    }

    /// Like [`Workers::stop`], but waits without blocking the async runtime.
    pub(super) async fn stop_async(&self) {
        for worker in self.signal_stop() {
            let _ = worker.closed.await;
            join(worker.handle);
        }
    }

    /// Asks every thread to finish after the work queued so far; returns the threads to wait on
    /// (none if already stopped).
    fn signal_stop(&self) -> Vec<Worker> {
        let Ok(mut threads) = self.threads.lock() else {
            return Vec::new();
        };
        if threads.is_empty() {
            return Vec::new();
        }
        for queue in [&self.writer, &self.readers] {
            // Dropping the sender disconnects the queue once the jobs already in it are done.
            drop(queue.write().unwrap_or_else(PoisonError::into_inner).take());
        }
        threads.drain(..).collect()
    }
}

async fn submit<T, F>(queue: &Queue, work: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        let _ = reply.send(work(conn));
    });
    let closed = || StoreError::Unavailable("database is closed".into());
    {
        let sender = queue.read().unwrap_or_else(PoisonError::into_inner);
        sender
            .as_ref()
            .ok_or_else(closed)?
            .send(job)
            .map_err(|_| closed())?;
    }
    answer
        .await
        .map_err(|_| StoreError::Unavailable("database worker stopped".into()))?
}

fn join(handle: JoinHandle<()>) {
    if handle.join().is_err() {
        tracing::error!("a SQLite worker thread panicked");
    }
}

fn spawn(
    name: &str,
    mut conn: Connection,
    queue: flume::Receiver<Job>,
    is_writer: bool,
    busy: Arc<AtomicUsize>,
) -> Result<Worker, StoreError> {
    let (done, closed) = oneshot::channel();
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            while let Ok(job) = queue.recv() {
                busy.fetch_add(1, Ordering::Relaxed);
                job(&mut conn);
                busy.fetch_sub(1, Ordering::Relaxed);
            }
            if is_writer {
                // Leave a compact file behind: fold the WAL into the database.
                let _ = conn.pragma_update(None, "optimize", "");
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            }
            if let Err((_, error)) = conn.close() {
                tracing::error!(%error, "closing a SQLite connection failed");
            }
            let _ = done.send(());
        })
        .map_err(|e| StoreError::Unavailable(format!("cannot start database thread: {e}")))?;
    Ok(Worker { handle, closed })
}
