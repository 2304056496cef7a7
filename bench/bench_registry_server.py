"""Registry server figures: wharfie's server against Debian's docker-registry, same content,
same run, measured with ``wrk``; plus push/pull MB/s over plain HTTP.

Run: .venv/bin/python bench/bench_registry_server.py [--blob-mib 50] [--seconds 8] [--workers 2]
     .venv/bin/python bench/bench_registry_server.py --stacks   (the HTTP stack choice)

HTTP stack choice (``--stacks``, wrk, this 2-core machine, one process each; a 1 KB
response with a digest header, and a 50 MB file):

    stack                 small GETs/s (32 conns)   50 MB file GET (4 conns)
    starlette + uvicorn   17,775                    537 MB/s
    aiohttp.web           26,292                    1.83 GB/s   (FileResponse: sendfile)

so the server is built on aiohttp.web.

Figures of the registry comparison (one run, 6 s per wrk measurement, this 2-core machine
shared with other work, so they vary by ~20% between runs):

                             wharfie   docker-registry   ratio
    manifest GET req/s         6,285               762   8.25x   (wrk, 32 connections)
    manifest HEAD req/s        3,381               815   4.15x   (Python client, 8 threads)
    blob GET MB/s (50 MiB)     1,288               966   1.33x   (wrk, 4 connections)
    push MB/s (50 MiB PUT)       269               173   1.55x
    pull MB/s (one GET)          813               562   1.45x

With ``--workers 2`` (wharfie serve --workers 2, one process per core), another run:

    manifest GET req/s        12,962             1,042  12.44x
    manifest HEAD req/s        4,986             1,074   4.64x
    blob GET MB/s              2,201             1,385   1.59x
    push MB/s                    490               250   1.96x
    pull MB/s                  2,534             1,492   1.70x
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import urllib3

from wharfie.testing import random

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int) -> None:
    for _ in range(300):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def wrk(url: str, conns: int, seconds: int) -> tuple[float, float]:
    """(requests/s, bytes/s) as wrk reports them."""
    cmd = ["wrk", f"-t{min(conns, 2)}", f"-c{conns}", f"-d{seconds}s", "-H",
           f"Accept: {MANIFEST}", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[m[2]]
    return rps, float(m[1]) * scale


def head_rps(url: str, seconds: float, threads: int = 8) -> float:
    """HEAD requests/s from keep-alive connections in threads (wrk cannot send HEAD: it waits
    for a body that never comes). Client-bound in Python, so read it as a ratio."""
    parts = urllib3.util.parse_url(url)
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def run(i: int) -> None:
        conn = http.client.HTTPConnection(parts.host, parts.port)
        while time.perf_counter() < deadline:
            conn.request("HEAD", parts.path, headers={"Accept": MANIFEST})
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            counts[i] += 1
        conn.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def push(http: urllib3.PoolManager, base: str, blob: bytes) -> tuple[str, float]:
    """Push a config, the blob (monolithic PUT) and a manifest; returns (blob digest, MB/s)."""
    def put_blob(data: bytes) -> str:
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        r = http.request("POST", f"{base}/v2/bench/app/blobs/uploads/")
        loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else base + loc
        sep = "&" if "?" in loc else "?"
        r = http.request("PUT", f"{loc}{sep}digest={d}", body=data,
                         headers={"Content-Type": "application/octet-stream"})
        assert r.status == 201, r.data
        return d

    image = random.image(contents=[blob])
    put_blob(image.read_blob(image.manifest.config))
    start = time.perf_counter()
    bd = put_blob(blob)
    mbps = len(blob) / (time.perf_counter() - start) / 1e6
    manifest = image.manifest.raw
    r = http.request("PUT", f"{base}/v2/bench/app/manifests/latest", body=manifest,
                     headers={"Content-Type": MANIFEST})
    assert r.status == 201, r.data
    return bd, mbps


def pull_mbps(http: urllib3.PoolManager, url: str, size: int) -> float:
    start = time.perf_counter()
    r = http.request("GET", url, preload_content=False)
    n = sum(len(c) for c in r.stream(1 << 20))
    r.release_conn()
    assert n == size
    return size / (time.perf_counter() - start) / 1e6


def start_servers(tmp: Path, workers: int) -> dict[str, tuple[subprocess.Popen, str]]:
    servers = {}
    port = free_port()
    servers["wharfie"] = (subprocess.Popen(
        [sys.executable, "-m", "wharfie", "--root", str(tmp / "root"), "registry", "serve", "-q",
         "--addr", f"127.0.0.1:{port}", "--data", str(tmp / "wharfie"),
         "--workers", str(workers)],
        stderr=subprocess.DEVNULL), f"http://127.0.0.1:{port}")
    wait_for(port)
    exe = shutil.which("docker-registry")
    if exe:
        port = free_port()
        cfg = tmp / "config.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n"
            f"  filesystem:\n    rootdirectory: {tmp / 'dr'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n")
        servers["docker-registry"] = (subprocess.Popen(
            [exe, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            f"http://127.0.0.1:{port}")
        wait_for(port)
    return servers


def compare(blob_mib: int, seconds: int, workers: int) -> None:
    blob = os.urandom(blob_mib << 20)
    http = urllib3.PoolManager(maxsize=4, timeout=120)
    with tempfile.TemporaryDirectory() as d:
        servers = start_servers(Path(d), workers)
        results: dict[str, dict[str, float]] = {}
        try:
            for name, (_, base) in servers.items():
                digest, push_rate = push(http, base, blob)
                blob_url = f"{base}/v2/bench/app/blobs/{digest}"
                man_url = f"{base}/v2/bench/app/manifests/latest"
                results[name] = {
                    "manifest GET req/s": wrk(man_url, 32, seconds)[0],
                    "manifest HEAD req/s": head_rps(man_url, seconds),
                    "blob GET MB/s": wrk(blob_url, 4, seconds)[1] / 1e6,
                    "push MB/s": push_rate,
                    "pull MB/s": pull_mbps(http, blob_url, len(blob)),
                }
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
    names = list(results)
    print(f"{'':24}" + "".join(f"{n:>18}" for n in names) + ("     ratio" if len(names) > 1
                                                             else ""))
    for metric in results["wharfie"]:
        row = [results[n][metric] for n in names]
        ratio = f"  {row[0] / row[1]:7.2f}x" if len(row) > 1 and row[1] else ""
        print(f"{metric:24}" + "".join(f"{v:18,.0f}" for v in row) + ratio)


def stacks(seconds: int) -> None:
    """The measurement behind the choice of aiohttp.web (see the module docstring)."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "blob").write_bytes(os.urandom(50 << 20))
        body = 'b\'{"schemaVersion":2}\' * 50'
        (tmp / "star_app.py").write_text(
            "from starlette.applications import Starlette\n"
            "from starlette.responses import Response, FileResponse\n"
            "from starlette.routing import Route\n"
            f"async def man(r): return Response({body}, headers={{'Docker-Content-Digest': "
            "'sha256:' + '0'*64}, media_type='application/json')\n"
            f"async def blob(r): return FileResponse('{tmp / 'blob'}')\n"
            "app = Starlette(routes=[Route('/m', man), Route('/b', blob)])\n")
        (tmp / "aio_app.py").write_text(
            "import sys\nfrom aiohttp import web\n"
            f"async def man(r): return web.Response(body={body}, headers={{"
            "'Docker-Content-Digest': 'sha256:' + '0'*64}, content_type='application/json')\n"
            f"async def blob(r): return web.FileResponse('{tmp / 'blob'}')\n"
            "app = web.Application()\napp.router.add_get('/m', man)\n"
            "app.router.add_get('/b', blob)\n"
            "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), access_log=None, "
            "print=None)\n")
        p1, p2 = free_port(), free_port()
        procs = [
            subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", d, "star_app:app",
                              "--port", str(p1), "--log-level", "warning", "--no-access-log"]),
            subprocess.Popen([sys.executable, str(tmp / "aio_app.py"), str(p2)])]
        try:
            wait_for(p1)
            wait_for(p2)
            for name, port in (("starlette+uvicorn", p1), ("aiohttp.web", p2)):
                rps = wrk(f"http://127.0.0.1:{port}/m", 32, seconds)[0]
                bps = wrk(f"http://127.0.0.1:{port}/b", 4, seconds)[1]
                print(f"{name:20} {rps:10,.0f} small GETs/s {bps / 1e6:10,.0f} MB/s file GET")
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blob-mib", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="wharfie serve --workers")
    ap.add_argument("--stacks", action="store_true", help="compare HTTP stacks instead")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (scripts/install-system-deps.sh)")
    if args.stacks:
        stacks(args.seconds)
    else:
        compare(args.blob_mib, args.seconds, args.workers)


if __name__ == "__main__":
    main()
