#!/bin/sh
# Peers of tokenauth, measured in one session on this machine (see bench/README.md):
#   verification: tokenauth-verify and the jsonwebtoken crate (Rust), PyJWT (PyPI), jose (npm),
#                 all on the same ES256 tokens issued by our server, one core each;
#   issuance:     panva's oidc-provider (npm), client-credentials grant issuing ES256 JWTs,
#                 loaded with `wrk -t1 -c16`, beside our own refresh rate (tokenauth-bench).
# Needs only the registries: crates.io (cargo), PyPI (pip, in bench/.venv), npm (bench/node),
# Debian (wrk). Writes every raw result to bench/results/<time>/ and prints a summary.
#
# Usage: bench/run-peers.sh            (from anywhere; honours CARGO_TARGET_DIR)
#        SECONDS_EACH=5 RUNS=3 bench/run-peers.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
seconds=${SECONDS_EACH:-5}
runs=${RUNS:-3}
port=${OIDC_PORT:-3000}
out="$here/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "run-peers: '$1' is missing; $2" >&2
    exit 2
  }
}
need cargo "install Rust (rustup)"
need python3 "apt-get install -y python3 python3-venv"
need node "apt-get install -y nodejs (Node 18 or later; oidc-provider 8 supports 18, 20, 22)"
need npm "apt-get install -y npm"
if ! command -v wrk >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing wrk from Debian's packages" >&2
  apt-get update >&2 && apt-get install -y wrk >&2
fi
need wrk "apt-get install -y wrk"
need curl "apt-get install -y curl"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load average at start: $(loadavg)" | tee "$out/loadavg.txt"

echo "== building the release harness" >&2
cargo build --release -p tokenauth-bench --bins >&2

echo "== issuing 1000 ES256 tokens and timing the Rust verifiers on them" >&2
"$target/release/bench-tokens" --count 1000 --out "$here/data" --verify-for "${seconds}s" \
  >"$out/rust-verify.json"

echo "== PyJWT" >&2
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"
"$here/.venv/bin/python" "$here/python/verify_pyjwt.py" "$here/data" "$seconds" >"$out/pyjwt.json"

echo "== jose" >&2
(cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error >&2)
node "$here/node/verify-jose.mjs" "$here/data" "$seconds" >"$out/jose.json"

echo "== oidc-provider: client-credentials grant, ES256 JWT access tokens" >&2
NODE_ENV=production PORT=$port node "$here/node/oidc-cc.mjs" >"$out/oidc-provider.log" 2>&1 &
oidc_pid=$!
trap 'kill "$oidc_pid" 2>/dev/null || true' EXIT INT TERM
tries=0
until curl -sf -o /dev/null -u bench:bench-secret -d 'grant_type=client_credentials&scope=api' \
  "http://127.0.0.1:$port/token"; do
  tries=$((tries + 1))
  [ "$tries" -lt 100 ] || { echo "oidc-provider did not start" >&2; exit 1; }
  sleep 0.1
done
curl -s -u bench:bench-secret -d 'grant_type=client_credentials&scope=api' \
  "http://127.0.0.1:$port/token" >"$out/oidc-provider-token.json"
grep -E 'VmRSS|VmHWM' "/proc/$oidc_pid/status" >"$out/oidc-provider-rss-idle.txt"
wrk -t1 -c16 -d2s -s "$here/cc.lua" "http://127.0.0.1:$port" >/dev/null # warm-up
i=1
while [ "$i" -le "$runs" ]; do
  wrk -t1 -c16 -d10s --latency -s "$here/cc.lua" "http://127.0.0.1:$port" >"$out/wrk-oidc-$i.txt"
  i=$((i + 1))
done
grep -E 'VmRSS|VmHWM' "/proc/$oidc_pid/status" >"$out/oidc-provider-rss-load.txt"
kill "$oidc_pid"
wait "$oidc_pid" 2>/dev/null || true
trap - EXIT INT TERM

echo "== tokenauth refresh (rotation persisted), same session" >&2
"$target/release/tokenauth-bench" refresh --clients 16 --runs "$runs" --json >"$out/tokenauth-refresh.json"

echo "load average at end: $(loadavg)" | tee -a "$out/loadavg.txt"
python3 "$here/summarize.py" "$out"
