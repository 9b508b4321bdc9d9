#!/bin/sh
# Size of the release `tokenauth` binary, as built and stripped (strip from Debian's binutils).
# Usage: bench/size.sh   (from the workspace root; honours CARGO_TARGET_DIR)
set -eu
target=${CARGO_TARGET_DIR:-target}
cargo build --release --bin tokenauth >&2
bin="$target/release/tokenauth"
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
strip -o "$stripped" "$bin"
unstripped_bytes=$(stat -c %s "$bin")
stripped_bytes=$(stat -c %s "$stripped")
awk -v bin="$bin" -v u="$unstripped_bytes" -v s="$stripped_bytes" 'BEGIN {
  printf "{\"binary\":\"%s\",\"bytes\":%d,\"mib\":%.2f,\"stripped_bytes\":%d,\"stripped_mib\":%.2f}\n",
    bin, u, u / 1048576, s, s / 1048576 }'
