//! `GET /metrics` of the real `tokenauth` binary after a known flow: each process has its own
//! recorder, so the counters are exact (in-process tests share one recorder per process).

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::PASSWORD;
use common::process::{Server, send, workdir};
use serde_json::json;
use tokenauth_store::postgres::test_schema::TestSchema;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One scrape: every sample by its name and sorted labels, e.g.
/// `tokenauth_logins_total{result="ok"}`.
struct Scrape {
    samples: BTreeMap<String, f64>,
    text: String,
}

impl Scrape {
    async fn of(server: &Server) -> Self {
        let response = server
            .client
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.unwrap();
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("name and value");
                (canonical(series), value.parse().expect("a number"))
            })
            .collect();
        Self { samples, text }
    }

    /// The value of `name` with exactly `labels`; panics with the scrape if absent.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let key = key(name, labels);
        *self
            .samples
            .get(&key)
            .unwrap_or_else(|| panic!("no sample {key} in:\n{}", self.text))
    }

    /// The value, or 0 when the series was never recorded.
    fn value_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples.get(&key(name, labels)).copied().unwrap_or(0.0)
    }

    /// How much `name` with exactly `labels` grew since `before` (where it may be unrecorded).
    fn delta_since(&self, before: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels) - before.value_or_zero(name, labels)
    }

    fn has_metric(&self, name: &str) -> bool {
        self.samples
            .keys()
            .any(|key| key == name || key.starts_with(&format!("{name}{{")))
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<_> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    labels.sort();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

/// `name{b="2",a="1"}` → `name{a="1",b="2"}` (no label value here holds a comma or quote).
fn canonical(series: &str) -> String {
    match series.split_once('{') {
        None => series.to_owned(),
        Some((name, labels)) => {
            let mut labels: Vec<_> = labels.trim_end_matches('}').split(',').collect();
            labels.sort_unstable();
            format!("{name}{{{}}}", labels.join(","))
        }
    }
}

const REQUESTS: &str = "tokenauth_http_requests_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_a_flow_shows_what_happened() {
    let (_temp, dir) = workdir();
    // A 1 s grace: a retry at once is a benign replay, the same token a second later is theft.
    let server = Server::start_with(&dir, |c| {
        c.args(["--refresh-reuse-grace", "1s"]);
    })
    .await;
    let after = flow_and_scrape(server).await;
    // The SQLite writer and its two readers.
    assert_eq!(after.value("tokenauth_db_pool_max_connections", &[]), 3.0);
    assert_eq!(after.value("tokenauth_db_queued_writes", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_a_flow_on_postgres_shows_what_happened() {
    let Some(schema) = TestSchema::create("a_scrape_after_a_flow_on_postgres").await else {
        return;
    };
    let server = Server::start_on(
        &schema.url(),
        &[
            "--refresh-reuse-grace",
            "1s",
            "--database-max-connections",
            "5",
        ],
    )
    .await;
    let after = flow_and_scrape(server).await;
    // deadpool's figures; SQLite's write queue does not exist here.
    assert_eq!(after.value("tokenauth_db_pool_max_connections", &[]), 5.0);
    let open = after.value("tokenauth_db_pool_connections", &[]);
    assert!((1.0..=5.0).contains(&open), "{open}");
    assert!(!after.has_metric("tokenauth_db_queued_writes"));
}

/// A session id no session has, revoked in the flow: its route's label must be the template.
const UNKNOWN_SESSION: &str = "01a225c0-e231-7300-b8f7-7c8f10052032";

/// Runs a known flow against `server` (with a 1 s reuse grace), checks what every domain and
/// request metric says about it, stops the server and returns the last scrape.
async fn flow_and_scrape(server: Server) -> Scrape {
    let before = Scrape::of(&server).await;
    // Nothing was counted before the flow but the readiness polls and this scrape.
    assert_eq!(
        before.value_or_zero("tokenauth_logins_total", &[("result", "ok")]),
        0.0
    );

    let first = run_the_flow(&server).await;
    let after = Scrape::of(&server).await;
    assert_domain_counters(&before, &after);
    assert_request_counters(&before, &after);
    assert_latency_and_gauges(&after);
    // Nothing secret is a label.
    assert!(!after.text.contains(PASSWORD));
    assert!(!after.text.contains("metrics@example.com"));
    assert!(!after.text.contains(&first));
    server.stop();
    after
}

/// The known flow: a sign-up, a login and two failed ones, a rotation of the login's refresh
/// token, its replay within the grace and its reuse after it, an unknown refresh token, the
/// sign-up's logout, a revocation (refused) of [`UNKNOWN_SESSION`] with the logged-out token,
/// and two unmatched paths. The login's first refresh token.
async fn run_the_flow(server: &Server) -> String {
    let signup = server.signup("metrics@example.com").await;
    let (status, login) = server.login("metrics@example.com").await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        let wrong = json!({"email": "metrics@example.com", "password": "not the password at all"});
        assert_eq!(server.post("/v1/login", wrong, None).await.0, 401);
    }
    let first = login["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = server.refresh(&first).await;
    assert_eq!(status, 200);
    // The same token again at once: within the grace window, the same successor comes back.
    let (status, replayed) = server.refresh(&first).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["refresh_token"], rotated["refresh_token"]);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, reused) = server.refresh(&first).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (401, Some("refresh_token_reused"))
    );
    assert_eq!(server.refresh("A".repeat(43)).await.0, 401);
    // The sign-up's session logs out.
    let token = signup["access_token"].as_str().unwrap();
    let logout = server
        .client
        .post(server.url("/v1/logout"))
        .bearer_auth(token);
    assert_eq!(send(logout).await.0, 204);
    // A route with a parameter, and paths no route matches.
    let revoke = server
        .client
        .delete(server.url(&format!("/v1/sessions/{UNKNOWN_SESSION}")))
        .bearer_auth(token);
    send(revoke).await;
    for path in ["/no/such/path/1", "/no/such/path/2"] {
        assert_eq!(server.get(path, None).await.0, 404);
    }
    first
}

/// The flow's sign-up, logins, refreshes by outcome, detected reuse and revocations by
/// reason, counted exactly between `before` and `after`.
fn assert_domain_counters(before: &Scrape, after: &Scrape) {
    let delta = |name: &str, labels: &[(&str, &str)]| after.delta_since(before, name, labels);
    assert_eq!(delta("tokenauth_signups_total", &[("result", "ok")]), 1.0);
    assert_eq!(delta("tokenauth_logins_total", &[("result", "ok")]), 1.0);
    assert_eq!(
        delta("tokenauth_logins_total", &[("result", "failed")]),
        2.0
    );
    let refreshes = "tokenauth_refreshes_total";
    assert_eq!(delta(refreshes, &[("outcome", "rotated")]), 1.0);
    assert_eq!(delta(refreshes, &[("outcome", "replayed")]), 1.0);
    assert_eq!(delta(refreshes, &[("outcome", "reused")]), 1.0);
    assert_eq!(delta(refreshes, &[("outcome", "unknown")]), 1.0);
    assert_eq!(delta("tokenauth_refresh_reuse_detected_total", &[]), 1.0);
    let revocations = "tokenauth_session_revocations_total";
    assert_eq!(
        delta(revocations, &[("reason", "refresh_token_reused")]),
        1.0
    );
    assert_eq!(delta(revocations, &[("reason", "logout")]), 1.0);
}

/// The flow's requests counted by route template, method and status between `before` and
/// `after`: the template, never the session id; the raw unmatched paths not at all.
fn assert_request_counters(before: &Scrape, after: &Scrape) {
    let delta = |name: &str, labels: &[(&str, &str)]| after.delta_since(before, name, labels);
    let login_route = |status| {
        [
            ("route", "/v1/login"),
            ("method", "POST"),
            ("status", status),
        ]
    };
    assert_eq!(delta(REQUESTS, &login_route("200")), 1.0);
    assert_eq!(delta(REQUESTS, &login_route("401")), 2.0);
    let refresh_route = |status| {
        [
            ("route", "/v1/refresh"),
            ("method", "POST"),
            ("status", status),
        ]
    };
    assert_eq!(delta(REQUESTS, &refresh_route("200")), 2.0);
    assert_eq!(delta(REQUESTS, &refresh_route("401")), 2.0);
    let signup_route = [
        ("route", "/v1/signup"),
        ("method", "POST"),
        ("status", "201"),
    ];
    assert_eq!(delta(REQUESTS, &signup_route), 1.0);
    let by_template = [
        ("route", "/v1/sessions/{id}"),
        ("method", "DELETE"),
        ("status", "401"),
    ];
    assert_eq!(
        delta(REQUESTS, &by_template),
        1.0,
        "the logged-out token is refused"
    );
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(delta(REQUESTS, &unmatched), 2.0);
    assert!(
        !after.text.contains(UNKNOWN_SESSION),
        "a raw path is a label:\n{}",
        after.text
    );
    assert!(
        !after.text.contains("/no/such"),
        "a raw path is a label:\n{}",
        after.text
    );
}

/// In `after`: the login's latency histogram by route and method, no hash waiting or
/// running, every gauge present, the two revoked sessions in memory, no audit write failure.
fn assert_latency_and_gauges(after: &Scrape) {
    let duration = "tokenauth_http_request_duration_seconds";
    let login_timing = [("route", "/v1/login"), ("method", "POST")];
    assert_eq!(
        after.value(&format!("{duration}_count"), &login_timing),
        3.0
    );
    let inf = [("route", "/v1/login"), ("method", "POST"), ("le", "+Inf")];
    assert_eq!(after.value(&format!("{duration}_bucket"), &inf), 3.0);
    let fast = [("route", "/v1/login"), ("method", "POST"), ("le", "0.001")];
    assert!(after.value(&format!("{duration}_bucket"), &fast) <= 3.0);

    // Gauges: nothing hashing now.
    assert_eq!(after.value("tokenauth_password_hash_queue_depth", &[]), 0.0);
    assert_eq!(after.value("tokenauth_password_hashes_in_flight", &[]), 0.0);
    for gauge in [
        "tokenauth_db_pool_connections",
        "tokenauth_db_pool_idle_connections",
        "tokenauth_db_pool_waiting",
        "tokenauth_http_requests_in_flight",
        "tokenauth_revoked_sessions_in_memory",
        "tokenauth_revocation_feed_applied_seq",
        "tokenauth_signing_keys_published",
        "tokenauth_signing_key_info",
        "tokenauth_audit_write_failures_total",
        "tokenauth_build_info",
    ] {
        assert!(after.has_metric(gauge), "no {gauge} in:\n{}", after.text);
    }
    assert_eq!(
        after.value("tokenauth_revoked_sessions_in_memory", &[]),
        2.0
    );
    assert_eq!(
        after.value("tokenauth_audit_write_failures_total", &[]),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_off_serves_no_metrics() {
    let (_temp, dir) = workdir();
    let server = Server::start_with(&dir, |c| {
        c.env("TOKENAUTH_METRICS", "off");
    })
    .await;
    let (status, body) = server.get("/metrics", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    server.stop();
}

/// The threads of process `pid` now, from `/proc/<pid>/status`.
fn threads_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .expect("a Threads line")
        .trim()
        .parse()
        .unwrap()
}

/// Waits (up to 60 s) until no password hash is waiting or running.
async fn wait_until_no_hash(server: &Server) -> Scrape {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let scrape = Scrape::of(server).await;
        let queued = scrape.value("tokenauth_password_hash_queue_depth", &[]);
        let running = scrape.value("tokenauth_password_hashes_in_flight", &[]);
        if queued == 0.0 && running == 0.0 {
            return scrape;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "hashes never ended: {queued} queued, {running} running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What bounds each instance's hashing in the hang-up tests: one slot, a queue of two, and no
/// per-address limit (the flood comes from one address). No lock-out either: its reservation is
/// a durable write before each hash (an fsync on SQLite), so the logins of a burst reached the
/// hasher one write apart, and on a busy disk the first hash could end before the fourth login
/// arrived, which then took the freed place (the burst asserts how many are refused).
const HANG_UP_FLOOD_ARGS: [&str; 8] = [
    "--password-hash-concurrency",
    "1",
    "--password-hash-queue",
    "2",
    "--rate-limit-login",
    "off",
    "--login-max-failures",
    "0",
];

/// Issue 15: logins whose clients hang up 5 ms after sending used to give their hashing place
/// back while the hash ran on, so each one started another ~19 MiB hash on another blocking
/// thread (80 threads and 1.2 GiB with one hashing slot) while the gauges read 0. Now a hash
/// holds its place until it ends: the threads stay bounded, the gauges never pass the bound,
/// and what is refused is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_cannot_bypass_the_hashing_bound() {
    let (_temp, dir) = workdir();
    let server = Server::start_with(&dir, |c| {
        c.args(HANG_UP_FLOOD_ARGS);
    })
    .await;
    hang_up_flood_stays_within_the_bound(&[&server]).await;
    server.stop();
}

/// The same flood spread over two instances on one PostgreSQL database: each instance's bound
/// holds for its own hashes whatever the other does (the bound is per process; the shared
/// database adds no way around it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_cannot_bypass_the_hashing_bound_of_two_postgres_instances() {
    let Some(schema) = TestSchema::create("hang_up_flood_two_instances").await else {
        return;
    };
    let first = Server::start_on(&schema.url(), &HANG_UP_FLOOD_ARGS).await;
    let second = Server::start_on(&schema.url(), &HANG_UP_FLOOD_ARGS).await;
    hang_up_flood_stays_within_the_bound(&[&first, &second]).await;
    first.stop();
    second.stop();
}

/// Floods `servers` (each started with [`HANG_UP_FLOOD_ARGS`]) in turn with logins that hang up
/// 5 ms after sending, checking each one's threads and gauges, then sends each a burst larger
/// than its bound and checks that every refusal is counted.
async fn hang_up_flood_stays_within_the_bound(servers: &[&Server]) {
    let login = |i: usize| {
        // A new unknown address each time (checked against the dummy hash): no lock-out.
        let body = json!({"email": format!("flood-{i}@example.com"), "password": PASSWORD});
        let body = body.to_string();
        format!(
            "POST /v1/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let baselines: Vec<u64> = servers.iter().map(|s| threads_of(s.pid())).collect();

    // The flood: each client sends a login and hangs up 5 ms later, before any hash can end.
    let mut peaks = baselines.clone();
    for i in 0..24 * servers.len() {
        let index = i % servers.len();
        let server = servers[index];
        let address = format!("127.0.0.1:{}", server.port);
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream.write_all(login(i).as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(stream);
        peaks[index] = peaks[index].max(threads_of(server.pid()));
        let scrape = Scrape::of(server).await;
        let running = scrape.value("tokenauth_password_hashes_in_flight", &[]);
        let queued = scrape.value("tokenauth_password_hash_queue_depth", &[]);
        assert!(running <= 1.0, "{running} hashes running with one slot");
        assert!(queued <= 2.0, "{queued} hashes waiting with a queue of 2");
    }
    for (index, server) in servers.iter().enumerate() {
        let peak = peaks[index].max(threads_of(server.pid()));
        // One hashing thread exists from the start; nothing else may pile up (main reached
        // baseline + 20 here: one blocking thread per abandoned hash).
        assert!(
            peak <= baselines[index] + 3,
            "threads grew from {} to {peak} under the flood",
            baselines[index]
        );
        wait_until_no_hash(server).await;
    }

    // More clients at once than one slot and a queue of two hold: the rest are refused, and
    // every refusal is counted.
    for server in servers {
        let before = Scrape::of(server).await;
        // The logins must reach the hasher together, within one hash, for the refusals to
        // show the bound: every connection is open before the first login is written, the
        // logins go out back to back, and their emails cannot be addresses, which the server
        // hashes like any unknown email (the same work, by design) without looking them up.
        // Sent as separate requests with real addresses, connection set-ups and lookups (on
        // PostgreSQL, another process's) spread them wider than a hash on a loaded machine, and
        // a login arriving after the first hash ended took the place it freed.
        // Even so, on a loaded CI machine 4 of 8 once got a place (a hash ended inside the
        // burst), so the burst is 32: refusing fewer than 5 would take 28 admitted, over nine
        // hash times.
        let address = format!("127.0.0.1:{}", server.port);
        let mut burst = Vec::new();
        for _ in 0..32 {
            burst.push(TcpStream::connect(&address).await.unwrap());
        }
        for (i, stream) in burst.iter_mut().enumerate() {
            let body = json!({"email": format!("burst-{i}"), "password": PASSWORD});
            let body = body.to_string();
            let request = format!(
                "POST /v1/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 connection: close\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).await.unwrap();
        }
        let mut statuses = Vec::new();
        for mut stream in burst {
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            let answer = String::from_utf8_lossy(&answer);
            let status = answer.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok());
            statuses.push(status.unwrap_or_else(|| panic!("no status in {answer:?}")));
        }
        let refused = statuses.iter().filter(|status| **status == 503).count();
        assert!(refused >= 5, "32 logins against 3 places: {statuses:?}");
        let after = wait_until_no_hash(server).await;
        let rejected = "tokenauth_password_hash_rejected_total";
        assert_eq!(
            after.value(rejected, &[]) - before.value(rejected, &[]),
            refused as f64,
            "every 503 is a counted rejection"
        );
    }
}
