//! The flood of `login-flood-disconnect`: bursts of logins, each on its own connection, whose
//! clients hang up a few milliseconds after sending, long before any Argon2 hash can end. It
//! runs through a run's measured window beside the verify clients, while a monitor samples the
//! process's footprint and the server's hashing gauges. Issue 15: with a hasher that gave a
//! hash's place back when its request was dropped, each burst started as many hashes as the
//! queue held, at once (~19 MiB and a thread each).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::client::Api;
use crate::connection::Target;
use crate::footprint;

/// How often the monitor samples the footprint and the gauges.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The hashing gauges and counter the monitor reads from `/metrics`.
const IN_FLIGHT: &str = "tokenauth_password_hashes_in_flight";
const QUEUE: &str = "tokenauth_password_hash_queue_depth";
const REJECTED: &str = "tokenauth_password_hash_rejected_total";

/// The shape of a flood.
#[derive(Debug, Clone, Copy)]
pub struct FloodPlan {
    /// Logins per burst, all sent at once.
    pub logins: usize,
    /// From one burst's start to the next one's.
    pub every: Duration,
    /// How long after sending a client hangs up.
    pub hang_up_after: Duration,
}

/// What one run's flood did and what it did to the server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloodSummary {
    /// Bursts sent.
    pub bursts: u64,
    /// Logins sent in all.
    pub logins: u64,
    /// Logins per burst.
    pub logins_per_burst: usize,
    /// Milliseconds after sending that each client hung up.
    pub hang_up_after_ms: f64,
    /// What the clients saw before they hung up: the status (`503` for a full hashing queue)
    /// or `none` (no answer yet: its hash was queued or running).
    pub answers: BTreeMap<String, u64>,
    /// Logins that could not even be sent (connect or write failed).
    pub send_failures: u64,
    /// This process's resident set just before the flood, in MiB (`None` off Linux).
    pub rss_before_mib: Option<f64>,
    /// Its highest resident set during the run (`VmHWM`, reset at the run's start), in MiB.
    pub peak_rss_mib: Option<f64>,
    /// The most threads it had in any sample.
    pub peak_threads: Option<u64>,
    /// The highest `tokenauth_password_hashes_in_flight` any sample saw.
    pub peak_hashes_in_flight: Option<f64>,
    /// The highest `tokenauth_password_hash_queue_depth` any sample saw.
    pub peak_hash_queue: Option<f64>,
    /// How much `tokenauth_password_hash_rejected_total` grew during the run.
    pub hashes_rejected: Option<f64>,
}

/// Floods the server at `base` with `plan`'s bursts from `start` until `end`, sampling as it
/// goes; the email addresses carry `nonce`, so that no two runs share one.
///
/// # Errors
/// If `base` is not an `http://` URL.
pub async fn run(
    base: &str,
    plan: FloodPlan,
    start: Instant,
    end: Instant,
    nonce: u64,
) -> anyhow::Result<FloodSummary> {
    let target = Target::parse(base)?;
    let metrics = Api::new(base)?;
    let rejected_before = scrape(&metrics).await.and_then(|g| g.rejected);
    tokio::time::sleep_until(start.into()).await;
    let peak_reset = footprint::reset_peak();
    let before = footprint::now();
    let mut summary = FloodSummary {
        logins_per_burst: plan.logins,
        hang_up_after_ms: plan.hang_up_after.as_secs_f64() * 1000.0,
        rss_before_mib: before.map(|f| f.rss_mib),
        ..FloodSummary::default()
    };
    let mut samples = Samples::default();
    let mut next_burst = start;
    while Instant::now() < end {
        let burst = tokio::spawn(burst(target.clone(), plan, nonce, summary.bursts));
        // Sample until the next burst is due (and while this one is under way).
        while Instant::now() < next_burst + plan.every && Instant::now() < end {
            samples.take(&metrics).await;
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        let outcome = burst.await?;
        summary.bursts += 1;
        summary.logins += plan.logins as u64;
        summary.send_failures += outcome.send_failures;
        for (label, count) in outcome.answers {
            *summary.answers.entry(label).or_default() += count;
        }
        next_burst += plan.every;
    }
    samples.take(&metrics).await;
    let after = footprint::now();
    summary.peak_rss_mib = after.filter(|_| peak_reset).map(|f| f.peak_rss_mib);
    summary.peak_threads = samples.threads;
    summary.peak_hashes_in_flight = samples.in_flight;
    summary.peak_hash_queue = samples.queue;
    let rejected_after = scrape(&metrics).await.and_then(|g| g.rejected);
    summary.hashes_rejected = rejected_after
        .zip(rejected_before)
        .map(|(after, before)| after - before);
    Ok(summary)
}

/// What one burst's clients saw.
#[derive(Default)]
struct BurstOutcome {
    answers: BTreeMap<String, u64>,
    send_failures: u64,
}

/// Sends `plan.logins` logins at once, each from its own connection that closes
/// `plan.hang_up_after` after sending.
async fn burst(target: Target, plan: FloodPlan, nonce: u64, index: u64) -> BurstOutcome {
    let mut clients = JoinSet::new();
    for n in 0..plan.logins {
        let email = format!("flood-{nonce:016x}-{index}-{n}@example.com");
        let request = login_request(target.authority(), &email);
        let (host, port) = target.address();
        let host = host.to_owned();
        clients
            .spawn(async move { send_and_hang_up(&host, port, request, plan.hang_up_after).await });
    }
    let mut outcome = BurstOutcome::default();
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(Some(label)) => *outcome.answers.entry(label).or_default() += 1,
            Ok(None) | Err(_) => outcome.send_failures += 1,
        }
    }
    outcome
}

/// A login of an unknown address: checked against the dummy hash, which costs what a real
/// account's does (and no lock-out builds up, each address being new).
fn login_request(authority: &str, email: &str) -> Vec<u8> {
    let body = serde_json::json!({"email": email, "password": crate::scenario::PASSWORD});
    let body = body.to_string();
    format!(
        "POST /v1/login HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request` on a new connection, waits `hang_up_after` for an answer and closes the
/// connection. The status seen (`none` without an answer); `None` if it could not be sent.
async fn send_and_hang_up(
    host: &str,
    port: u16,
    request: Vec<u8>,
    hang_up_after: Duration,
) -> Option<String> {
    let mut stream = TcpStream::connect((host, port)).await.ok()?;
    stream.set_nodelay(true).ok()?;
    stream.write_all(&request).await.ok()?;
    let mut head = [0u8; 12];
    let answered = tokio::time::timeout(hang_up_after, stream.read_exact(&mut head)).await;
    // `stream` is dropped here: the client hangs up.
    Some(match answered {
        // "HTTP/1.1 503"
        Ok(Ok(_)) => String::from_utf8_lossy(&head[9..12]).into_owned(),
        _ => "none".to_owned(),
    })
}

/// The highest figures the monitor has seen.
#[derive(Default)]
struct Samples {
    threads: Option<u64>,
    in_flight: Option<f64>,
    queue: Option<f64>,
}

impl Samples {
    async fn take(&mut self, metrics: &Api) {
        fn raise<T: PartialOrd + Copy>(peak: &mut Option<T>, value: Option<T>) {
            if let Some(value) = value
                && peak.is_none_or(|peak| value > peak)
            {
                *peak = Some(value);
            }
        }
        raise(&mut self.threads, footprint::now().map(|f| f.threads));
        if let Some(gauges) = scrape(metrics).await {
            raise(&mut self.in_flight, gauges.in_flight);
            raise(&mut self.queue, gauges.queue);
        }
    }
}

/// The hashing series of one `/metrics` scrape.
struct Gauges {
    in_flight: Option<f64>,
    queue: Option<f64>,
    rejected: Option<f64>,
}

/// Scrapes `/metrics`; `None` when the server serves none.
async fn scrape(metrics: &Api) -> Option<Gauges> {
    let text = metrics.get_text("/metrics").await.ok()?;
    Some(Gauges {
        in_flight: series(&text, IN_FLIGHT),
        queue: series(&text, QUEUE),
        rejected: series(&text, REJECTED),
    })
}

/// The value of the unlabelled series `name` in a Prometheus text exposition.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_unlabelled_series() {
        let text = "# HELP tokenauth_password_hashes_in_flight x\n\
                    tokenauth_password_hashes_in_flight 1\n\
                    tokenauth_password_hash_queue_depth 12\n";
        assert_eq!(series(text, IN_FLIGHT), Some(1.0));
        assert_eq!(series(text, QUEUE), Some(12.0));
        assert_eq!(series(text, REJECTED), None);
    }

    #[test]
    fn a_login_request_is_complete_http() {
        let request =
            String::from_utf8(login_request("127.0.0.1:1", "a@example.com")).expect("text");
        let (head, body) = request.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("POST /v1/login HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
    }
}
