"""Container logs in docker's json-file format: one JSON object per line,
``{"log": ..., "stream": "stdout"|"stderr", "time": RFC 3339 with nanoseconds}``.

Output is split at newlines as it arrives, so a partial line is its own record (docker
does the same when its buffer flushes). Bytes that are not UTF-8 survive the round trip
as surrogate escapes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


def log_path(home: Path, cid: str) -> Path:
    return home / f"{cid}-json.log"


def log_file(home: Path, cid: str, host_config: dict) -> Path | None:
    """Where the container's output is kept: nowhere with ``--log-driver none`` (``local``
    is kept as json-file is)."""
    driver = (host_config.get("LogConfig") or {}).get("Type", "json-file")
    return None if driver == "none" else log_path(home, cid)


def readable_log(home: Path, cid: str, host_config: dict) -> Path:
    """The log ``logs`` reads; docker's error when the driver keeps none."""
    from wharfie.errors import WharfieError

    path = log_file(home, cid, host_config)
    if path is None:
        raise WharfieError("configured logging driver does not support reading")
    return path


def rfc3339(ns: int) -> str:
    """Docker's timestamp format: UTC, nanoseconds, trailing zeros kept."""
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


def parse_time(text: str) -> int:
    """An RFC 3339 time (any fraction) in ns since the epoch."""
    base, _, frac = text.rstrip("Z").partition(".")
    secs = int(datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=UTC).timestamp())
    return secs * 1_000_000_000 + int((frac + "000000000")[:9])


class LogWriter:
    """Appends records from several pumps; one lock keeps lines whole. Without a path
    (``--log-driver none``) nothing is kept."""

    def __init__(self, path: Path | None) -> None:
        self._f = None if path is None else open(path, "ab", buffering=0)  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, stream: str, data: bytes) -> None:
        if self._f is None:
            return
        now = time.time_ns()
        text = data.decode("utf-8", "surrogateescape")
        lines = text.splitlines(keepends=True)
        out = b"".join(json.dumps({"log": line, "stream": stream, "time": rfc3339(now)})
                       .encode() + b"\n" for line in lines)
        with self._lock:
            self._f.write(out)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


@dataclass(frozen=True)
class Entry:
    stream: str
    data: bytes
    time_ns: int
    stamp: str


def _entry(line: bytes) -> Entry | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return Entry(rec["stream"], rec["log"].encode("utf-8", "surrogateescape"),
                 parse_time(rec["time"]), rec["time"])


def read_logs(path: Path, *, tail: int | None = None, since_ns: int | None = None,
              until_ns: int | None = None, follow: bool = False,
              done: Callable[[], bool] = lambda: True, poll: float = 0.05) -> Iterator[Entry]:
    """The records of a log; with ``follow``, new ones as they come until ``done()``."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with f:
        lines = f.readlines()
        partial = b""
        if lines and not lines[-1].endswith(b"\n"):
            partial = lines.pop()
        if tail is not None:
            lines = lines[len(lines) - tail:] if tail > 0 else []
        for line in lines:
            e = _entry(line)
            if e and _wanted(e, since_ns, until_ns):
                yield e
        if not follow:
            return
        while True:
            finished = done()  # read once more after the end is known: nothing is lost
            chunk = f.read()
            if chunk:
                data = partial + chunk
                *whole, partial = data.split(b"\n")
                for line in whole:
                    e = _entry(line)
                    if e and _wanted(e, since_ns, until_ns):
                        yield e
            elif finished:
                return
            else:
                time.sleep(poll)


def _wanted(e: Entry, since_ns: int | None, until_ns: int | None) -> bool:
    return (since_ns is None or e.time_ns >= since_ns) and (until_ns is None or
                                                             e.time_ns <= until_ns)


def parse_since(value: str, now: float | None = None) -> int:
    """docker's --since/--until: a duration before now (10m, 1h30m), a Unix time or RFC 3339."""
    import re

    now = time.time() if now is None else now
    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", value):
        units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        secs = sum(float(n) * units[u] for n, _, u in
                   re.findall(r"(\d+(\.\d+)?)(ns|us|ms|s|m|h)", value))
        return int((now - secs) * 1e9)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return int(float(value) * 1e9)
    try:
        if "T" in value:
            return parse_time(value.replace("+00:00", "Z"))
        return parse_time(value + "T00:00:00Z")
    except ValueError:
        from wharfie.errors import InvalidInput

        raise InvalidInput(f"invalid value for \"since\": {value!r}") from None


def fsize(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
