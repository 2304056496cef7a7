"""The event log ``wharfie events`` reads: daemonless, as podman's "file" events backend.

Every operation appends one line of docker's event JSON (``Type``, ``Action``, ``Actor``,
``time``, ``timeNano``...) to ``<root>/events/events.log`` with one ``O_APPEND`` write, so
lines from concurrent processes never interleave. Past ``MAX_SIZE`` bytes the log is
renamed to ``events.log.1`` (the one before is dropped), under a flock so two writers
never rotate twice. A write that fails is logged, never raised: an event is a record of
an operation, not part of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

MAX_SIZE = 1 << 20  # podman's events_logfile_max_size default
FILTERS = {"type", "event", "container", "image", "label", "volume"}


def log_path(root: Path | str) -> Path:
    return Path(root) / "events" / "events.log"


def message(type_: str, action: str, actor: str, attributes: Mapping[str, str],
            time_ns: int) -> dict:
    """docker's events.Message; the deprecated status/id/from only for containers and
    images, as dockerd fills them."""
    msg: dict = {}
    if type_ in ("container", "image"):
        msg = {"status": action, "id": actor}
        if type_ == "container" and attributes.get("image"):
            msg["from"] = attributes["image"]
    return {**msg, "Type": type_, "Action": action,
            "Actor": {"ID": actor, "Attributes": dict(attributes)}, "scope": "local",
            "time": time_ns // 1_000_000_000, "timeNano": time_ns}


def emit(root: Path | str, type_: str, action: str, actor: str,
         attributes: Mapping[str, str] | None = None, *, max_size: int = MAX_SIZE) -> None:
    """Append one event; a failure is logged as a warning, never raised."""
    line = json.dumps(message(type_, action, actor, attributes or {}, time.time_ns()),
                      separators=(",", ":")).encode() + b"\n"
    path = log_path(root)
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > max_size:
            _rotate(path, max_size)
    except OSError as e:
        import logging  # only to say so: it costs a short command 3 ms to load

        logging.getLogger(__name__).warning(
            "wharfie: warning: could not record the %s %s event in %s: %s",
            type_, action, path, e.strerror or e)


def _rotate(path: Path, max_size: int) -> None:
    """events.log -> events.log.1, once: the size is checked again under the lock."""
    fd = os.open(path.parent / "rotate.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > max_size:
                os.replace(path, path.with_name(path.name + ".1"))
    finally:
        os.close(fd)


def matches(event: Mapping, filters: Mapping[str, list[str]]) -> bool:
    """docker's event filters: values of one key are alternatives, keys must all hold."""
    attrs = event["Actor"]["Attributes"]
    actor, type_ = event["Actor"]["ID"], event["Type"]

    def any_of(key: str, test: Callable[[str], bool]) -> bool:
        return key not in filters or any(test(v) for v in filters[key])

    def named(v: str, *names: str) -> bool:
        return bool(v) and (v in names or actor.startswith(v))

    return (any_of("type", lambda v: v == type_)
            and any_of("event", lambda v: v == event["Action"].split(":", 1)[0])
            and any_of("container", lambda v: type_ == "container"
                       and named(v, attrs.get("name", "")))
            and any_of("image", lambda v: v in (attrs.get("image"), attrs.get("name"), actor)
                       if type_ in ("container", "image") else False)
            and any_of("volume", lambda v: type_ == "volume" and v == actor)
            and any_of("label", lambda v: _has_label(attrs, v)))


def _has_label(attrs: Mapping[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in attrs and (not sep or attrs[key] == value)


def _records(f, partial: bytes) -> tuple[list[dict], bytes]:
    """The whole lines of what ``f`` has past its offset, parsed; the unfinished rest."""
    data = partial + f.read()
    *lines, rest = data.split(b"\n")
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out, rest


def read(root: Path | str, *, since_ns: int | None = None, until_ns: int | None = None,
         follow: bool = False, poll: float = 0.1) -> Iterator[dict]:
    """The events between ``since_ns`` and ``until_ns``, oldest first; with ``follow``,
    then each new one as it is written (across rotations) until ``until_ns`` passes or
    the caller stops iterating. Without ``since_ns`` only events from now on."""
    path = log_path(root)
    start = time.time_ns() if since_ns is None else since_ns

    def wanted(e: dict) -> bool:
        return e.get("timeNano", 0) >= start and (until_ns is None or e["timeNano"] <= until_ns)

    with contextlib.suppress(FileNotFoundError), open(path.with_name(path.name + ".1"),
                                                      "rb") as old:
        yield from filter(wanted, _records(old, b"")[0])
    f = None
    partial = b""
    try:
        while True:
            if f is None:
                with contextlib.suppress(FileNotFoundError):
                    f = open(path, "rb")  # noqa: SIM115 - closed below, or on rotation
            if f is not None:
                rotated = _rotated(f, path)  # before the read, so that read drains it
                records, partial = _records(f, partial)
                yield from filter(wanted, records)
                if rotated:  # go on with the new file
                    f.close()
                    f, partial = None, b""
                    continue
            if not follow or (until_ns is not None and time.time_ns() > until_ns):
                return
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()


def _rotated(f, path: Path) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return True
