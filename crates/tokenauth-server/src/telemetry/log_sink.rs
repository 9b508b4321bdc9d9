//! Where log lines go: stderr, through a writer that never fails. A line that cannot be written
//! (a full disk behind a redirected stderr, a closed pipe) is lost and counted, and the request
//! or task that logged it goes on: logging must never fail or abort a request.
//!
//! tracing-subscriber's own writer reports a failed write with `eprintln!`, which panics when
//! stderr is what failed; the panic ended the request's connection without a response.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::fmt::MakeWriter;

/// Log lines lost to failed writes since the process started.
static LINES_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log lines lost to failed writes since the process started (the
/// `tokenauth_log_lines_dropped_total` metric).
pub fn lines_dropped() -> u64 {
    LINES_DROPPED.load(Ordering::Relaxed)
}

/// The [`MakeWriter`] of the log: stderr, failures swallowed and counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct LossyStderr;

impl<'a> MakeWriter<'a> for LossyStderr {
    type Writer = LossyWriter<io::StderrLock<'static>>;

    fn make_writer(&'a self) -> Self::Writer {
        LossyWriter(io::stderr().lock())
    }
}

/// A writer that takes every write whole: each write is one log line (the formatter writes an
/// event at once), written in full or, on any error, dropped and counted.
#[derive(Debug)]
pub struct LossyWriter<W>(pub W);

impl<W: io::Write> io::Write for LossyWriter<W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if self.0.write_all(line).is_err() {
            LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A writer whose every write fails, as a file on a full disk does.
    struct Full;

    impl io::Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(28))
        }
    }

    #[test]
    fn a_failed_write_is_counted_not_reported() {
        let before = lines_dropped();
        let mut writer = LossyWriter(Full);
        assert!(writer.write_all(b"one line\n").is_ok());
        assert!(writer.flush().is_ok());
        assert!(lines_dropped() > before);
        let mut ok = LossyWriter(Vec::new());
        assert!(ok.write_all(b"kept\n").is_ok());
        assert_eq!(ok.0, b"kept\n");
    }
}
