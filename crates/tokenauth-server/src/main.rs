//! The `tokenauth` binary: parses the command line, resolves the configuration, starts the
//! runtime and hands the command to [`tokenauth_server::cli::run`].

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use tokenauth_server::cli::{self, Cli};
use tokenauth_server::config::{Config, ConfigError, SETTINGS, check_environment};
use tokenauth_server::telemetry::logging::init_logging;

/// mimalloc instead of glibc's malloc: under load the server's worker threads contended on
/// glibc's arena locks (`__lll_lock_wait_private`, `malloc_consolidate` in the profile), and
/// a refresh load ran ~30 % faster with mimalloc (BENCHMARKS.md, "Allocator"). Built with
/// `no_thp`: mimalloc otherwise asks for transparent huge pages, and its first 2 MiB pages made
/// an idle server 30 MiB resident instead of 17.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let variables = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    if let Err(error) = check_environment(SETTINGS, variables) {
        return fail(&error.into());
    }
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
    match runtime.block_on(cli::run(config, cli.command)) {
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
