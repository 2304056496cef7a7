"""Image references, parsed and normalized exactly as Docker does.

``nginx`` -> ``docker.io/library/nginx:latest``; ``localhost:5000/a/b:t``;
``name@sha256:...``; ``name:tag@sha256:...``. The grammar is that of
distribution/reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wharfie.errors import InvalidDigest, InvalidReference
from wharfie.oci.digest import Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"  # ASCII only: no homoglyph tags
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

DOMAIN_RE = re.compile(rf"^{_DOMAIN}\Z")
PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*\Z")
TAG_RE = re.compile(rf"^{_TAG}\Z")
_ANCHORED_NAME = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)\Z")
_HEX64 = re.compile(r"^[a-f0-9]{64}\Z")


@dataclass(frozen=True)
class Reference:
    """A normalized reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """The fully qualified repository name, e.g. ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The name as Docker shows it: ``nginx``, ``user/app``, ``localhost:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and "/" not in self.path[len(OFFICIAL_PREFIX):]:
                return self.path[len(OFFICIAL_PREFIX):]
            return self.path
        return self.name

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """The reference as Docker prints it (``nginx:latest``)."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        s = f":{self.tag}" if self.tag else ""
        return s + (f"@{self.digest}" if self.digest else "")

    def with_tag(self, tag: str) -> Reference:
        if not TAG_RE.match(tag):
            raise InvalidReference(f"invalid tag format {tag!r}")
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, Digest(digest))

    @property
    def identifier(self) -> str:
        """What a registry addresses: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalize a reference, or raise InvalidReference with the reason.

    With ``default_tag`` a reference without tag or digest gets ``latest``.
    """
    if not text:
        raise InvalidReference("invalid reference format: empty name")
    if _HEX64.match(text):
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    remainder, digest = text, None
    if "@" in text:
        remainder, _, d = text.partition("@")
        if not re.fullmatch(_DIGEST, d):
            raise InvalidReference(f"invalid reference format: bad digest in {text!r}")
        try:
            digest = Digest(d)
        except InvalidDigest as e:
            raise InvalidReference(f"invalid reference format: {e}") from None
    tag = None
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        if not TAG_RE.match(tag):
            raise InvalidReference(f"invalid reference format: invalid tag {tag!r}")
    domain, path = split_domain(remainder)
    if path.lower() != path:
        raise InvalidReference(
            "invalid reference format: repository name must be lowercase")
    if not path or not _ANCHORED_NAME.match(f"{domain}/{path}"):
        raise InvalidReference(f"invalid reference format: {text!r}")
    if not DOMAIN_RE.match(domain):
        raise InvalidReference(f"invalid reference format: bad registry host {domain!r}")
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"invalid reference format: repository name must not be more than "
            f"{NAME_TOTAL_LENGTH_MAX} characters")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def split_domain(name: str) -> tuple[str, str]:
    """Split ``name`` into registry host and repository path, as Docker does."""
    i = name.find("/")
    first = name[:i]
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost"
                   and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def is_valid_repository_path(path: str) -> bool:
    """A repository path as the distribution spec allows it (no ``..``, lower case)."""
    return bool(PATH_RE.match(path))
