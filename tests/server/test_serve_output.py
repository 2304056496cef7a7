"""Issue 15: ``registry serve`` says where it listens and what it stores, logs one line per
request in common log format (not with ``--quiet``), and a port in use is one error line."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import urllib.request

from tests.conftest import free_port, wait_for_port


def start(tmp_path, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wharfie", "registry", "serve",
                             "--addr", f"127.0.0.1:{port}", "--data", str(tmp_path / "data"),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def read_line(stream, timeout: float = 10.0) -> str:
    """The next line of ``stream``, or a marker if none comes within ``timeout``."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else f"<no line within {timeout} s>"


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.terminate()
    return proc.communicate(timeout=10)


def test_start_line_access_log_and_port_in_use(tmp_path):
    port = free_port()
    proc = start(tmp_path, port)
    try:
        wait_for_port(port)
        assert read_line(proc.stderr) == (
            f"wharfie registry: listening on http://127.0.0.1:{port}, storage "
            f"{tmp_path / 'data' / 'storage'}\n")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/") as resp:
            assert resp.status == 200
        line = read_line(proc.stdout)
        assert re.fullmatch(r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                            r'"GET /v2/ HTTP/1\.1" 200 \d+\n', line), line
        busy = subprocess.run([sys.executable, "-m", "wharfie", "registry", "serve",
                               "--addr", f"127.0.0.1:{port}", "--data", str(tmp_path / "d2")],
                              capture_output=True, text=True, timeout=30)
        assert busy.returncode == 1
        assert busy.stderr == (f"wharfie: error: cannot listen on 127.0.0.1:{port}: the "
                               "address is already in use\n")
    finally:
        stop(proc)


def test_quiet_prints_nothing(tmp_path):
    port = free_port()
    proc = start(tmp_path, port, "--quiet")
    try:
        wait_for_port(port)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/").close()
    finally:
        out, err = stop(proc)
    assert out == "" and err == ""
