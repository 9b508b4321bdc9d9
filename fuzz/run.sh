#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60), one after the other.
#
#   fuzz/run.sh [SECONDS]
#
# New inputs libFuzzer finds go to fuzz/corpus/<target>/ next to the committed seed-* files
# (git-ignored); crashes to fuzz/artifacts/<target>/; each run's log to fuzz/target/<target>.log.
# Exits non-zero if any target found a crash.
set -euo pipefail

seconds="${1:-60}"
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
cd "$fuzz_dir/.."

# cargo-fuzz passes nightly-only flags (-Zsanitizer, sanitizer-coverage); on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets it use them. Set RUSTC_BOOTSTRAP=0 and `cargo +nightly` to use nightly.
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
# Its own target directory, whatever the caller's CARGO_TARGET_DIR says: the instrumented build
# must not overwrite the workspace's.
export CARGO_TARGET_DIR="$fuzz_dir/target"

# -a: debug assertions and overflow checks on, so an arithmetic overflow is a crash too.
cargo fuzz build -a
mkdir -p "$CARGO_TARGET_DIR"

failed=()
for target in $(cargo fuzz list); do
    case "$target" in
        jwt_verify) max_len=9000 ;;   # past DEFAULT_MAX_TOKEN_LEN (8192)
        json_bodies) max_len=16384 ;; # the server's BODY_LIMIT
        *) max_len=4096 ;;
    esac
    mkdir -p "fuzz/corpus/$target"
    log="$CARGO_TARGET_DIR/$target.log"
    echo "== $target: ${seconds}s (log: $log)"
    if cargo fuzz run -a "$target" -- -max_total_time="$seconds" -max_len="$max_len" \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" || true
        echo "   corpus: $(find "fuzz/corpus/$target" -type f | wc -l) inputs"
    else
        echo "   CRASH or error: see $log and fuzz/artifacts/$target/"
        tail -n 40 "$log"
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    echo "failed: ${failed[*]}"
    exit 1
fi
