//! `tokenauth db copy --from URL --to URL`: moves a deployment to another database (SQLite to
//! PostgreSQL above all) with [`copy_database`], showing progress on stderr and printing a
//! verified summary on stdout. Signing keys stay sealed under the same master key, so the new
//! deployment must be started with the same `TOKENAUTH_MASTER_KEY` (or `master.key`).

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use tokenauth_core::store::{CopyProgress, CopySummary, Table, copy_database};

use crate::cli::db::{Database, DbCommandError, require_current};
use crate::config::{Config, ConfigError, DatabaseUrl};

/// How often the progress line is redrawn on a terminal.
const TERMINAL_INTERVAL: Duration = Duration::from_millis(250);
/// How often a progress line is written when stderr is a file or a pipe.
const LOG_INTERVAL: Duration = Duration::from_secs(2);

/// What `tokenauth db copy` was asked to do.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    /// The database to copy from, as given to `--from`.
    pub from: String,
    /// The database to copy into, as given to `--to`.
    pub to: String,
    /// Rows per transaction on the target.
    pub batch_size: u32,
    /// Print the summary as JSON.
    pub json: bool,
}

/// Runs `tokenauth db copy`. The source is opened as it is and must be at this build's schema
/// version; the target is created and migrated if needed and must hold no row.
///
/// # Errors
/// A [`ConfigError`] (exit 2) for a malformed URL or the same database on both sides; any
/// failure to open either database, a non-empty target, a failed batch or a failed count
/// verification (exit 1).
pub async fn copy(config: &Config, request: &CopyRequest) -> anyhow::Result<()> {
    let from = parse_url("--from", &request.from)?;
    let to = parse_url("--to", &request.to)?;
    if from == to {
        return Err(ConfigError {
            setting: "--to",
            reason: "names the same database as --from".into(),
        }
        .into());
    }
    let source =
        Database::open_as_is(&from, config)
            .await
            .map_err(|error| DbCommandError::Unreachable {
                database: from.to_string(),
                error,
            })?;
    let version = source.lifecycle().schema_version().await;
    let expected = source.lifecycle().expected_schema_version();
    let current = version
        .map_err(|error| DbCommandError::Unreachable {
            database: from.to_string(),
            error,
        })
        .and_then(|version| require_current(&from, version, expected));
    if let Err(error) = current {
        source.lifecycle().close().await;
        return Err(error.into());
    }
    let target = match Database::open_migrated(&to, config).await {
        Ok(target) => target,
        Err(error) => {
            source.lifecycle().close().await;
            return Err(error.context(format!("opening target database {to}")));
        }
    };

    eprintln!("tokenauth: copying {from} to {to}");
    let started = Instant::now();
    let mut progress = StderrProgress::new();
    let copied = copy_database(
        source.transfer(),
        target.transfer(),
        request.batch_size,
        &mut progress,
    )
    .await;
    source.lifecycle().close().await;
    target.lifecycle().close().await;
    let summary = copied?;
    print_summary(&from, &to, &summary, started.elapsed(), request.json)
}

fn parse_url(flag: &'static str, url: &str) -> Result<DatabaseUrl, ConfigError> {
    url.parse::<DatabaseUrl>().map_err(|error| ConfigError {
        setting: flag,
        reason: error.reason,
    })
}

fn print_summary(
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    summary: &CopySummary,
    elapsed: Duration,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let rows: serde_json::Map<String, serde_json::Value> = summary
            .tables
            .iter()
            .map(|t| (t.table.name().to_owned(), t.target_rows.into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "from": from.to_string(), "to": to.to_string(), "rows": rows,
                "verified": true, "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            })
        );
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "copied {from} to {to} in {:.1} s",
        elapsed.as_secs_f64()
    )?;
    writeln!(out, "{:<16} {:>12}", "TABLE", "ROWS")?;
    for table in &summary.tables {
        writeln!(out, "{:<16} {:>12}", table.table.name(), table.target_rows)?;
    }
    writeln!(
        out,
        "verified: every table holds as many rows in the target as in the source"
    )?;
    Ok(())
}

/// Shows copy progress on stderr: one line redrawn every 250 ms on a terminal, otherwise a line
/// every few seconds, and always a final line per table.
struct StderrProgress {
    terminal: bool,
    interval: Duration,
    last: Instant,
}

impl StderrProgress {
    fn new() -> Self {
        let terminal = std::io::stderr().is_terminal();
        Self {
            terminal,
            interval: if terminal {
                TERMINAL_INTERVAL
            } else {
                LOG_INTERVAL
            },
            last: Instant::now(),
        }
    }

    fn show(&mut self, table: Table, copied: u64, total: u64, done: bool) {
        let percent = copied.saturating_mul(100).checked_div(total).unwrap_or(100);
        let line = format!(
            "  {:<16} {copied:>10} / {total} rows ({percent}%)",
            table.name()
        );
        let mut err = std::io::stderr().lock();
        // Progress is best effort: a closed stderr must not stop the copy.
        let _ = match (self.terminal, done) {
            (true, false) => write!(err, "\r\x1b[2K{line}"),
            (true, true) => writeln!(err, "\r\x1b[2K{line}"),
            (false, _) => writeln!(err, "{line}"),
        };
        let _ = err.flush();
        self.last = Instant::now();
    }
}

impl CopyProgress for StderrProgress {
    fn table_started(&mut self, table: Table, total: u64) {
        if self.terminal {
            self.show(table, 0, total, false);
        } else {
            self.last = Instant::now();
        }
    }

    fn rows_copied(&mut self, table: Table, copied: u64, total: u64) {
        if self.last.elapsed() >= self.interval && copied < total {
            self.show(table, copied, total, false);
        }
    }

    fn table_finished(&mut self, table: Table, copied: u64) {
        self.show(table, copied, copied, true);
    }
}
