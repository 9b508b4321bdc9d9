//! The result of a benchmark: each run's figures and the median of each figure over the runs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ceiling::Ceiling;
use crate::flood::FloodSummary;
use crate::load::RunRecord;
use crate::options::{Backend, Options, Scenario};
use crate::recorder::Latency;

/// What one measured run gave.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Requests sent inside the measured window.
    pub requests: u64,
    /// Length of the window, to the last answer, in seconds.
    pub seconds: f64,
    /// Requests a second.
    pub throughput: f64,
    /// Latency percentiles.
    pub latency: Latency,
    /// Failed requests by status code (or `transport`, `bad_body`).
    pub errors: BTreeMap<String, u64>,
    /// For `mixed`: the figures of each kind of request (`login`, `refresh`, `verify`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_kind: BTreeMap<String, KindSummary>,
    /// For `login-flood-disconnect`: what the flood did and the footprint it left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood: Option<FloodSummary>,
}

/// One kind of request within a mixed run.
#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    /// Requests of this kind in the measured window.
    pub requests: u64,
    /// Requests of this kind a second.
    pub throughput: f64,
    /// Their latency percentiles.
    pub latency: Latency,
}

impl RunSummary {
    /// Summarises a run's record.
    pub fn from_record(record: &RunRecord) -> Self {
        let requests = record.tally.requests();
        let seconds = record.elapsed.as_secs_f64().max(1e-9);
        let by_kind = record
            .tally
            .kinds()
            .map(|(kind, requests, latency)| {
                let figures = KindSummary {
                    requests,
                    throughput: requests as f64 / seconds,
                    latency,
                };
                (kind.to_owned(), figures)
            })
            .collect();
        Self {
            requests,
            seconds,
            throughput: requests as f64 / seconds,
            latency: record.tally.latency(),
            errors: record.tally.errors().clone(),
            by_kind,
            flood: None,
        }
    }
}

/// The median over the runs, taken figure by figure.
#[derive(Debug, Clone, Serialize)]
pub struct Median {
    /// Requests a second.
    pub throughput: f64,
    /// Latency percentiles.
    pub latency: Latency,
    /// For `mixed`: each kind's median figures (throughput and latency).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_kind: BTreeMap<String, KindMedian>,
}

/// The median figures of one kind of request over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct KindMedian {
    /// Requests of this kind a second.
    pub throughput: f64,
    /// Their latency percentiles.
    pub latency: Latency,
}

/// Where the load went.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// The scenario.
    pub scenario: Scenario,
    /// The in-process server's backend; `None` for `--target`.
    pub backend: Option<Backend>,
    /// The server's base URL.
    pub target: String,
    /// Sessions preloaded before the runs.
    pub preload: u64,
    /// Seconds the preload took.
    pub preload_seconds: f64,
    /// Signing algorithm of the in-process server; `None` for `--target`.
    pub alg: Option<String>,
    /// Concurrent clients.
    pub clients: usize,
    /// Argon2 hashes the in-process server ran at once; `None` for the server's default or a
    /// `--target`.
    pub hash_threads: Option<usize>,
    /// SQLite `synchronous` mode of the in-process server when given (`None`: the server's
    /// default, `full`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlite_synchronous: Option<String>,
    /// Distinct access tokens each `verify`/`me` client cycles through.
    pub tokens_per_client: usize,
    /// Threads of the load generator.
    pub client_threads: usize,
    /// Warm-up before each run, in seconds.
    pub warmup_seconds: f64,
    /// Measured window of each run, in seconds.
    pub duration_seconds: f64,
    /// Measured runs.
    pub runs: usize,
    /// Cores of the machine (shared by the server and the load generator in-process).
    pub cores: usize,
}

impl Setup {
    /// The setup `options` describe, against `target`.
    pub fn new(options: &Options, target: &str, preload_seconds: f64) -> Self {
        let in_process = options.target.is_none();
        Self {
            scenario: options.scenario,
            backend: in_process.then_some(options.backend),
            target: target.to_owned(),
            preload: options.preload,
            preload_seconds,
            alg: in_process.then(|| options.alg.clone()),
            clients: options.clients,
            hash_threads: in_process.then(|| options.hash_threads()).flatten(),
            sqlite_synchronous: options.sqlite_synchronous.clone(),
            tokens_per_client: options.tokens_per_client,
            client_threads: options.client_threads,
            warmup_seconds: options.warmup.as_secs_f64(),
            duration_seconds: options.duration.as_secs_f64(),
            runs: options.runs,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// A whole benchmark: setup, runs, medians, errors and, for Argon2-bound scenarios, the ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was loaded and how.
    pub setup: Setup,
    /// Each run, in order.
    pub runs: Vec<RunSummary>,
    /// The median of each figure over the runs.
    pub median: Median,
    /// Errors of every run, added up.
    pub errors: BTreeMap<String, u64>,
    /// The Argon2 ceiling, for `login` and `signup`.
    pub argon2_ceiling: Option<Ceiling>,
    /// The median throughput as a fraction of the ceiling.
    pub share_of_ceiling: Option<f64>,
}

impl Report {
    /// Puts the runs together.
    pub fn new(setup: Setup, runs: Vec<RunSummary>, ceiling: Option<Ceiling>) -> Self {
        let pick = |figure: fn(&RunSummary) -> f64| median(runs.iter().map(figure).collect());
        let median = Median {
            throughput: pick(|run| run.throughput),
            latency: Latency {
                p50_ms: pick(|run| run.latency.p50_ms),
                p90_ms: pick(|run| run.latency.p90_ms),
                p99_ms: pick(|run| run.latency.p99_ms),
                max_ms: pick(|run| run.latency.max_ms),
            },
            by_kind: kind_medians(&runs),
        };
        let mut errors = BTreeMap::new();
        for run in &runs {
            for (label, count) in &run.errors {
                *errors.entry(label.clone()).or_default() += count;
            }
        }
        let share_of_ceiling = ceiling
            .as_ref()
            .map(|ceiling| ceiling.share(median.throughput));
        Self {
            setup,
            runs,
            median,
            errors,
            argon2_ceiling: ceiling,
            share_of_ceiling,
        }
    }

    /// Failed requests over every run.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The report as one JSON object.
    ///
    /// # Errors
    /// Never in practice: every field serialises.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

/// Each kind's median figures over the runs that saw it.
fn kind_medians(runs: &[RunSummary]) -> BTreeMap<String, KindMedian> {
    let kinds: std::collections::BTreeSet<&String> =
        runs.iter().flat_map(|run| run.by_kind.keys()).collect();
    kinds
        .into_iter()
        .map(|kind| {
            let of_kind: Vec<&KindSummary> = runs
                .iter()
                .filter_map(|run| run.by_kind.get(kind))
                .collect();
            let pick = |figure: fn(&KindSummary) -> f64| {
                median(of_kind.iter().map(|k| figure(k)).collect())
            };
            let figures = KindMedian {
                throughput: pick(|k| k.throughput),
                latency: Latency {
                    p50_ms: pick(|k| k.latency.p50_ms),
                    p90_ms: pick(|k| k.latency.p90_ms),
                    p99_ms: pick(|k| k.latency.p99_ms),
                    max_ms: pick(|k| k.latency.max_ms),
                },
            };
            (kind.clone(), figures)
        })
        .collect()
}

/// The median of `values`; the mean of the middle two for an even count; 0 when empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
