//! CI smoke test: every scenario runs for about a second against an in-process server and sees
//! no failed request. No timing assertions: the figures of a debug build on a shared machine
//! mean nothing.

use std::process::Command;
use std::sync::{PoisonError, RwLock};

use tokenauth_bench::{Options, Report};

/// Held shared by every scenario and alone by the flood's: its server runs in this process,
/// whose hashing gauges and RSS every concurrently running scenario would add to.
static PROCESS: RwLock<()> = RwLock::new(());

/// Runs `scenario` briefly with `extra` options and returns the report; the only scenario
/// running in this process when `alone`.
fn run_scenario(scenario: &str, extra: &[&str], alone: bool) -> Report {
    let _shared;
    let _alone;
    if alone {
        _alone = PROCESS.write().unwrap_or_else(PoisonError::into_inner);
    } else {
        _shared = PROCESS.read().unwrap_or_else(PoisonError::into_inner);
    }
    let mut args = vec![
        "tokenauth-bench",
        scenario,
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--clients",
        "4",
        "--runs",
        "1",
    ];
    args.extend_from_slice(extra);
    let options = Options::parse_from_args(args).expect("valid options");
    tokenauth_bench::run(&options).expect("the benchmark runs")
}

/// Runs `scenario` briefly with `extra` options beside any other scenario.
fn run(scenario: &str, extra: &[&str]) -> Report {
    run_scenario(scenario, extra, false)
}

fn assert_clean(report: &Report) {
    assert_eq!(report.error_count(), 0, "errors: {:?}", report.errors);
    assert_eq!(report.runs.len(), 1);
    assert!(report.runs[0].requests > 0, "no request measured");
}

#[test]
fn refresh_follows_rotation() {
    assert_clean(&run("refresh", &[]));
}

#[test]
fn refresh_with_synchronous_normal() {
    let report = run("refresh", &["--sqlite-synchronous", "normal"]);
    assert_clean(&report);
    assert_eq!(report.setup.sqlite_synchronous.as_deref(), Some("normal"));
}

#[test]
fn refresh_from_preloaded_sessions() {
    let report = run("refresh", &["--preload", "2500"]);
    assert_clean(&report);
    assert_eq!(report.setup.preload, 2500);
}

#[test]
fn me() {
    assert_clean(&run("me", &["--alg", "EdDSA"]));
}

#[test]
fn login_reports_the_argon2_ceiling() {
    let report = run("login", &[]);
    assert_clean(&report);
    let ceiling = report.argon2_ceiling.expect("login measures the ceiling");
    assert!(ceiling.per_second > 0.0);
    assert!(ceiling.parallel_per_second > 0.0);
    assert!(report.share_of_ceiling.is_some());
}

#[test]
fn signup() {
    assert_clean(&run("signup", &[]));
}

#[test]
fn mixed_reports_each_kind() {
    let report = run("mixed", &[]);
    assert_clean(&report);
    // Verifications make up 1000 of every 1021 requests, so a run always has some.
    assert!(
        report.median.by_kind.contains_key("verify"),
        "{:?}",
        report.median.by_kind.keys()
    );
}

/// Bursts of logins that hang up, beside verify clients: the verifications all succeed and
/// the flood's figures are reported, the hasher's gauges within its bound.
#[test]
fn login_flood_disconnect_reports_the_footprint() {
    let report = run_scenario(
        "login-flood-disconnect",
        &[
            "--flood",
            "20",
            "--flood-every",
            "500ms",
            "--password-hash-concurrency",
            "1",
        ],
        true,
    );
    assert_clean(&report);
    let flood = report.runs[0].flood.as_ref().expect("a flood summary");
    assert!(flood.bursts >= 1, "{flood:?}");
    assert_eq!(flood.logins, flood.bursts * 20);
    assert_eq!(flood.send_failures, 0, "{flood:?}");
    assert!(flood.peak_rss_mib.is_some_and(|mib| mib > 0.0), "{flood:?}");
    assert!(flood.peak_threads.is_some(), "{flood:?}");
    // One hashing slot, the server's default queue of 64.
    assert!(
        flood.peak_hashes_in_flight.is_some_and(|n| n <= 1.0),
        "{flood:?}"
    );
    assert!(
        flood.peak_hash_queue.is_some_and(|n| n <= 64.0),
        "{flood:?}"
    );
}

/// `bench-tokens`: real tokens and the JWKS written for the peers, and every token accepted by
/// both Rust verifiers.
#[test]
fn exports_tokens_for_the_peers() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = tokenauth_bench::export::ExportOptions {
        count: 5,
        out: dir.path().to_path_buf(),
        alg: "ES256".into(),
        verify_for: std::time::Duration::from_millis(50),
    };
    let report = tokenauth_bench::export::run(&options).expect("the export runs");
    assert_eq!(report.count, 5);
    assert_eq!(report.verify_per_second.len(), 2);
    let tokens = std::fs::read_to_string(dir.path().join("tokens.txt")).expect("tokens.txt");
    let tokens: Vec<&str> = tokens.lines().collect();
    assert_eq!(tokens.len(), 5);
    let distinct: std::collections::HashSet<&str> = tokens.iter().copied().collect();
    assert_eq!(distinct.len(), 5, "every token is a new one");
    let jwks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("jwks.json")).expect("jwks.json"),
    )
    .expect("the JWKS is JSON");
    assert_eq!(jwks["keys"][0]["kty"], "EC");
}

/// The binary end to end: `verify` with `--json` prints one JSON object and exits 0.
#[test]
fn verify_through_the_binary_with_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_tokenauth-bench"))
        .args([
            "verify",
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--clients",
            "4",
            "--runs",
            "1",
            "--json",
        ])
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    assert_eq!(report["setup"]["scenario"], "verify");
    assert_eq!(report["errors"], serde_json::json!({}));
    assert!(report["median"]["throughput"].as_f64().expect("a number") > 0.0);
}

/// Bad usage exits 2 with one line, before anything starts.
#[test]
fn conflicting_options_exit_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_tokenauth-bench"))
        .args([
            "refresh",
            "--target",
            "http://127.0.0.1:9",
            "--preload",
            "5",
        ])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
}

/// On PostgreSQL (when `TOKENAUTH_TEST_DATABASE_URL` names one): a fresh schema, a preload
/// through the bulk API, refresh chains, and the schema dropped again.
#[test]
fn refresh_on_postgres_with_preload() {
    if std::env::var(tokenauth_bench::options::DATABASE_URL_ENV).is_err() {
        // Straight to stderr: the harness captures `eprintln!` of passing tests.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: PostgreSQL tests (first: refresh_on_postgres_with_preload) need \
             TOKENAUTH_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test"
        );
        return;
    }
    let report = run("refresh", &["--backend", "postgres", "--preload", "2500"]);
    assert_clean(&report);
}
