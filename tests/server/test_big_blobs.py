"""Uploads and downloads stream: a blob far larger than the server's memory growth."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from regtest import Http

SIZE = 256 << 20
CHUNK = 1 << 20


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_256_mib_blob_streams_with_flat_memory(start_registry):
    server = start_registry()
    http = Http(server.url)
    block = os.urandom(CHUNK)
    h = hashlib.sha256()
    for i in range(SIZE // CHUNK):
        h.update(block[i % 7:] + block[:i % 7])
    digest = "sha256:" + h.hexdigest()

    def body():
        for i in range(SIZE // CHUNK):
            yield block[i % 7:] + block[:i % 7]

    base_rss = peak_rss_mib(server.proc.pid)
    loc = http("POST", "/v2/big/blob/blobs/uploads/").headers["Location"]
    r = http("PATCH", loc, body=body(), chunked=True)
    assert r.status == 202 and r.headers["Range"] == f"0-{SIZE - 1}"
    assert http("PUT", f"{loc}?digest={digest}").status == 201
    r = http("GET", f"/v2/big/blob/blobs/{digest}", preload_content=False)
    got, n = hashlib.sha256(), 0
    for chunk in r.stream(CHUNK):
        got.update(chunk)
        n += len(chunk)
    r.release_conn()
    assert n == SIZE and "sha256:" + got.hexdigest() == digest
    assert peak_rss_mib(server.proc.pid) - base_rss < 64
