"""The audit log: one JSON line per write (who, what, which repository and digest, when)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path


class AuditLog:
    """Appends records with O_APPEND, so several server processes may share one file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._lock = threading.Lock()

    def record(self, who: str, action: str, repo: str, **what) -> None:
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "who": who,
               "action": action, "repository": repo}
        rec.update({k: str(v) for k, v in what.items() if v is not None})
        line = (json.dumps(rec, sort_keys=True) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        os.close(self._fd)


def read_audit(path: Path | str) -> list[dict]:
    with open(path, "rb") as f:
        return [json.loads(line) for line in f if line.strip()]
