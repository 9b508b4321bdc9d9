//! What checking the revoked-session set costs on the verify path: the same
//! token verified with no set (feed off), and with a set holding 100 000
//! revoked sessions (feed on), with and without the token cache, and while
//! another thread keeps adding revocations (as a busy feed would).
//!
//! Run: `cargo bench -p tokenauth-verify --bench revocations`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokenauth_jwt::{Algorithm, KeySet, SigningKey};
use tokenauth_verify::{RevokedSessions, Timestamp, Verifier};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const REVOKED: usize = 100_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A set of `REVOKED` sessions shaped like the server's (UUIDv7 text), none
/// of them the token's.
fn full_set() -> Arc<RevokedSessions> {
    let set = Arc::new(RevokedSessions::new());
    let until = Timestamp::from_secs(now() + 3600);
    set.replace((0..REVOKED).map(|i| (format!("01a225c0-e231-7000-8000-{i:012x}"), until)));
    assert_eq!(set.len(), REVOKED);
    set
}

fn bench(c: &mut Criterion) {
    let (key, _) = SigningKey::generate(Algorithm::ES256, "kid".into()).unwrap();
    let now = now();
    let token = key
        .sign(
            "at+jwt",
            &serde_json::json!({
                "iss": ISS, "sub": "01a225c0-e231-7300-b8f7-7c8f10052032", "aud": AUD,
                "exp": now + 3600, "iat": now, "nbf": now, "jti": "j",
                "sid": "01a225c0-e231-7302-a3b1-5c6d7e8f9a0b", "roles": [],
            }),
        )
        .unwrap();
    let keys = KeySet::new([key.verifying_key()]);
    let build = |cache: bool, set: Option<Arc<RevokedSessions>>| {
        let mut builder = Verifier::builder(ISS, AUD);
        if cache {
            builder = builder.token_cache(10_000);
        }
        if let Some(set) = set {
            builder = builder.revoked_sessions(set);
        }
        let verifier = builder.build_with_keys(keys.clone()).unwrap();
        verifier.verify_local(&token).unwrap();
        verifier
    };
    let set = full_set();

    let mut group = c.benchmark_group("revocations/ES256");
    for (name, cache) in [("verify", false), ("cached", true)] {
        let off = build(cache, None);
        let on = build(cache, Some(Arc::clone(&set)));
        group.bench_function(format!("{name}/feed_off"), |b| {
            b.iter(|| off.verify_local(black_box(&token)))
        });
        group.bench_function(format!("{name}/feed_on_100k"), |b| {
            b.iter(|| on.verify_local(black_box(&token)))
        });
        // A revocation every millisecond lands in the set while we verify.
        let busy = Arc::new(AtomicBool::new(true));
        let writer = {
            let (busy, set) = (Arc::clone(&busy), Arc::clone(&set));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while busy.load(Ordering::Relaxed) {
                    let until = Timestamp::from_secs(now + 3600);
                    set.insert(&format!("01a225c0-e231-7000-9000-{i:012x}"), until);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        group.bench_function(format!("{name}/feed_on_100k_while_writing"), |b| {
            b.iter(|| on.verify_local(black_box(&token)))
        });
        busy.store(false, Ordering::Relaxed);
        writer.join().unwrap();
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50);
    targets = bench
}
criterion_main!(benches);
