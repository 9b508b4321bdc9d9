//! The `tokenauth` binary.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use tokenauth_server::cli::{
    Cli, ClientCommand, Command, ConfigCommand, DbCommand, SessionCommand, UserCommand,
};
use tokenauth_server::config::{Config, ConfigError, LogFormat};
use tokenauth_server::db_copy::CopyRequest;
use tokenauth_server::telemetry::log_sink::LossyStderr;
use tokenauth_server::{
    Application, BuildOptions, account_commands, client_commands, db_commands, db_copy,
    key_commands, session_commands, user_commands,
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
            Command::Keys(command) => key_commands::run(&config, command).await,
            Command::User(command) => user(config, command).await,
            Command::Session(command) => session(config, command).await,
            Command::Client(ClientCommand::Add {
                name,
                permissions,
                json,
            }) => {
                let permissions = permissions.into_iter().collect();
                client_commands::add(&config, &name, permissions, json).await
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
    let stop = shutdown_signal();
    let app = Application::build(config, BuildOptions::default()).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, %issuer, "tokenauth listening");
    app.run_until(stop).await?;
    tracing::info!("tokenauth stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM. The handlers are installed here, before the server starts
/// (a signal before then would end the process without the clean stop).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot listen for SIGINT and SIGTERM; Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutting down: finishing in-flight requests");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
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
