"""Named volumes under ``<root>/volumes/<name>/_data``, as docker's local driver keeps them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from wharfie import events
from wharfie.containers.store import Container, ContainerStore
from wharfie.errors import Conflict, InvalidInput, NotFound
from wharfie.fs.atomic import atomic_write
from wharfie.fs.private import make_private_dirs, private_dir

NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


@dataclass
class Volume:
    name: str
    mountpoint: Path
    created: float
    labels: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False

    def document(self) -> dict:
        """``docker volume inspect``'s object."""
        from wharfie.containers.logs import rfc3339

        return {"CreatedAt": rfc3339(int(self.created * 1e9)).split(".")[0] + "Z",
                "Driver": "local", "Labels": self.labels or None,
                "Mountpoint": str(self.mountpoint), "Name": self.name, "Options": None,
                "Scope": "local"}


class Volumes:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.dir = self.root / "volumes"

    def _meta(self, name: str) -> Path:
        return self.dir / name / "volume.json"

    def get(self, name: str) -> Volume:
        try:
            meta = json.loads(self._meta(name).read_text())
        except (FileNotFoundError, ValueError):
            raise NotFound(f"get {name}: no such volume") from None
        return Volume(name, self.dir / name / "_data", meta["created"], meta.get("labels") or {},
                      meta.get("anonymous", False))

    def list(self) -> list[Volume]:
        if not self.dir.is_dir():
            return []
        return sorted((self.get(p.parent.name) for p in self.dir.glob("*/volume.json")),
                      key=lambda v: v.name)

    def create(self, name: str | None = None, labels: dict[str, str] | None = None) -> Volume:
        """A new volume, or the existing one of that name (as docker does)."""
        anonymous = name is None
        name = name or secrets.token_hex(32)
        if not NAME.fullmatch(name):
            raise InvalidInput(f'create {name}: "{name}" includes invalid characters for a local '
                               'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. '
                               "If you intended to pass a host directory, use absolute path")
        if self._meta(name).exists():
            return self.get(name)
        private_dir(self.root)  # a new root is root's alone, as the image store makes it
        make_private_dirs(self.dir)
        (self.dir / name / "_data").mkdir(parents=True, exist_ok=True)
        atomic_write(self._meta(name), json.dumps(
            {"created": time.time(), "labels": labels or {}, "anonymous": anonymous}).encode())
        events.emit(self.root, "volume", "create", name, {"driver": "local"})
        return self.get(name)

    def remove(self, name: str, in_use: set[str], force: bool = False) -> None:
        vol = self.get(name) if not force or self._meta(name).exists() else None
        if vol is None:
            return
        if name in in_use:
            raise Conflict(f"remove {name}: volume is in use")
        self._destroy(name)

    def _destroy(self, name: str) -> None:
        shutil.rmtree(self.dir / name)
        events.emit(self.root, "volume", "destroy", name, {"driver": "local"})

    def prune(self, in_use: set[str], all: bool = False) -> tuple[list[str], int]:
        """Unused volumes: anonymous ones only, unless ``all`` (docker 23's rule); their
        names and the bytes their files held."""
        gone, freed = [], 0
        for v in self.list():
            if v.name not in in_use and (all or v.anonymous):
                freed += _bytes_under(self.dir / v.name / "_data")
                self._destroy(v.name)
                gone.append(v.name)
        return gone, freed


def _bytes_under(path: Path) -> int:
    """The sizes of the files under ``path`` (links not followed), as docker's volume sizes."""
    total = 0
    for top, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


def volumes_in_use(root: Path) -> set[str]:
    """Names of the volumes some container (running or not) mounts."""
    return {m["Name"] for c in ContainerStore(root).list()
            for m in c.host_config.get("WharfieMounts") or [] if m["Type"] == "volume"}


def remove_anonymous(root: Path, c: Container) -> None:
    """Delete the anonymous volumes of removed container ``c`` (``rm -v``, ``--rm``) that no
    other container mounts; named ones stay, as docker's."""
    vols, in_use = Volumes(root), volumes_in_use(root)
    anonymous = {v.name for v in vols.list() if v.anonymous} - in_use
    for m in c.host_config.get("WharfieMounts") or []:
        if m["Type"] == "volume" and m["Name"] in anonymous:
            vols.remove(m["Name"], in_use, force=True)
