//! A whole benchmark: start (or reach) the server, set the clients up, measure the Argon2
//! ceiling where it matters, do the runs, stop the server.

use anyhow::Context as _;
use tokio::runtime::{Builder, Runtime};

use crate::ceiling::Ceiling;
use crate::client::Api;
use crate::flood;
use crate::load::{self, Phases};
use crate::options::Options;
use crate::preload::Preloaded;
use crate::report::{Report, RunSummary, Setup};
use crate::scenario::{self, Client};
use crate::server::Server;

/// Runs the benchmark `options` describe and returns its report. The in-process server gets a
/// runtime with one thread per core, as `tokenauth serve` has; the load generator gets its own
/// runtime of `--client-threads` threads. Both share the machine's cores.
///
/// # Errors
/// A [`crate::options::UsageError`] for options that do not fit together; any failure to
/// start the server, set the clients up or run them. Failed requests are not errors: the report
/// counts them.
pub fn run(options: &Options) -> anyhow::Result<Report> {
    options.validate()?;
    let server_runtime = match options.target {
        Some(_) => None,
        None => Some(runtime("tokenauth-server", cores())?),
    };
    let client_runtime = runtime("tokenauth-bench", options.client_threads)?;
    let report = client_runtime.block_on(execute(options, server_runtime.as_ref()));
    // Both runtimes end here, outside any async context.
    drop(client_runtime);
    drop(server_runtime);
    report
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub(crate) fn runtime(name: &str, threads: usize) -> anyhow::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .with_context(|| format!("starting the {name} runtime"))
}

async fn execute(options: &Options, server_runtime: Option<&Runtime>) -> anyhow::Result<Report> {
    let (server, preloaded) = match (&options.target, server_runtime) {
        (Some(target), _) => (Server::external(target), Preloaded::none()),
        (None, Some(runtime)) => interruptible(Server::start(options, runtime.handle())).await?,
        (None, None) => anyhow::bail!("no runtime for the in-process server"),
    };
    let measured = interruptible(measure(options, &server, &preloaded)).await;
    let stopped = server.stop().await;
    let report = measured?;
    stopped.context("stopping the server")?;
    Ok(report)
}

/// Runs `work` unless Ctrl-C comes first. Then `work` is dropped, and with it what it had
/// started (a temporary schema is dropped too), and the benchmark fails with "interrupted".
async fn interruptible<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    }
}

async fn measure(
    options: &Options,
    server: &Server,
    preloaded: &Preloaded,
) -> anyhow::Result<Report> {
    let base = server.base();
    Api::new(base)?.check_health().await?;
    let mut clients = connect_clients(options, base, preloaded).await?;
    let ceiling = if options.scenario.argon2_bound() {
        Some(Ceiling::measure().await?)
    } else {
        None
    };
    let phases = Phases {
        warmup: options.warmup,
        measure: options.duration,
    };
    let mut runs = Vec::with_capacity(options.runs);
    for run in 1..=options.runs {
        let label = format!("{} run {run}/{}", options.scenario.name(), options.runs);
        // The flood, if any, covers the measured window (not the warm-up).
        let flooded = options.flood_plan().map(|plan| {
            let start = std::time::Instant::now() + phases.warmup;
            let nonce = uuid::Uuid::new_v4().as_u64_pair().0;
            let base = base.to_owned();
            tokio::spawn(async move {
                flood::run(&base, plan, start, start + phases.measure, nonce).await
            })
        });
        let (returned, record) = load::run(clients, phases, label).await?;
        clients = returned;
        let mut summary = RunSummary::from_record(&record);
        if let Some(flooded) = flooded {
            summary.flood = Some(flooded.await.context("the flood failed")??);
        }
        runs.push(summary);
    }
    let setup = Setup::new(options, base, preloaded.elapsed.as_secs_f64());
    Ok(Report::new(setup, runs, ceiling))
}

/// Sets every client up at once (accounts, preloaded sessions); not measured.
async fn connect_clients(
    options: &Options,
    base: &str,
    preloaded: &Preloaded,
) -> anyhow::Result<Vec<Client>> {
    let nonce = uuid::Uuid::new_v4().as_u64_pair().0;
    let mut tasks = Vec::with_capacity(options.clients);
    for index in 0..options.clients {
        let api = Api::new(base)?;
        let setup = scenario::Setup {
            scenario: options.scenario,
            index,
            clients: options.clients,
            nonce,
            preloaded: preloaded.refresh_tokens.get(index).cloned(),
            tokens: options.tokens_per_client,
        };
        tasks.push(tokio::spawn(Client::connect(api, setup)));
    }
    let mut clients = Vec::with_capacity(tasks.len());
    for task in tasks {
        clients.push(task.await.context("setting up a client")??);
    }
    Ok(clients)
}
