#!/usr/bin/env python3
"""Memory of the real `tokenauth` binary, idle and under load.

For each scenario: start `tokenauth serve` on a fresh data directory (per-IP login and sign-up
limits off and refresh raised to 1000000/s, since every load client comes from 127.0.0.1), wait
for /readyz, let it idle 2 s
and read VmRSS (idle); then load it with `tokenauth-bench SCENARIO --target URL`, sampling
VmRSS every 100 ms, and read VmHWM (the peak resident set the kernel saw) at the end.

Usage: bench/rss.py [--binary PATH] [--bench PATH] [--duration 10s] [SCENARIO ...]
Prints one JSON object; sizes in MiB. Needs only Python 3's standard library.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from local_server import free_port, ready


def status_mib(pid: int) -> dict:
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024  # kB -> MiB
    return values


def measure(binary: str, bench: str, scenario: str, duration: str, clients: int) -> dict:
    root = tempfile.mkdtemp(prefix="tokenauth-rss-")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", f"{root}/data",
         "--rate-limit-login", "off", "--rate-limit-signup", "off",
         "--rate-limit-refresh", "1000000/s"],
        env=dict(os.environ, RUST_LOG="warn"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while not ready(port):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("tokenauth did not become ready")
            time.sleep(0.01)
        time.sleep(2)
        idle = status_mib(proc.pid)["VmRSS"]
        load = subprocess.Popen(
            [bench, scenario, "--target", f"http://127.0.0.1:{port}", "--runs", "1",
             "--duration", duration, "--clients", str(clients), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        peak_sample = 0.0
        while load.poll() is None:
            peak_sample = max(peak_sample, status_mib(proc.pid)["VmRSS"])
            time.sleep(0.1)
        report = json.loads(load.stdout.read() or "{}")
        after = status_mib(proc.pid)
        return {
            "idle_rss_mib": round(idle, 1),
            "peak_sampled_rss_mib": round(peak_sample, 1),
            "hwm_mib": round(after["VmHWM"], 1),
            "rss_after_mib": round(after["VmRSS"], 1),
            "throughput": round(report.get("median", {}).get("throughput", 0.0), 1),
            "errors": report.get("errors"),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.environ.get(
        "TOKENAUTH_BIN", "target/release/tokenauth"))
    parser.add_argument("--bench", default=os.environ.get(
        "TOKENAUTH_BENCH_BIN", "target/release/tokenauth-bench"))
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("scenarios", nargs="*",
                        default=["refresh", "verify", "me", "login", "signup", "mixed"])
    args = parser.parse_args()
    report = {s: measure(args.binary, args.bench, s, args.duration, args.clients)
              for s in args.scenarios}
    report["loadavg"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
