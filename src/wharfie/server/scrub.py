"""Scrub: re-hash every stored blob and report those whose content no longer matches its
digest (bit rot, a truncated copy, tampering). Like zot's scrub; distribution has none."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from wharfie.errors import InvalidDigest
from wharfie.oci.digest import Digest
from wharfie.server.repositories import CHUNK, RegistryStore


@dataclass(frozen=True)
class Damaged:
    digest: Digest
    actual: str
    size: int


def scrub(store: RegistryStore) -> Iterator[tuple[Digest, Damaged | None]]:
    """Each blob with None if intact, or what is wrong with it."""
    for key, st in store.driver.walk("blobs"):
        alg, hexpart = key.split("/")[1:3]
        try:
            digest = Digest(f"{alg}:{hexpart}")
        except InvalidDigest:
            continue
        h = hashlib.new(digest.algorithm)
        try:
            with store.driver.open(key) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except FileNotFoundError:  # collected while we walked
            continue
        actual = f"{digest.algorithm}:{h.hexdigest()}"
        yield digest, None if actual == digest else Damaged(digest, actual, st.size)
