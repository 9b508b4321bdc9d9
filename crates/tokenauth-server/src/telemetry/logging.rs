//! The process's log output: the filter (with the targets that must never log at debug) and
//! the lossy writer, in text or JSON.

use crate::config::LogFormat;
use crate::telemetry::log_sink::LossyStderr;

/// Targets held at `info` whatever `RUST_LOG` asks: at `debug` tokio-postgres logs every
/// statement's parameters, which include password hashes, emails and client addresses.
const QUIET_TARGETS: [&str; 2] = ["tokio_postgres=info", "tokio_postgres::query=info"];

/// Installs the process's log subscriber: `RUST_LOG` (default `info`) in `format`, written
/// to stderr through [`LossyStderr`].
pub fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for directive in QUIET_TARGETS {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    // A line that cannot be written is lost and counted, never an error in the request that
    // logged it (tracing-subscriber's own report of a failed write would panic).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LossyStderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
