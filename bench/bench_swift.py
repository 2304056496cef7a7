"""Push and pull MB/s through ``wharfie registry serve`` on a 3-node Swift cluster (S3 API,
3 replicas, scripts/swift-saio.sh) against the same server on the filesystem driver, same
run, same blobs (monolithic PUT, one GET).

Run: .venv/bin/python bench/bench_swift.py [--blob-mib 64] [--repeat 3] [--port-base 28000]

Figures: see the report of issue 17 (this 2-core machine, shared with other work).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import urllib3
from bench_registry_server import free_port, pull_mbps, push, wait_for

SAIO = Path(__file__).resolve().parents[1] / "scripts" / "swift-saio.sh"
S3_ENV = {"AWS_ACCESS_KEY_ID": "test:tester", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


def serve(tmp: Path, name: str, *storage: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wharfie", "--root", str(tmp / "root"), "registry", "serve",
         "--addr", f"127.0.0.1:{port}", "--data", str(tmp / name), *storage],
        stderr=subprocess.DEVNULL, env={**os.environ, **S3_ENV})
    wait_for(port)
    return proc, f"http://127.0.0.1:{port}"


def measure(base: str, blob_mib: int, repeat: int) -> tuple[float, float]:
    """Median push and pull MB/s over ``repeat`` fresh blobs."""
    http = urllib3.PoolManager(maxsize=4, timeout=300)
    pushes, pulls = [], []
    for _ in range(repeat):
        blob = os.urandom(blob_mib << 20)
        digest, mbps = push(http, base, blob)
        pushes.append(mbps)
        pulls.append(pull_mbps(http, f"{base}/v2/bench/app/blobs/{digest}", len(blob)))
    return statistics.median(pushes), statistics.median(pulls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blob-mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--port-base", type=int, default=28000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        subprocess.run([SAIO, "start", str(tmp / "swift"), str(args.port_base)], check=True)
        procs = []
        try:
            procs.append(serve(tmp, "fs"))
            procs.append(serve(tmp, "s3", "--s3-bucket", "bench", "--s3-endpoint",
                               f"http://127.0.0.1:{args.port_base}"))
            print(f"{args.blob_mib} MiB blobs, median of {args.repeat}:")
            print(f"{'storage':<12}{'push MB/s':>12}{'pull MB/s':>12}")
            for (_, base), name in zip(procs, ("filesystem", "swift (s3)"), strict=True):
                up, down = measure(base, args.blob_mib, args.repeat)
                print(f"{name:<12}{up:>12.1f}{down:>12.1f}")
        finally:
            for proc, _ in procs:
                proc.terminate()
                proc.wait(10)
            subprocess.run([SAIO, "stop", str(tmp / "swift")], check=True)


if __name__ == "__main__":
    main()
