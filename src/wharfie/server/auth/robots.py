"""Robot accounts for CI: a random token, stored only as its SHA-256, with its own grants.

A robot signs in as ``robot$NAME`` with the token as password (Basic or the token
service). Its rights are the intersection of its grants and the policy's rules.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from fnmatch import fnmatchcase
from pathlib import Path

from wharfie.errors import WharfieError
from wharfie.fs.atomic import atomic_write
from wharfie.server.policy import ACTIONS

PREFIX = "robot$"


class Robots:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._cached: tuple[tuple[int, float], dict[str, dict]] | None = None

    def _load(self) -> dict[str, dict]:
        """The file's robots, re-read only when it changed: servers consult it per request."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_ino, st.st_mtime)
        if self._cached is None or self._cached[0] != stamp:
            self._cached = (stamp, json.loads(self.path.read_text()))
        return self._cached[1]

    def _save(self, robots: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(robots, indent=2, sort_keys=True).encode(), mode=0o600)

    def create(self, name: str, repos: list[str], actions: list[str],
               ttl: float | None = None) -> str:
        """Create (or re-key) a robot; returns its token, which is shown only once."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise WharfieError(f"invalid robot name {name!r}")
        bad = set(actions) - set(ACTIONS)
        if bad or not actions:
            raise WharfieError(f"robot actions must be among {', '.join(ACTIONS)}")
        token = "wrt_" + secrets.token_urlsafe(32)
        robots = self._load()
        robots[name] = {"sha256": hashlib.sha256(token.encode()).hexdigest(),
                        "repos": repos, "actions": sorted(set(actions)),
                        "created": time.time(),
                        "expires": time.time() + ttl if ttl else None}
        self._save(robots)
        return token

    def remove(self, name: str) -> None:
        robots = self._load()
        if robots.pop(name, None) is None:
            raise WharfieError(f"no robot {name!r}")
        self._save(robots)

    def list(self) -> dict[str, dict]:
        return {n: {k: v for k, v in r.items() if k != "sha256"} for n, r in self._load().items()}

    def live(self, name: str) -> dict | None:
        """The robot's record while it exists and has not expired."""
        robot = self._load().get(name)
        if robot is None or (robot.get("expires") and robot["expires"] < time.time()):
            return None
        return robot

    def check(self, name: str, token: str) -> dict | None:
        """The robot's record if ``token`` is its current, unexpired token."""
        robot = self.live(name)
        if robot is None:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        return robot if secrets.compare_digest(digest, robot["sha256"]) else None

    def granted(self, name: str, repo: str) -> set[str]:
        robot = self.live(name) or {}
        if any(fnmatchcase(repo, p) for p in robot.get("repos", [])):
            return set(robot.get("actions", []))
        return set()
