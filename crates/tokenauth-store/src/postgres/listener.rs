//! The revocation signal on PostgreSQL: one dedicated connection that `LISTEN`s on
//! [`CHANNEL`], which every appending transaction notifies on commit. It wakes the instance's
//! feed follower at once, so a revocation made on another instance reaches this one in
//! milliseconds instead of at the next poll. Polling stays the safety net: a notification lost
//! while this connection is down only delays the revocation to the next poll, and every
//! reconnect fires the signal once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

/// The notification channel (database-wide: instances on other schemas of the same database
/// only cause a spurious, harmless read).
pub(super) const CHANNEL: &str = "tokenauth_revocations";

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The listening task and the signal it fires.
pub(super) struct Listener {
    pub(super) signal: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Starts listening on the current tokio runtime with `config`.
    pub(super) fn start(config: tokio_postgres::Config) -> Self {
        let signal = Arc::new(Notify::new());
        let task = tokio::spawn(listen(config, Arc::clone(&signal)));
        Self { signal, task }
    }

    /// Stops listening and closes the connection.
    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

async fn listen(config: tokio_postgres::Config, signal: Arc<Notify>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // The connection must be driven while LISTEN runs, and afterwards to receive.
                let driver_signal = Arc::clone(&signal);
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(AsyncMessage::Notification(_))) => {
                                driver_signal.notify_one();
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => return,
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        // Whatever was appended while we were not listening.
                        signal.notify_one();
                        let _ = driver.await;
                        tracing::warn!("revocation listener connection lost; reconnecting");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "LISTEN for revocations failed");
                        driver.abort();
                    }
                }
                drop(client);
            }
            Err(error) => {
                tracing::warn!(%error, "revocation listener cannot connect; polling meanwhile");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
