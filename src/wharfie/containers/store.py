"""Containers under ``<root>/containers``: a record per container and the state its monitor keeps.

``<id>.json`` is the record (name, image, configuration), written by the commands that
create or rename it. ``<id>/state.json`` is written only by the container's monitor
process (``wharfie.containers.monitor``), so the two never race. A state that says
"running" is believed only while its monitor lives: same pid, same process start time,
same boot; otherwise (the monitor was killed, the host rebooted) the container shows as
exited.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from wharfie import events
from wharfie.containers.names import random_name
from wharfie.errors import Conflict, InvalidInput, NotFound
from wharfie.fs.atomic import atomic_write
from wharfie.fs.private import make_private_dirs

LIVE = ("running", "paused", "restarting")
CRASHED_EXIT = 255  # what docker shows for a container whose runtime vanished under it


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> int | None:
    """The start time (clock ticks since boot) of process ``pid``: with the pid, its identity."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass
class State:
    """What the monitor records; ``monitor`` is (pid, start time, boot id) of the monitor."""

    status: str = "created"  # created, running, paused, restarting, exited
    pid: int = 0
    exit_code: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: str = ""
    restart_count: int = 0
    monitor: tuple[int, int, str] | None = None
    stub_paths: list[str] = field(default_factory=list)

    def monitor_alive(self) -> bool:
        if self.monitor is None:
            return False
        pid, start, boot = self.monitor
        return boot == boot_id() and process_start(pid) == start


@dataclass
class Container:
    id: str
    name: str
    image: str
    image_id: str
    command: list[str]
    snapshot: str
    created: float = field(default_factory=time.time)
    chain: str | None = None  # the snapshot's parent: the image's top layer
    config: dict = field(default_factory=dict)  # docker's Config
    host_config: dict = field(default_factory=dict)  # docker's HostConfig
    state: State = field(default_factory=State, compare=False)

    @property
    def status(self) -> str:
        """The state's status, but "exited" once a live-looking state has lost its monitor."""
        if self.state.status in LIVE and not self.state.monitor_alive():
            return "exited"
        return self.state.status

    @property
    def running(self) -> bool:
        return self.status in LIVE

    @property
    def exit_code(self) -> int:
        if self.state.status in LIVE and self.status == "exited":
            return CRASHED_EXIT
        return self.state.exit_code

    @property
    def finished(self) -> float | None:
        return self.state.finished_at


class ContainerStore:
    """The containers of one wharfie root."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.dir = self.root / "containers"

    def _path(self, cid: str) -> Path:
        return self.dir / f"{cid}.json"

    def home(self, cid: str) -> Path:
        """The container's own directory: state, logs, bundle."""
        return self.dir / cid

    def _load(self, path: Path) -> Container:
        data = json.loads(path.read_text())
        known = {f.name for f in fields(Container)} - {"state"}
        c = Container(**{k: v for k, v in data.items() if k in known})
        c.state = self.read_state(c.id)
        return c

    def read_state(self, cid: str) -> State:
        try:
            data = json.loads((self.home(cid) / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return State()
        if data.get("monitor"):
            data["monitor"] = tuple(data["monitor"])
        known = {f.name for f in fields(State)}
        return State(**{k: v for k, v in data.items() if k in known})

    def write_state(self, cid: str, state: State) -> None:
        self.home(cid).mkdir(parents=True, exist_ok=True)
        atomic_write(self.home(cid) / "state.json", json.dumps(asdict(state)).encode())

    def list(self) -> list[Container]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.glob("*.json"):
            try:
                out.append(self._load(p))
            except FileNotFoundError:  # removed meanwhile
                continue
        return sorted(out, key=lambda c: c.created, reverse=True)

    def create(self, *, name: str | None, image: str, image_id: str, command: list[str],
               chain: str | None = None, config: dict | None = None,
               host_config: dict | None = None) -> Container:
        make_private_dirs(self.dir)  # records, logs and bundles: root's alone
        taken = {c.name for c in self.list()}
        if name is not None:
            check_name(name)
            if name in taken:
                raise Conflict(f'The container name "/{name}" is already in use')
        else:
            name = random_name(taken)
        cid = secrets.token_hex(32)
        c = Container(id=cid, name=name, image=image, image_id=image_id, command=command,
                      snapshot=f"ctr-{cid[:24]}", chain=chain, config=config or {},
                      host_config=host_config or {})
        self.home(cid).mkdir(mode=0o700)
        self.save(c)
        return c

    def save(self, c: Container) -> None:
        record = asdict(c)
        del record["state"]
        atomic_write(self._path(c.id), json.dumps(record, indent=1).encode())

    def get(self, ref: str) -> Container:
        """By name, full ID or unique ID prefix, as Docker resolves them."""
        found = self.list()
        ref = ref.removeprefix("/")
        for c in found:
            if ref in (c.name, c.id):
                return c
        matches = [c for c in found if ref and c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidInput(f"multiple containers found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def rename(self, c: Container, name: str) -> None:
        check_name(name)
        if any(o.name == name and o.id != c.id for o in self.list()):
            raise Conflict(f'The container name "/{name}" is already in use')
        c.name = name
        self.save(c)

    def delete(self, c: Container) -> None:
        import shutil

        self._path(c.id).unlink(missing_ok=True)
        shutil.rmtree(self.home(c.id), ignore_errors=True)


def container_event(root: Path | str, c: Container, action: str, **extra: str) -> None:
    """Record ``action`` on ``c`` in the event log, with docker's attributes: the
    container's labels, its image and name, and ``extra`` (exitCode, signal...)."""
    attrs = {**(c.config.get("Labels") or {}), "image": c.image, "name": c.name, **extra}
    events.emit(root, "container", action, c.id, attrs)


def check_name(name: str) -> None:
    if not name or not name[0].isalnum() or \
            not all(ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in name):
        raise InvalidInput(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                           "are allowed")
