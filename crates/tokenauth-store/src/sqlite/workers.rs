//! The threads that own the connections. Hand-written because no maintained crate offers a
//! single-writer thread plus a reader pool for rusqlite 0.43 with async callers; it is small.

use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokenauth_core::store::StoreError;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Message {
    Run(Job),
    Stop,
}

/// One writer thread and a pool of reader threads, each owning one connection.
pub(super) struct Workers {
    writer: flume::Sender<Message>,
    readers: flume::Sender<Message>,
    reader_count: usize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Workers {
    /// Starts one thread per connection.
    pub(super) fn start(writer: Connection, readers: Vec<Connection>) -> Result<Self, StoreError> {
        let (writer_tx, writer_rx) = flume::unbounded();
        let (readers_tx, readers_rx) = flume::unbounded();
        let mut threads = Vec::with_capacity(readers.len() + 1);
        let reader_count = readers.len();
        threads.push(spawn("tokenauth-sqlite-writer", writer, writer_rx, true)?);
        for (index, reader) in readers.into_iter().enumerate() {
            let name = format!("tokenauth-sqlite-reader-{index}");
            threads.push(spawn(&name, reader, readers_rx.clone(), false)?);
        }
        Ok(Self {
            writer: writer_tx,
            readers: readers_tx,
            reader_count,
            threads: Mutex::new(threads),
        })
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

    /// Lets queued work finish, then closes every connection and joins the threads.
    pub(super) fn stop(&self) {
        let Ok(mut threads) = self.threads.lock() else {
            return;
        };
        if threads.is_empty() {
            return;
        }
        let _ = self.writer.send(Message::Stop);
        for _ in 0..self.reader_count {
            let _ = self.readers.send(Message::Stop);
        }
        for thread in threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a SQLite worker thread panicked");
            }
        }
    }
}

async fn submit<T, F>(queue: &flume::Sender<Message>, work: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        let _ = reply.send(work(conn));
    });
    queue
        .send(Message::Run(job))
        .map_err(|_| StoreError::Unavailable("database is closed".into()))?;
    answer
        .await
        .map_err(|_| StoreError::Unavailable("database worker stopped".into()))?
}

fn spawn(
    name: &str,
    mut conn: Connection,
    queue: flume::Receiver<Message>,
    is_writer: bool,
) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            while let Ok(Message::Run(job)) = queue.recv() {
                job(&mut conn);
            }
            if is_writer {
                // Leave a compact file behind: fold the WAL into the database.
                let _ = conn.pragma_update(None, "optimize", "");
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            }
            if let Err((_, error)) = conn.close() {
                tracing::error!(%error, "closing a SQLite connection failed");
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("cannot start database thread: {e}")))
}
