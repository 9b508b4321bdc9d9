//! One run: every client steps as fast as the server answers, through a warm-up and then a
//! fixed measured window; their records are merged at the end.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::progress::Progress;
use crate::recorder::{Recorder, Tally};
use crate::scenario::Client;

/// How long a run lasts.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    /// Load before measuring, not counted.
    pub warmup: Duration,
    /// The measured window.
    pub measure: Duration,
}

/// What one run measured.
pub struct RunRecord {
    /// Every measured request's latency and error.
    pub tally: Tally,
    /// From the window's start to the last measured answer.
    pub elapsed: Duration,
}

/// Runs `clients` through `phases`, showing progress under `label`. The clients come back
/// with their state (tokens, positions) for the next run.
///
/// # Errors
/// If a client task panics.
pub async fn run(
    clients: Vec<Client>,
    phases: Phases,
    label: String,
) -> anyhow::Result<(Vec<Client>, RunRecord)> {
    let sent = Arc::new(AtomicU64::new(0));
    let measure_from = Instant::now() + phases.warmup;
    let end = measure_from + phases.measure;
    let progress = Progress::start(label, sent.clone(), measure_from);
    let mut tasks = Vec::with_capacity(clients.len());
    for mut client in clients {
        let mut recorder = Recorder::new(measure_from, sent.clone())?;
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                client.step(&mut recorder).await;
            }
            (client, recorder.finish())
        }));
    }
    let mut clients = Vec::with_capacity(tasks.len());
    let mut tally = Tally::empty()?;
    for task in tasks {
        let (client, record) = task.await.context("a load client failed")?;
        clients.push(client);
        tally.merge(record);
    }
    let elapsed = measure_from.elapsed();
    progress.finish();
    Ok((clients, RunRecord { tally, elapsed }))
}
