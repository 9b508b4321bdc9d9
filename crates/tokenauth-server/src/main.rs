//! The `tokenauth` binary.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tokenauth_core::audit::Auditor;
use tokenauth_core::keys::{KEY_CHANGE_CHECK_PERIOD, KeyManager, KeyWithdrawalError, RotationMode};
use tokenauth_core::store::KeyStore;
use tokenauth_core::{Clock, SystemClock};
use tokenauth_server::bootstrap::{MASTER_KEY_ENV, load_master_key, open_database};
use tokenauth_server::cli::{
    Cli, ClientCommand, Command, ConfigCommand, DbCommand, KeysCommand, SessionCommand, UserCommand,
};
use tokenauth_server::config::{Config, ConfigError, LogFormat, format_duration};
use tokenauth_server::db_copy::CopyRequest;
use tokenauth_server::telemetry::log_sink::LossyStderr;
use tokenauth_server::{
    Application, BuildOptions, account_commands, client_commands, db_commands, db_copy,
    session_commands, user_commands,
};

/// mimalloc instead of glibc's malloc: under load the server's worker threads contended on
/// glibc's arena locks (`__lll_lock_wait_private`, `malloc_consolidate` in the profile), and
/// a refresh load ran ~30 % faster with mimalloc (BENCHMARKS.md, "Allocator"). Built with
/// `no_thp`: mimalloc otherwise asks for transparent huge pages, and its first 2 MiB pages made
/// an idle server 30 MiB resident instead of 17.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::resolve(cli.settings.into_layer(), cli.config.as_deref(), |name| {
        std::env::var(name).ok()
    }) {
        Ok(config) => config,
        Err(error) => return fail(&error.into()),
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(&anyhow::Error::from(error).context("starting the async runtime"));
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Keys(command) => keys(config, command).await,
            Command::User(command) => user(config, command).await,
            Command::Session(command) => session(config, command).await,
            Command::Client(ClientCommand::Add { name, json }) => {
                client_commands::add(&config, &name, json).await
            }
            Command::Client(ClientCommand::List { json }) => {
                client_commands::list(&config, json).await
            }
            Command::Audit {
                user,
                since,
                limit,
                json,
            } => account_commands::audit(&config, user.as_deref(), since, limit, json).await,
            Command::Migrate { json } => db_commands::migrate(&config, json).await,
            Command::Config(ConfigCommand::Check { json }) => {
                config_check(&config, json);
                Ok(())
            }
            Command::Db(DbCommand::Check { json }) => db_commands::check(&config, json).await,
            Command::Db(DbCommand::Backup { path, json }) => {
                db_commands::backup(&config, &path, json).await
            }
            Command::Db(DbCommand::Copy {
                from,
                to,
                batch_size,
                json,
            }) => {
                let request = CopyRequest {
                    from,
                    to,
                    batch_size,
                    json,
                };
                db_copy::copy(&config, &request).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Prints the error on one line (with its causes) and picks the exit code: 2 for bad
/// configuration, 1 otherwise.
fn fail(error: &anyhow::Error) -> ExitCode {
    // Not `eprintln!`, which panics when stderr cannot be written.
    let _ = writeln!(std::io::stderr(), "tokenauth: {error:#}");
    if error
        .chain()
        .any(|cause| cause.downcast_ref::<ConfigError>().is_some())
    {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// Targets held at `info` whatever `RUST_LOG` asks: at `debug` tokio-postgres logs every
/// statement's parameters, which include password hashes, emails and client addresses.
const QUIET_TARGETS: [&str; 2] = ["tokio_postgres=info", "tokio_postgres::query=info"];

fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for directive in QUIET_TARGETS {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    // A line that cannot be written is lost and counted, never an error in the request that
    // logged it (tracing-subscriber's own report of a failed write would panic).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LossyStderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let issuer = config.issuer.clone();
    let app = Application::build(config, BuildOptions::default()).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, %issuer, "tokenauth listening");
    app.run_until(shutdown_signal()).await?;
    tracing::info!("tokenauth stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let master = Arc::new(load_master_key(
        &config.data_dir,
        std::env::var(MASTER_KEY_ENV).ok(),
    )?);
    let store = open_database(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let settings = config.auth_settings();
    // Bring keys on schedule first (creates the first key on a fresh database).
    let audit = Auditor::new(store.clone());
    let manager = KeyManager::start(store.clone(), audit, master, settings, clock).await?;
    match command {
        KeysCommand::List { json } => print_keys(store.as_ref(), json).await,
        KeysCommand::Rotate { now, json } => {
            let mode = if now {
                RotationMode::Immediate
            } else {
                RotationMode::Scheduled
            };
            let kid = manager.rotate(mode).await?;
            if json {
                println!("{}", serde_json::json!({ "kid": kid, "immediate": now }));
            } else if now {
                println!("key {kid} is now signing");
            } else {
                println!(
                    "key {kid} is published and will start signing after two JWKS cache lifetimes"
                );
            }
            Ok(())
        }
        KeysCommand::Withdraw { kid, json } => {
            withdraw_key(&manager, &kid, config.jwks_max_age, json).await
        }
    }
}

/// `tokenauth keys withdraw`: the active key is refused with the way out; for the others, says
/// how soon running servers and JWKS caches let go of the key.
async fn withdraw_key(
    manager: &KeyManager,
    kid: &str,
    jwks_max_age: std::time::Duration,
    json: bool,
) -> anyhow::Result<()> {
    let state = match manager.withdraw(kid).await {
        Ok(state) => state,
        Err(KeyWithdrawalError::Active(_)) => anyhow::bail!(
            "key {kid} is the active signing key and cannot be withdrawn; run \
             `tokenauth keys rotate --now` first (a new key signs at once and {kid} is retired), \
             then `tokenauth keys withdraw {kid}`"
        ),
        Err(KeyWithdrawalError::Unknown(_)) => {
            anyhow::bail!("no signing key {kid} (see `tokenauth keys list`)")
        }
        Err(error) => return Err(error.into()),
    };
    let servers = KEY_CHANGE_CHECK_PERIOD;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "kid": kid,
                "withdrawn": true,
                "previous_state": state.as_str(),
                "servers_refuse_within_secs": servers.as_secs_f64(),
                "jwks_max_age_secs": jwks_max_age.as_secs(),
            })
        );
    } else {
        println!(
            "key {kid} ({state}) is withdrawn: it is no longer published, running servers refuse \
             its tokens within {}, and verifiers that cache the JWKS drop it at their next \
             refresh (jwks_max_age {})",
            format_duration(servers),
            format_duration(jwks_max_age)
        );
    }
    Ok(())
}

async fn print_keys(store: &dyn KeyStore, json: bool) -> anyhow::Result<()> {
    let keys = store.list_signing_keys().await?;
    let fmt_time = |t: Option<tokenauth_core::Timestamp>| {
        t.and_then(|t| jiff::Timestamp::from_millisecond(t.as_millis()).ok())
            .map(|t| t.to_string())
    };
    if json {
        let rows: Vec<_> = keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kid": k.kid, "alg": k.alg.to_string(), "state": k.state.as_str(),
                    "created_at": fmt_time(Some(k.created_at)), "activate_at": fmt_time(Some(k.activate_at)),
                    "activated_at": fmt_time(k.activated_at), "retired_at": fmt_time(k.retired_at),
                    "publish_until": fmt_time(k.publish_until),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<18} {:<6} {:<8} {:<30} UNTIL",
            "KID", "ALG", "STATE", "CREATED"
        );
        for k in &keys {
            let until = match k.state {
                tokenauth_core::keys::KeyState::Next => {
                    fmt_time(Some(k.activate_at)).map(|t| format!("signs from {t}"))
                }
                tokenauth_core::keys::KeyState::Active => Some("signing".to_owned()),
                tokenauth_core::keys::KeyState::Retired => {
                    fmt_time(k.publish_until).map(|t| format!("published until {t}"))
                }
            };
            println!(
                "{:<18} {:<6} {:<8} {:<30} {}",
                k.kid,
                k.alg.to_string(),
                k.state.as_str(),
                fmt_time(Some(k.created_at)).unwrap_or_default(),
                until.unwrap_or_default()
            );
        }
    }
    Ok(())
}

async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            email,
            password_stdin,
            roles,
            json,
        } => user_commands::add(&config, &email, password_stdin, &roles, json).await,
        UserCommand::List { after, limit, json } => {
            user_commands::list(&config, after.as_deref(), limit, json).await
        }
        UserCommand::Show { email, json } => user_commands::show(&config, &email, json).await,
        UserCommand::Delete { email, json } => user_commands::delete(&config, &email, json).await,
        UserCommand::SetPassword {
            email,
            password_stdin,
            json,
        } => user_commands::set_password(&config, &email, password_stdin, json).await,
        UserCommand::AddRole { email, role, json } => {
            user_commands::role(&config, &email, &role, true, json).await
        }
        UserCommand::RemoveRole { email, role, json } => {
            user_commands::role(&config, &email, &role, false, json).await
        }
        UserCommand::Disable { email, json } => {
            account_commands::disable(&config, &email, json).await
        }
        UserCommand::Enable { email, json } => {
            account_commands::enable(&config, &email, json).await
        }
    }
}

async fn session(config: Config, command: SessionCommand) -> anyhow::Result<()> {
    match command {
        SessionCommand::List { user, live, json } => {
            session_commands::list(&config, &user, live, json).await
        }
        SessionCommand::Revoke { id, json } => session_commands::revoke(&config, &id, json).await,
        SessionCommand::RevokeAll { user, json } => {
            session_commands::revoke_all(&config, &user, json).await
        }
    }
}

/// `tokenauth config check`: reaching here means the configuration is valid (an invalid one
/// stopped with exit 2 before the command ran); prints it, then the warnings.
fn config_check(config: &Config, json: bool) {
    let settings = config.effective();
    let warnings = config.warnings();
    if json {
        let settings: serde_json::Map<String, serde_json::Value> = settings
            .into_iter()
            .map(|(name, value)| (name.to_owned(), serde_json::Value::String(value)))
            .collect();
        println!(
            "{}",
            serde_json::json!({"valid": true, "settings": settings, "warnings": warnings})
        );
        return;
    }
    let width = settings
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    println!("configuration is valid");
    for (name, value) in &settings {
        println!("  {name:<width$}  {value}");
    }
    if warnings.is_empty() {
        println!("no warnings");
    }
    for warning in &warnings {
        println!("warning: {warning}");
    }
}
