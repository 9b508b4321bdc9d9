//! The assembled server: storage, keys, services, router and background tasks.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokenauth_core::audit::Auditor;
use tokenauth_core::keys::{KEY_CHANGE_CHECK_PERIOD, KeyManager};
use tokenauth_core::password::{HashCost, PasswordHasher};
use tokenauth_core::service::AuthService;
use tokenauth_core::{Clock, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bootstrap::{MASTER_KEY_ENV, load_master_key, open_or_create_database};
use crate::config::{Config, SignupResponse};
use crate::http::browser::BrowserPolicy;
use crate::http::listener::LimitedListener;
use crate::http::state::AppState;
use crate::http::{routes, server};
use crate::telemetry::{self, Telemetry};

/// A server ready to run: listener bound, database open, keys loaded.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    config: Config,
    shutting_down: watch::Sender<bool>,
}

/// A long-poll ends this long before the request timeout would cut it off.
const FEED_WAIT_MARGIN: Duration = Duration::from_secs(2);

/// The longest a feed reader is held, even when the request timeout allows more.
const FEED_WAIT_CAP: Duration = Duration::from_secs(30);

/// What a test (or an embedding program) may tune beyond the configuration.
pub struct BuildOptions {
    /// The clock the services read.
    pub clock: Arc<dyn Clock>,
    /// Argon2 cost; tests may lower it.
    pub hash_cost: HashCost,
    /// The master key, as `TOKENAUTH_MASTER_KEY` would give it; `None` uses the key file.
    pub master_key: Option<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            hash_cost: HashCost::OWASP,
            master_key: std::env::var(MASTER_KEY_ENV).ok(),
        }
    }
}

impl Application {
    /// Opens storage, loads (or creates) keys, and binds the listener (port 0 picks a free one).
    ///
    /// # Errors
    /// A [`crate::config::ConfigError`] (exit code 2) for unusable settings, or any startup failure.
    pub async fn build(mut config: Config, options: BuildOptions) -> anyhow::Result<Self> {
        // aws-lc seeds its random generator on first use from CPU-jitter entropy, which takes
        // tens of milliseconds. Start that now, beside the database work, rather than in the
        // first request that signs a token.
        std::thread::spawn(|| {
            let _ = aws_lc_rs::rand::fill(&mut [0u8; 1]);
        });
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        follow_bound_port(&mut config, listener.local_addr()?);
        // The key before the database: a bad key must stop the start before anything is created
        // (and before the migrations log anything).
        let master = Arc::new(load_master_key(&config.data_dir, options.master_key)?);
        let store = open_or_create_database(&config).await?;
        let settings = config.auth_settings();
        let audit = Auditor::new(store.clone());
        let keys = Arc::new(
            KeyManager::start(store.clone(), audit.clone(), master.clone(), settings.clone(), options.clock.clone())
                .await
                .context("loading signing keys (is TOKENAUTH_MASTER_KEY the one this database was created with?)")?,
        );
        let hasher = PasswordHasher::new(
            options.hash_cost,
            config.password_hash_concurrency,
            config.password_hash_queue,
        )?;
        let auth = AuthService::new(
            store.clone(),
            options.clock,
            settings,
            hasher,
            keys,
            &master,
            audit,
        )
        .await?;
        // Before anything is counted: the recorder is process-wide and installed once.
        let metrics = if config.metrics {
            Telemetry::install()
        } else {
            None
        };
        let (shutting_down, shutdown_signal) = watch::channel(false);
        let state = AppState {
            auth: Arc::new(auth),
            store,
            jwks_max_age_secs: config.jwks_max_age.as_secs(),
            feed_max_wait: config
                .request_timeout
                .saturating_sub(FEED_WAIT_MARGIN)
                .min(FEED_WAIT_CAP),
            shutting_down: shutdown_signal,
            browser: Arc::new(BrowserPolicy::new(&config)),
            uniform_signup: config.signup_response == SignupResponse::Uniform,
            rate_limits: Arc::new(config.throttling.rate_limits()),
            trusted_proxies: Arc::new(config.throttling.trusted_proxies.clone()),
            metrics,
        };
        Ok(Self {
            listener,
            state,
            config,
            shutting_down,
        })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// If the socket cannot report it.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (services, store), e.g. for a test to run key maintenance now.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish (for at most
    /// `shutdown_timeout`, after which the connections still open are closed), stops the
    /// background tasks and closes the database cleanly.
    ///
    /// # Errors
    /// None today: serving itself cannot fail (a failed accept is retried, a failed connection
    /// ends alone); kept so that a failure of the stop can be reported.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            config,
            shutting_down,
        } = self;
        let mut background = vec![
            spawn_maintenance(&state),
            spawn_revocation_follower(&state, config.revocation_poll_interval),
            spawn_bucket_sweeper(&state),
            spawn_key_change_follower(&state),
        ];
        if let Some(metrics) = &state.metrics {
            background.push(telemetry::spawn_upkeep(metrics.clone()));
        }
        let app = routes::router(state.clone(), config.request_timeout);
        let listener = LimitedListener::new(
            listener,
            config.max_connections,
            config.connections.max_connections_per_ip,
            state.trusted_proxies.clone(),
        );
        server::serve(listener, app, &config.connections, async move {
            shutdown.await;
            // Held long-polls answer now rather than hold up the shutdown.
            shutting_down.send_replace(true);
        })
        .await;
        for task in &background {
            task.abort();
        }
        for task in background {
            let _ = task.await;
        }
        let store = state.store.clone();
        drop(state);
        store.close().await;
        tracing::info!("database closed");
        Ok(())
    }
}

/// With `listen` on port 0 the issuer derived from it (and the audience derived from that) must
/// name the port actually bound, or tokens would carry an address no one can reach.
fn follow_bound_port(config: &mut Config, bound: SocketAddr) {
    let derived = format!("http://{}", config.listen);
    if config.listen.port() == 0 && config.issuer == derived {
        let actual = format!("http://{bound}");
        if config.audience == derived {
            config.audience.clone_from(&actual);
        }
        config.issuer = actual;
    }
    config.listen = bound;
}

/// Key rotation and the purges (revoked sessions in memory, ended sessions, the revocation
/// feed, the audit log), on the key manager's period.
fn spawn_maintenance(state: &AppState) -> JoinHandle<()> {
    let auth = state.auth.clone();
    tokio::spawn(async move {
        let period = auth
            .keys()
            .maintenance_period()
            .max(Duration::from_millis(50));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match auth.keys().maintain().await {
                Ok(true) => tracing::info!(
                    kid = auth.keys().keyring().signer().kid(),
                    "signing keys changed"
                ),
                Ok(false) => {}
                Err(error) => tracing::error!(%error, "key maintenance failed"),
            }
            auth.purge_revoked();
            match auth.purge_ended_sessions(10).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "purged ended sessions"),
                Err(error) => tracing::warn!(%error, "purging ended sessions failed"),
            }
            if let Err(error) = auth.purge_revocation_feed(10).await {
                tracing::warn!(%error, "purging the revocation feed failed");
            }
            match auth.purge_audit_log(10).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "purged old audit events"),
                Err(error) => tracing::warn!(%error, "purging the audit log failed"),
            }
            if let Err(error) = auth.purge_login_failures(10).await {
                tracing::warn!(%error, "purging forgotten login failures failed");
            }
        }
    })
}

/// Follows key changes made elsewhere (`tokenauth keys withdraw` or `keys rotate --now`,
/// another instance) every [`KEY_CHANGE_CHECK_PERIOD`]: a withdrawn key's tokens stop verifying
/// here, and a key made active elsewhere signs here, within that period rather than at the next
/// (much rarer) maintenance pass.
fn spawn_key_change_follower(state: &AppState) -> JoinHandle<()> {
    let auth = state.auth.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(KEY_CHANGE_CHECK_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match auth.keys().follow_key_changes().await {
                Ok(true) => {
                    let keyring = auth.keys().keyring();
                    tracing::info!(
                        signing = keyring.signer().kid(),
                        kids = ?keyring.kids().collect::<Vec<_>>(),
                        "signing keys changed elsewhere; reloaded"
                    );
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "checking for key changes failed"),
            }
        }
    })
}

/// How often the per-IP buckets that have refilled are forgotten. Between two sweeps memory
/// grows only with the addresses seen in that time (a few dozen bytes each).
const BUCKET_SWEEP_PERIOD: Duration = Duration::from_secs(5);

/// Forgets full per-IP buckets every [`BUCKET_SWEEP_PERIOD`], so a flood of distinct addresses
/// cannot grow memory without bound.
fn spawn_bucket_sweeper(state: &AppState) -> JoinHandle<()> {
    let limits = state.rate_limits.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(BUCKET_SWEEP_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let tracked = limits.forget_full_buckets();
            tracing::trace!(tracked, "swept per-IP rate-limit buckets");
        }
    })
}

/// Keeps this instance's revoked set (and its long-polling feed readers) up to date: at once
/// after a revocation made here, and every `poll_interval` for those made by other instances
/// or processes on the same database.
fn spawn_revocation_follower(state: &AppState, poll_interval: Duration) -> JoinHandle<()> {
    let auth = state.auth.clone();
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            match auth.follow_revocation_feed().await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("reading the revocation feed works again");
                }
                Ok(_) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "reading the revocation feed failed; retrying");
                }
                Err(_) => {}
            }
            auth.revocation_made(poll_interval).await;
        }
    })
}
