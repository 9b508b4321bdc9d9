//! Crash safety: the real binary is killed with SIGKILL in the middle of a load of sign-ups and
//! refreshes, then restarted on the same data. Every acknowledged sign-up and refresh must be
//! there, the SQLite file must pass its integrity check, and every refresh-token family must
//! still have exactly one way forward.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{Server, workdir};
use serde_json::{Value, json};
use tokenauth_store::SqliteStore;
use tokio::task::JoinHandle;

/// What the load saw acknowledged before the crash.
#[derive(Default)]
struct Acknowledged {
    /// Emails whose sign-up answered 201.
    signups: Vec<String>,
    /// For each refresh chain: the newest refresh token an answer carried.
    chains: Vec<Arc<Mutex<String>>>,
    refreshes: usize,
}

const CHAINS: usize = 6;
const SIGNUP_WORKERS: usize = 2;

/// The load is shared with the tasks that run it.
type Shared = Arc<Mutex<Acknowledged>>;

/// A long grace window: a refresh that committed but whose answer was lost in the crash makes
/// the last acknowledged token the previous one, which must then replay, not count as theft.
fn configure(c: &mut std::process::Command) {
    c.args(["--refresh-reuse-grace", "5m"]);
    // The load and the checks come from one address, far above the per-IP defaults.
    c.args(["--rate-limit-signup", "off", "--rate-limit-login", "off"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_under_load_loses_nothing_acknowledged() {
    let (_temp, dir) = workdir();
    let mut server = Server::start_with(&dir, configure).await;
    let acknowledged: Shared = Arc::default();
    sign_up_chains(&server, &acknowledged).await;
    let stop_at = Instant::now() + Duration::from_millis(2500);
    let mut load = spawn_refreshes(&server, &acknowledged, stop_at);
    load.extend(spawn_signups(&server, &acknowledged));

    // Crash mid-load.
    tokio::time::sleep_until(stop_at.into()).await;
    let status = server.signal("KILL", Duration::from_secs(5));
    assert!(!status.success(), "killed, not exited: {status}");
    for task in load {
        task.await.unwrap();
    }
    let acknowledged = Arc::try_unwrap(acknowledged)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap();
    println!(
        "acknowledged before SIGKILL: {} sign-ups, {} refreshes",
        acknowledged.signups.len(),
        acknowledged.refreshes
    );
    assert!(acknowledged.refreshes > 0, "the load was running");

    assert_the_database_is_sound(&dir.join("tokenauth-data").join("tokenauth.db")).await;
    let server = Server::start_with(&dir, configure).await;
    assert_nothing_acknowledged_is_lost(&server, &acknowledged).await;
    server.stop();
}

/// Refresh chains: signs up one account for each of the [`CHAINS`], acknowledged with its
/// first refresh token.
async fn sign_up_chains(server: &Server, acknowledged: &Shared) {
    for i in 0..CHAINS {
        let body = server.signup(&format!("chain{i}@example.com")).await;
        let token = Arc::new(Mutex::new(
            body["refresh_token"].as_str().unwrap().to_owned(),
        ));
        let mut ack = acknowledged.lock().unwrap();
        ack.signups.push(format!("chain{i}@example.com"));
        ack.chains.push(token);
    }
}

/// A task per chain that rotates it as fast as the server answers, until an answer is not a
/// rotation (the crash) or 5 s after `stop_at`, acknowledging each rotation.
fn spawn_refreshes(
    server: &Server,
    acknowledged: &Shared,
    stop_at: Instant,
) -> Vec<JoinHandle<()>> {
    let chains = acknowledged.lock().unwrap().chains.clone();
    let mut load = Vec::new();
    for token in chains {
        let (client, url, acknowledged) = (
            server.client.clone(),
            server.url("/v1/refresh"),
            Arc::clone(acknowledged),
        );
        load.push(tokio::spawn(async move {
            while Instant::now() < stop_at + Duration::from_secs(5) {
                let current = token.lock().unwrap().clone();
                let sent = client
                    .post(&url)
                    .json(&json!({"refresh_token": current}))
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status() != 200 {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                *token.lock().unwrap() = body["refresh_token"].as_str().unwrap().to_owned();
                acknowledged.lock().unwrap().refreshes += 1;
            }
        }));
    }
    load
}

/// [`SIGNUP_WORKERS`] tasks that sign up new accounts one after another until one is not
/// answered 201 (the crash), acknowledging each.
fn spawn_signups(server: &Server, acknowledged: &Shared) -> Vec<JoinHandle<()>> {
    (0..SIGNUP_WORKERS)
        .map(|worker| {
            let (client, url, acknowledged) = (
                server.client.clone(),
                server.url("/v1/signup"),
                Arc::clone(acknowledged),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let email = format!("user{worker}-{n}@example.com");
                    let body = json!({"email": email, "password": common::PASSWORD});
                    let Ok(response) = client.post(&url).json(&body).send().await else {
                        return;
                    };
                    if response.status() != 201 {
                        return;
                    }
                    acknowledged.lock().unwrap().signups.push(email);
                }
            })
        })
        .collect()
}

/// The SQLite file at `path`, as the crash left it (WAL included), exists and passes its
/// integrity check.
async fn assert_the_database_is_sound(path: &Path) {
    assert!(
        path.exists(),
        "the server's database is at {}",
        path.display()
    );
    let store = SqliteStore::open(path).expect("reopen after the crash");
    store.integrity_check().await.expect("integrity check");
    tokio::task::spawn_blocking(move || store.close())
        .await
        .unwrap();
}

/// On the restarted `server`, every acknowledged sign-up logs in and every chain has exactly
/// one way forward from its last acknowledged token.
async fn assert_nothing_acknowledged_is_lost(server: &Server, acknowledged: &Acknowledged) {
    for email in &acknowledged.signups {
        let (status, body) = server.login(email).await;
        assert_eq!(status, 200, "acknowledged sign-up of {email} lost: {body}");
    }
    for chain in &acknowledged.chains {
        let last = chain.lock().unwrap().clone();
        // The last acknowledged token is current, or (if one more rotation committed before
        // the crash without its answer arriving) the previous one, replayed inside the grace.
        let (status, body) = server.refresh(&last).await;
        assert_eq!(status, 200, "acknowledged refresh lost: {body}");
        let next = body["refresh_token"].as_str().unwrap();
        // Exactly one way forward: the new token works once more...
        let (status, body) = server.refresh(next).await;
        assert_eq!(status, 200, "{body}");
        // ...and the token two generations back is now theft, which revokes the family.
        let (status, body) = server.refresh(&last).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "refresh_token_reused");
    }
}
