//! `bench-tokens`: real access tokens for the verification peers. An in-process server issues
//! them (one sign-up, then a chain of refreshes, each answer carrying a new access token), and
//! they are written with the server's JWKS to a directory, so PyJWT, `jose` and our own
//! verifiers all check the same bytes against the same key. Optionally it then times our
//! verifier (`tokenauth-verify`) and the `jsonwebtoken` crate on those tokens, one core each.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jsonwebtoken::{DecodingKey, Validation as JwtValidation};
use serde::Serialize;
use tokenauth_jwt::{AccessTokenClaims, Jwks, KeySet};
use tokenauth_verify::Verifier;

use crate::client::Api;
use crate::options::Options;
use crate::scenario::new_account;
use crate::server::Server;

/// Lifetime of the exported tokens: long enough for every peer to run after the export.
const TOKEN_TTL: &str = "12h";

/// What to export.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "bench-tokens", version)]
pub struct ExportOptions {
    /// Distinct access tokens to write.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,

    /// Directory to write `tokens.txt`, `jwks.json` and `meta.json` into (created if missing).
    #[arg(long, default_value = "bench/data")]
    pub out: PathBuf,

    /// Signing algorithm of the issuing server.
    #[arg(long, default_value = "ES256")]
    pub alg: String,

    /// After writing, time `tokenauth-verify` and `jsonwebtoken` on the tokens for this long
    /// each, on one core (0s: skip).
    #[arg(long, default_value = "5s", value_parser = tokenauth_server::config::parse_duration)]
    pub verify_for: Duration,
}

/// What was written, and the verification rates if timed.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// Tokens written.
    pub count: usize,
    /// `iss` and `aud` the tokens carry (the verifiers check both).
    pub issuer: String,
    /// The audience.
    pub audience: String,
    /// The algorithm.
    pub alg: String,
    /// Verifications a second on one core, by library, on these tokens.
    pub verify_per_second: Vec<(String, f64)>,
}

/// The file names inside the output directory.
pub const TOKENS_FILE: &str = "tokens.txt";
/// The JWKS, as the server publishes it.
pub const JWKS_FILE: &str = "jwks.json";
/// Issuer, audience, algorithm and count.
pub const META_FILE: &str = "meta.json";

/// Issues and writes the tokens, then times the Rust verifiers on them.
///
/// # Errors
/// If the server cannot start, refuses a request, or a file cannot be written; if a verifier
/// rejects one of the tokens.
pub fn run(options: &ExportOptions) -> anyhow::Result<ExportReport> {
    anyhow::ensure!(options.count > 0, "--count must be at least 1");
    let server_options = Options::parse_from_args([
        "tokenauth-bench",
        "refresh",
        "--alg",
        &options.alg,
        "--access-token-ttl",
        TOKEN_TTL,
    ])?;
    server_options.validate()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let server_runtime = crate::bench::runtime("tokenauth-server", cores)?;
    let client_runtime = crate::bench::runtime("bench-tokens", 1)?;
    let issued = client_runtime.block_on(async {
        let (server, _) = Server::start(&server_options, server_runtime.handle()).await?;
        let issued = issue(server.base(), options.count).await;
        server.stop().await?;
        issued
    });
    drop(client_runtime);
    drop(server_runtime);
    let issued = issued?;
    write_files(&options.out, &issued, &options.alg)?;
    let verify_per_second = if options.verify_for.is_zero() {
        Vec::new()
    } else {
        time_verifiers(&issued, &options.alg, options.verify_for)?
    };
    Ok(ExportReport {
        count: issued.tokens.len(),
        issuer: issued.issuer.clone(),
        audience: issued.issuer,
        alg: options.alg.clone(),
        verify_per_second,
    })
}

/// Tokens and the key material to check them.
struct Issued {
    tokens: Vec<String>,
    jwks: String,
    issuer: String,
}

/// One sign-up, then `count - 1` refreshes of the same session: `count` distinct access tokens.
async fn issue(base: &str, count: usize) -> anyhow::Result<Issued> {
    let api = Api::new(base)?;
    let email = format!("bench-tokens-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut tokens = new_account(&api, &email).await?;
    let mut access = Vec::with_capacity(count);
    access.push(tokens.access_token.clone());
    while access.len() < count {
        tokens = api
            .refresh(&tokens.refresh_token)
            .await
            .outcome
            .map_err(|failure| anyhow::anyhow!("refresh answered {}", failure.label()))?;
        access.push(tokens.access_token.clone());
    }
    let jwks = api.get_text("/.well-known/jwks.json").await?;
    let discovery: serde_json::Value =
        serde_json::from_str(&api.get_text("/.well-known/openid-configuration").await?)
            .context("the discovery document is not JSON")?;
    let issuer = discovery["issuer"]
        .as_str()
        .context("the discovery document names no issuer")?
        .to_owned();
    Ok(Issued {
        tokens: access,
        jwks,
        issuer,
    })
}

fn write_files(dir: &Path, issued: &Issued, alg: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write(TOKENS_FILE, issued.tokens.join("\n") + "\n")?;
    write(JWKS_FILE, issued.jwks.clone())?;
    let meta = serde_json::json!({
        "issuer": issued.issuer,
        // The in-process server sets no audience, so it is the issuer.
        "audience": issued.issuer,
        "alg": alg,
        "count": issued.tokens.len(),
        "typ": "at+jwt",
    });
    write(META_FILE, serde_json::to_string_pretty(&meta)? + "\n")
}

/// Verifications a second on this thread, for each Rust verifier, cycling through the tokens.
fn time_verifiers(
    issued: &Issued,
    alg: &str,
    each: Duration,
) -> anyhow::Result<Vec<(String, f64)>> {
    let jwks: Jwks = serde_json::from_str(&issued.jwks).context("parsing the JWKS")?;
    let (keys, rejected) = KeySet::from_jwks(&jwks);
    anyhow::ensure!(rejected.is_empty(), "JWKS keys rejected: {rejected:?}");
    let ours = Verifier::builder(&issued.issuer, &issued.issuer).build_with_keys(keys)?;
    let jwk_set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&issued.jwks).context("parsing the JWKS for jsonwebtoken")?;
    let first = jwk_set.keys.first().context("the JWKS is empty")?;
    let decoding = DecodingKey::from_jwk(first)?;
    let alg: jsonwebtoken::Algorithm = alg.parse()?;
    let mut validation = JwtValidation::new(alg);
    validation.set_issuer(&[&issued.issuer]);
    validation.set_audience(&[&issued.issuer]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 10;

    let tokenauth = rate(&issued.tokens, each, |token| {
        ours.verify_local(token)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    let jsonwebtoken = rate(&issued.tokens, each, |token| {
        jsonwebtoken::decode::<AccessTokenClaims>(token, &decoding, &validation)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    Ok(vec![
        ("tokenauth-verify".to_owned(), tokenauth),
        ("jsonwebtoken".to_owned(), jsonwebtoken),
    ])
}

/// Checks every token once (all must pass), then counts checks for `each`.
fn rate(
    tokens: &[String],
    each: Duration,
    mut verify: impl FnMut(&str) -> Result<(), String>,
) -> anyhow::Result<f64> {
    for token in tokens {
        verify(token).map_err(|error| anyhow::anyhow!("a token was rejected: {error}"))?;
    }
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < each {
        for token in tokens {
            let _ = std::hint::black_box(verify(std::hint::black_box(token)));
        }
        done += tokens.len() as u64;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}
