//! `tokenauth serve`: the server until SIGINT or SIGTERM, then a clean stop.

use crate::config::Config;
use crate::{Application, BuildOptions};

/// Builds the server from `config` and serves until a stop signal.
///
/// # Errors
/// A server that cannot be built (database, listener, keys) or that fails while running.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let issuer = config.issuer.clone();
    let stop = shutdown_signal();
    let app = Application::build(config, BuildOptions::default()).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, %issuer, "tokenauth listening");
    app.run_until(stop).await?;
    tracing::info!("tokenauth stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM. The handlers are installed here, before the server starts
/// (a signal before then would end the process without the clean stop).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot listen for SIGINT and SIGTERM; Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutting down: finishing in-flight requests");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
