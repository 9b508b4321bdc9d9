//! A throwaway PostgreSQL cluster for tests when `TOKENAUTH_TEST_DATABASE_URL` is not set but
//! PostgreSQL's server programs (`initdb`, `postgres`, `pg_isready`) are installed: the README's
//! one test command then runs the PostgreSQL tests too, instead of passing them as no-ops.
//!
//! One cluster per test process, started on first use in a temporary directory on a free local
//! port (trust authentication, `fsync=off`: it holds nothing worth keeping). It is run by a
//! small shell supervisor that reads its standard input from this process: when the process
//! ends, however it ends (a panic, an abort, a kill), the pipe closes, and the supervisor stops
//! the server and deletes its directory. Written here rather than taken from a crate: the
//! embedding crates (`postgresql_embedded`, `pg-embed`) download PostgreSQL at run time, which
//! this machine's closed network (and a reproducible test run) does not allow.

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Starts the server and, on standard input's end, stops it and deletes its directory.
/// Arguments: `$1` the directory of the server programs, `$2` the port.
const SUPERVISOR: &str = r#"
set -e
dir=$(mktemp -d "${TMPDIR:-/tmp}/tokenauth-test-pg.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$1/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
"$1/postgres" -D "$dir/data" -k "$dir" -p "$2" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
  >"$dir/server.log" 2>&1 &
pid=$!
read -r _ || true
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || true
"#;

/// How long the cluster may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running throwaway cluster; it lives until the process ends.
struct Cluster {
    url: String,
    /// Held open for the life of the process: its end tells the supervisor to stop.
    _stdin: ChildStdin,
    _supervisor: Child,
}

/// The URL of this process's throwaway cluster, started on the first call; `None` when the
/// server programs are not installed or the cluster did not start (said once on stderr).
pub(super) fn url() -> Option<String> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| match start() {
            Ok(cluster) => Some(cluster),
            Err(reason) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "no throwaway PostgreSQL cluster for the tests: {reason}"
                );
                None
            }
        })
        .as_ref()
        .map(|cluster| cluster.url.clone())
}

fn start() -> Result<Cluster, String> {
    let bin = server_programs().ok_or("initdb and postgres are not installed")?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let mut command = supervisor_command()?;
    command
        .args(["sh", "-c", SUPERVISOR, "sh"])
        .arg(&bin)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut supervisor = command
        .spawn()
        .map_err(|e| format!("cannot start the supervisor: {e}"))?;
    let stdin = supervisor
        .stdin
        .take()
        .ok_or("the supervisor has no standard input")?;
    wait_until_ready(&bin, port, &mut supervisor)?;
    let _ = writeln!(
        std::io::stderr(),
        "PostgreSQL tests run on a throwaway cluster on 127.0.0.1:{port} \
         (TOKENAUTH_TEST_DATABASE_URL is not set)"
    );
    Ok(Cluster {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        _stdin: stdin,
        _supervisor: supervisor,
    })
}

/// The supervisor runs as the `postgres` user when this process is root: `initdb` refuses to
/// run as root.
fn supervisor_command() -> Result<Command, String> {
    let root = std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
    if !root {
        return Ok(Command::new("env"));
    }
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .ok_or("running as root, and runuser (to become the postgres user) is missing")?;
    let mut command = Command::new(runuser);
    command.args(["-u", "postgres", "--"]);
    Ok(command)
}

/// The directory holding `initdb`, `postgres` and `pg_isready`: on `PATH`, else the newest of
/// Debian's `/usr/lib/postgresql/<version>/bin`.
fn server_programs() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "postgres", "pg_isready"]
            .iter()
            .all(|program| dir.join(program).is_file())
    };
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|dir| complete(dir)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// Waits until the cluster answers `pg_isready`, or fails with why not.
fn wait_until_ready(bin: &Path, port: u16, supervisor: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = supervisor.try_wait() {
            return Err(format!("the cluster stopped at start ({status})"));
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not ready within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
