"""Users from an htpasswd file (bcrypt, as ``htpasswd -B`` writes it) and from the policy
file's ``users`` (name: bcrypt hash); the file wins when both name a user."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import bcrypt

from wharfie.errors import WharfieError
from wharfie.fs.atomic import atomic_write

_DECOY = bcrypt.hashpw(b"decoy", bcrypt.gensalt(10))


def _bcrypt(name: str, hashed: str, where: str) -> bytes:
    if not hashed.startswith(("$2y$", "$2b$", "$2a$")):
        raise WharfieError(f"{where}: user {name!r} is not bcrypt-hashed")
    return hashed.encode()


class Htpasswd:
    """Checks passwords; successful checks are remembered (by a hash of the password) so
    that bcrypt's deliberate slowness is paid once per user, not once per request."""

    def __init__(self, path: Path | str | None, extra: dict[str, str] | None = None) -> None:
        self.path = Path(path) if path else None
        self._extra = {name: _bcrypt(name, h, "policy") for name, h in (extra or {}).items()}
        self._users: dict[str, bytes] = {}
        self._mtime: object = -1
        self._ok: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _read_file(self) -> dict[str, bytes]:
        if self.path is None or not self.path.exists():
            return {}
        users = {}
        for line in self.path.read_text().splitlines():
            if ":" in line and not line.startswith("#"):
                name, _, hashed = line.strip().partition(":")
                users[name] = _bcrypt(name, hashed, str(self.path))
        return users

    def _load(self) -> dict[str, bytes]:
        try:
            st = self.path.stat() if self.path else None
            mtime = (st.st_ino, st.st_mtime_ns) if st else None
        except FileNotFoundError:
            mtime = None
        if mtime != self._mtime:
            users = {**self._extra, **self._read_file()}
            with self._lock:
                self._users, self._mtime, self._ok = users, mtime, {}
        return self._users

    def exists(self, user: str) -> bool:
        return user in self._load()

    def check(self, user: str, password: str) -> bool:
        hashed = self._load().get(user)
        if hashed is None:
            # The same bcrypt work as a wrong password, so timing does not tell who exists.
            bcrypt.checkpw(password.encode(), _DECOY)
            return False
        fingerprint = hashlib.sha256(hashed + b"\0" + password.encode()).digest()
        if self._ok.get(user) == fingerprint:
            return True
        if bcrypt.checkpw(password.encode(), hashed.replace(b"$2y$", b"$2b$", 1)):
            self._ok[user] = fingerprint
            return True
        return False

    def users(self) -> list[str]:
        return sorted(self._load())

    def set(self, user: str, password: str, rounds: int = 10) -> None:
        """Add or change a user (rewrites the file atomically)."""
        if not user or ":" in user or "$" in user:
            raise WharfieError(f"invalid user name {user!r}")
        if not password:
            raise WharfieError("empty password")
        users = self._file_users()
        users[user] = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).replace(
            b"$2b$", b"$2y$", 1)
        self._write(users)

    def remove(self, user: str) -> None:
        users = self._file_users()
        if users.pop(user, None) is None:
            raise WharfieError(f"no user {user!r} in {self.path}")
        self._write(users)

    def _file_users(self) -> dict[str, bytes]:
        if self.path is None:
            raise WharfieError("no htpasswd file to change")
        return self._read_file()

    def _write(self, users: dict[str, bytes]) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, "".join(f"{u}:{h.decode()}\n" for u, h in sorted(users.items()))
                     .encode(), mode=0o600)
