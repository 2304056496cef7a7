"""Content digests (``algorithm:hex``), as the OCI image spec defines them."""

from __future__ import annotations

import hashlib
import re

from wharfie.errors import InvalidDigest

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_LOWER_HEX = re.compile(r"[0-9a-f]+")


class Digest(str):
    """A validated digest string such as ``sha256:e3b0...``.

    It is a ``str`` so that it serializes, compares and hashes as the text it is.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Digest:
        if isinstance(value, Digest):
            return value
        if not isinstance(value, str) or not _GRAMMAR.match(value):
            raise InvalidDigest(f"invalid digest {value!r}")
        algorithm, _, hexpart = value.partition(":")
        expected = _HEX_LENGTH.get(algorithm)
        if expected is None:
            raise InvalidDigest(f"unsupported digest algorithm {algorithm!r} in {value!r}")
        if len(hexpart) != expected or not _LOWER_HEX.fullmatch(hexpart):
            raise InvalidDigest(
                f"invalid {algorithm} digest {value!r}: want {expected} lower-case hex digits")
        return super().__new__(cls, value)

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]

    @property
    def hex(self) -> str:
        return self.partition(":")[2]

    @property
    def short(self) -> str:
        """The 12-character ID Docker shows in tables."""
        return self.hex[:12]

    def hasher(self):
        return hashlib.new(self.algorithm)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}")

    @classmethod
    def from_hasher(cls, h) -> Digest:
        return cls(f"{h.name}:{h.hexdigest()}")


def is_digest(value: str) -> bool:
    try:
        Digest(value)
    except InvalidDigest:
        return False
    return True
