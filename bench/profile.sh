#!/bin/sh
# Where the time of one load scenario goes: perf samples the harness (server, SQLite threads and
# load generator in one process) in the middle of a run, and inferno (crates.io) folds the
# stacks into a flame graph and a per-thread summary.
#
# Usage: bench/profile.sh [SCENARIO] [HARNESS OPTION ...]     (default: refresh)
#        bench/profile.sh verify --tokens-per-client 1000
# Writes bench/results/profile-<scenario>-<time>/{perf.data,stacks.folded,flamegraph.svg,threads.txt}.
# Needs perf (Debian: apt-get install -y linux-perf) and, once, `cargo install inferno`
# (into bench/.tools). Honours CARGO_TARGET_DIR.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
scenario=${1:-refresh}
[ "$#" -gt 0 ] && shift
out="$here/results/profile-$scenario-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"

command -v perf >/dev/null 2>&1 || { echo "profile: perf is missing; apt-get install -y linux-perf" >&2; exit 2; }
tools="$here/.tools"
if [ ! -x "$tools/bin/inferno-flamegraph" ]; then
  echo "== installing inferno into bench/.tools" >&2
  cargo install --quiet --root "$tools" inferno >&2
fi

echo "== building the release harness" >&2
cargo build --release -p tokenauth-bench --bin tokenauth-bench >&2

# 2 s warm-up, then 8 s measured: perf samples seconds 4 to 10 (call graphs by frame pointers
# are broken in release code; DWARF unwinding gives whole stacks at a higher cost).
"$target/release/tokenauth-bench" "$scenario" --duration 8s --warmup 2s --runs 1 "$@" \
  >"$out/report.txt" 2>"$out/progress.txt" &
bench=$!
sleep 4
perf record -F 499 --call-graph dwarf,16384 -p "$bench" -o "$out/perf.data" -- sleep 6 \
  2>"$out/perf-record.txt"
wait "$bench" || true

perf report -i "$out/perf.data" --no-children -s pid --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' >"$out/threads.txt"
perf script -i "$out/perf.data" 2>/dev/null | "$tools/bin/inferno-collapse-perf" >"$out/stacks.folded"
"$tools/bin/inferno-flamegraph" --title "tokenauth-bench $scenario" <"$out/stacks.folded" \
  >"$out/flamegraph.svg"

cat "$out/report.txt"
echo "share of samples by thread:"
cat "$out/threads.txt"
echo "flame graph: $out/flamegraph.svg"
