//! The progress line on stderr: once a second, the requests so far and the current rate.
//! Rewritten in place on a terminal, one line per second otherwise (logs, CI).

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// A running progress reporter; stop it with [`Progress::finish`].
pub struct Progress {
    task: JoinHandle<()>,
    on_terminal: bool,
}

impl Progress {
    /// Starts printing `label`, the phase (warm-up until `measure_from`, then measuring) and the
    /// count in `sent` once a second.
    pub fn start(label: String, sent: Arc<AtomicU64>, measure_from: Instant) -> Self {
        let on_terminal = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.tick().await;
            let mut last = (Instant::now(), 0u64);
            loop {
                ticker.tick().await;
                let now = Instant::now();
                let count = sent.load(Ordering::Relaxed);
                let rate = (count - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                last = (now, count);
                let phase = if now < measure_from {
                    "warm-up"
                } else {
                    "measuring"
                };
                let line = format!("{label} {phase}: {count} requests, {rate:.0} req/s");
                if on_terminal {
                    eprint!("\r\x1b[2K{line}");
                } else {
                    eprintln!("{line}");
                }
            }
        });
        Self { task, on_terminal }
    }

    /// Stops the line (and ends it, on a terminal).
    pub fn finish(self) {
        self.task.abort();
        if self.on_terminal {
            eprintln!();
        }
    }
}

/// Says `line` on stderr: setup steps and the like, between progress lines.
pub fn note(line: &str) {
    eprintln!("{line}");
}
