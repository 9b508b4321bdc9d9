#!/usr/bin/env python3
"""Startup time of the real `tokenauth` binary: from starting the process to the first
`GET /readyz` answered 200 (the database open and migrated, the signing keys loaded, the
listener accepting), polled every 0.5 ms over a fresh connection each time.

Usage: bench/startup.py [--binary PATH] [--runs N]
Two cases, N runs each: a fresh data directory (master key, database, migrations and the first
signing key are created) and an existing one (the directory of a previous run, reopened).
Prints one JSON object with every sample and the median, in milliseconds.
Needs only Python 3's standard library.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from local_server import free_port, ready


def start_once(binary: str, data_dir: str) -> float:
    """Milliseconds from spawn to the first 200 from /readyz; stops the server again."""
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while not ready(port):
            if proc.poll() is not None:
                raise RuntimeError(f"tokenauth exited with {proc.returncode}")
            if time.perf_counter() - started > 30:
                raise RuntimeError("not ready after 30 s")
            time.sleep(0.0005)
        return (time.perf_counter() - started) * 1000
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.environ.get(
        "TOKENAUTH_BIN", "target/release/tokenauth"))
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="tokenauth-startup-")
    try:
        fresh, existing = [], []
        for i in range(args.runs):
            data_dir = os.path.join(root, f"data-{i}")
            fresh.append(start_once(args.binary, data_dir))
            existing.append(start_once(args.binary, data_dir))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report = {}
    for name, samples in (("fresh_data_dir", fresh), ("existing_data_dir", existing)):
        report[name] = {
            "median_ms": round(statistics.median(samples), 2),
            "min_ms": round(min(samples), 2),
            "max_ms": round(max(samples), 2),
            "samples_ms": [round(s, 2) for s in samples],
        }
    report["loadavg"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
