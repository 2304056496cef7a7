"""``serve --workers N``: forked processes share the port and the storage."""

from __future__ import annotations

import os
import time
from pathlib import Path

from regtest import Http


def children(pid: int) -> list[int]:
    return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_two_workers_serve_and_stop_together(start_registry):
    server = start_registry("--workers", "2")
    kids = children(server.proc.pid)
    assert len(kids) == 2
    http = Http(server.url, maxsize=8)
    pushed = [http.push_image(f"workers/r{i}", "t", [os.urandom(2000)]) for i in range(6)]
    for i, (digest, raw) in enumerate(pushed):
        for _ in range(3):  # fresh connections land on either worker
            assert Http(server.url)("GET", f"/v2/workers/r{i}/manifests/{digest}").data == raw
    server.proc.terminate()
    assert server.proc.wait(10) == 0
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{k}") for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{k}") for k in kids)
