//! The human form of a [`Report`]: a header, one line per run, the median, errors, and the
//! Argon2 ceiling where it bounds the scenario.

use std::fmt::Write as _;

use crate::flood::FloodSummary;
use crate::recorder::Latency;
use crate::report::{Report, Setup};

/// The report as text, ending with a newline.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", header(&report.setup));
    for (index, run) in report.runs.iter().enumerate() {
        let errors: u64 = run.errors.values().sum();
        let _ = writeln!(
            out,
            "run {:<3} {}   errors {errors}",
            index + 1,
            figures(run.throughput, &run.latency)
        );
        if let Some(flood) = &run.flood {
            let _ = writeln!(out, "        {}", flood_line(flood));
        }
    }
    let _ = writeln!(
        out,
        "median  {}",
        figures(report.median.throughput, &report.median.latency)
    );
    for (kind, median) in &report.median.by_kind {
        let _ = writeln!(
            out,
            "  {kind:<7}{}",
            figures(median.throughput, &median.latency)
        );
    }
    if report.errors.is_empty() {
        let _ = writeln!(out, "errors: none");
    } else {
        let by_status: Vec<String> = report
            .errors
            .iter()
            .map(|(label, count)| format!("{label} × {count}"))
            .collect();
        let _ = writeln!(out, "errors: {}", by_status.join(", "));
    }
    if let (Some(ceiling), Some(share)) = (&report.argon2_ceiling, report.share_of_ceiling) {
        let _ = writeln!(
            out,
            "argon2 ceiling: {} cores / {:.1} ms per hash = {:.1}/s; median {:.1}/s = {:.0}% of it",
            ceiling.cores,
            ceiling.hash_ms,
            ceiling.per_second,
            report.median.throughput,
            share * 100.0
        );
        let _ = writeln!(
            out,
            "hasher alone, {} hashes at once: {:.1}/s; median = {:.0}% of it",
            ceiling.cores,
            ceiling.parallel_per_second,
            ceiling.share_of_parallel(report.median.throughput) * 100.0
        );
    }
    out
}

fn header(setup: &Setup) -> String {
    let server = match (setup.backend, &setup.alg) {
        (Some(backend), Some(alg)) => {
            let preload = if setup.preload > 0 {
                format!(
                    ", {} sessions preloaded in {:.1} s",
                    setup.preload, setup.preload_seconds
                )
            } else {
                String::new()
            };
            let hashing = setup
                .hash_threads
                .map(|threads| format!(", {threads} hashing threads"))
                .unwrap_or_default();
            let synchronous = setup
                .sqlite_synchronous
                .as_deref()
                .map(|mode| format!(", synchronous={mode}"))
                .unwrap_or_default();
            format!(
                "in-process {} {alg}{preload}{hashing}{synchronous}",
                backend.name()
            )
        }
        _ => setup.target.clone(),
    };
    let tokens = if setup.tokens_per_client > 1 {
        format!(", {} tokens each", setup.tokens_per_client)
    } else {
        String::new()
    };
    format!(
        "{} · {server} · {} clients{tokens} ({} thread{}) on {} cores · {} × {} s after {} s warm-up",
        setup.scenario.name(),
        setup.clients,
        setup.client_threads,
        if setup.client_threads == 1 { "" } else { "s" },
        setup.cores,
        setup.runs,
        setup.duration_seconds,
        setup.warmup_seconds,
    )
}

fn figures(throughput: f64, latency: &Latency) -> String {
    format!(
        "{throughput:>9.1} req/s   p50 {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   max {:>8.2} ms",
        latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms
    )
}

/// One run's flood: what was sent and seen, and the footprint and gauges it left.
fn flood_line(flood: &FloodSummary) -> String {
    let mib = |value: Option<f64>| value.map_or("?".to_owned(), |v| format!("{v:.1} MiB"));
    let number = |value: Option<f64>| value.map_or("?".to_owned(), |v| format!("{v:.0}"));
    let answers: Vec<String> = flood
        .answers
        .iter()
        .map(|(label, count)| format!("{label} × {count}"))
        .collect();
    format!(
        "flood: {} logins in {} bursts, hung up after {} ms (answers: {}; unsent {}) · RSS {} \
         before, peak {} · peak threads {} · hashes in flight ≤ {}, queued ≤ {}, rejected {}",
        flood.logins,
        flood.bursts,
        flood.hang_up_after_ms,
        answers.join(", "),
        flood.send_failures,
        mib(flood.rss_before_mib),
        mib(flood.peak_rss_mib),
        flood
            .peak_threads
            .map_or("?".to_owned(), |threads| threads.to_string()),
        number(flood.peak_hashes_in_flight),
        number(flood.peak_hash_queue),
        number(flood.hashes_rejected),
    )
}
