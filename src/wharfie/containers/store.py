"""Container records under ``<root>/containers/<id>.json``: what ``ps`` lists and ``rm`` removes.

A container is an image, a writable snapshot on top of it and the command it ran.
The record names the snapshot key; the snapshotter owns the files.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wharfie.errors import Conflict, InvalidInput, NotFound
from wharfie.fs.atomic import atomic_write

_ADJECTIVES = ["brave", "calm", "eager", "fond", "keen", "lucid", "merry", "quiet", "sharp",
               "tender", "vivid", "witty"]
_NAMES = ["curie", "darwin", "euler", "hopper", "lovelace", "noether", "pascal", "ritchie",
          "shannon", "thompson", "turing", "wozniak"]


@dataclass
class Container:
    id: str
    name: str
    image: str
    image_id: str
    command: list[str]
    snapshot: str
    created: float = field(default_factory=time.time)
    state: str = "created"  # created, running, exited
    exit_code: int | None = None
    finished: float | None = None
    pid: int | None = None  # the wharfie process running it

    @property
    def running(self) -> bool:
        """Running only while the wharfie process that started it lives."""
        if self.state != "running" or self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class ContainerStore:
    """The containers of one wharfie root."""

    def __init__(self, root: Path | str) -> None:
        self.dir = Path(root) / "containers"

    def _path(self, cid: str) -> Path:
        return self.dir / f"{cid}.json"

    def list(self) -> list[Container]:
        if not self.dir.is_dir():
            return []
        out = [Container(**json.loads(p.read_text())) for p in self.dir.glob("*.json")]
        return sorted(out, key=lambda c: c.created, reverse=True)

    def create(self, *, name: str | None, image: str, image_id: str,
               command: list[str]) -> Container:
        self.dir.mkdir(parents=True, exist_ok=True)
        taken = {c.name for c in self.list()}
        if name is not None:
            if not name or not all(ch.isalnum() or ch in "_.-" for ch in name):
                raise InvalidInput(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                                   "are allowed")
            if name in taken:
                raise Conflict(f'The container name "/{name}" is already in use')
        else:
            name = _random_name(taken)
        cid = secrets.token_hex(32)
        c = Container(id=cid, name=name, image=image, image_id=image_id, command=command,
                      snapshot=f"ctr-{cid[:24]}")
        self.save(c)
        return c

    def save(self, c: Container) -> None:
        atomic_write(self._path(c.id), json.dumps(asdict(c), indent=1).encode())

    def get(self, ref: str) -> Container:
        """By name, full ID or unique ID prefix, as Docker resolves them."""
        found = self.list()
        for c in found:
            if ref in (c.name, c.id):
                return c
        matches = [c for c in found if ref and c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidInput(f"multiple containers found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def delete(self, c: Container) -> None:
        self._path(c.id).unlink(missing_ok=True)


def _random_name(taken: set[str]) -> str:
    while True:
        name = f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NAMES)}"
        if name not in taken:
            return name
        name += f"_{secrets.token_hex(2)}"
        if name not in taken:
            return name
