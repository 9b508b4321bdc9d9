#!/usr/bin/env python3
"""Summary of one bench/run-peers.sh session: reads its results directory, prints Markdown
tables. Usage: bench/summarize.py bench/results/<time>"""

import glob
import json
import re
import statistics
import sys


def wrk_figures(path: str) -> dict:
    text = open(path).read()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    figures = {"rate": rate}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m:
            value, unit = float(m.group(1)), m.group(2)
            figures[f"p{pct}_ms"] = value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    figures["non_2xx"] = int(errors.group(1)) if errors else 0
    return figures


def main() -> None:
    out = sys.argv[1]
    rust = json.load(open(f"{out}/rust-verify.json"))
    pyjwt = json.load(open(f"{out}/pyjwt.json"))
    jose = json.load(open(f"{out}/jose.json"))
    rows = [(name, rate) for name, rate in rust["verify_per_second"]]
    rows += [(pyjwt["library"], pyjwt["verify_per_second"]), (jose["library"], jose["verify_per_second"])]
    ours = dict(rust["verify_per_second"]).get("tokenauth-verify", 0.0)
    print(f"Verification, {rust['count']} distinct {rust['alg']} tokens from our server, one core:\n")
    print("| library | verifications/s per core | tokenauth-verify / it |")
    print("|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {ours / rate:.2f}x |")

    runs = [wrk_figures(p) for p in sorted(glob.glob(f"{out}/wrk-oidc-*.txt"))]
    med = lambda key: statistics.median(r.get(key, float("nan")) for r in runs)
    ta = json.load(open(f"{out}/tokenauth-refresh.json"))["median"]
    rss = {}
    for phase in ("idle", "load"):
        for line in open(f"{out}/oidc-provider-rss-{phase}.txt"):
            key, value = line.split(":")
            rss[f"{phase}_{key}"] = int(value.split()[0]) / 1024
    print("\nIssuance (median of the runs):\n")
    print("| server | request | tokens/s | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|---|")
    print(f"| oidc-provider (wrk -t1 -c16) | client_credentials, ES256 JWT, nothing stored | "
          f"{med('rate'):,.0f} | {med('p50_ms'):.2f} ms | {med('p99_ms'):.2f} ms | "
          f"{sum(r['non_2xx'] for r in runs)} |")
    print(f"| tokenauth (tokenauth-bench, 16 clients) | refresh, ES256 JWT + rotation persisted | "
          f"{ta['throughput']:,.0f} | {ta['latency']['p50_ms']:.2f} ms | "
          f"{ta['latency']['p99_ms']:.2f} ms | - |")
    print(f"\nratio tokenauth refresh / oidc-provider client_credentials: "
          f"{ta['throughput'] / med('rate'):.2f}x")
    print(f"oidc-provider RSS: idle {rss['idle_VmRSS']:.1f} MiB, after load {rss['load_VmRSS']:.1f} MiB, "
          f"peak (VmHWM) {rss['load_VmHWM']:.1f} MiB")
    print("\n" + open(f"{out}/loadavg.txt").read().strip())


if __name__ == "__main__":
    main()
