"""When each image was last pulled (the web UI's "last pulled"), with no write on the read
path: a manifest GET is noted in memory, and the notes are written behind, every so often
and at shutdown, into one small object per repository (``repositories/<repo>/_pulls``,
digest -> time), merged under the repository's lock by keeping the later time, so that
replicas sharing the storage never lose each other's."""

from __future__ import annotations

import json
import threading
import time

from wharfie.server.repositories import RegistryStore, repo_key

FLUSH_EVERY = 30.0  # seconds


def _key(repo: str) -> str:
    return f"{repo_key(repo)}/_pulls"


class PullTimes:
    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self._pending: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def note(self, repo: str, digest: str) -> None:
        with self._lock:
            self._pending.setdefault(repo, {})[digest] = time.time()

    def _stored(self, repo: str) -> dict[str, float]:
        raw = self.store.driver.read(_key(repo))
        try:
            times = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return times if isinstance(times, dict) else {}

    def flush(self) -> None:
        """Write the notes taken since the last flush (a failed write keeps them)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for repo, times in pending.items():
            try:
                with self.store.namespace_lock(repo):
                    merged = self._stored(repo)
                    for digest, t in times.items():
                        merged[digest] = max(t, merged.get(digest, 0.0))
                    self.store.driver.write(_key(repo), json.dumps(merged).encode())
            except BaseException:
                with self._lock:  # not lost: the next flush tries again
                    for digest, t in times.items():
                        mine = self._pending.setdefault(repo, {})
                        mine[digest] = max(t, mine.get(digest, 0.0))
                raise

    def of(self, repo: str) -> dict[str, float]:
        """digest -> when it was last pulled, written or still pending."""
        times = self._stored(repo)
        with self._lock:
            for digest, t in self._pending.get(repo, {}).items():
                times[digest] = max(t, times.get(digest, 0.0))
        return times
