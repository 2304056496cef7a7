"""``signedIdentity`` of containers' policy.json: which signed names an image name accepts.

The payload's ``docker-reference`` is what the signer vouched for; the rule compares it with
the name the image is pulled by. cosign signs the repository alone, so ``matchRepository``
is the rule that accepts cosign's signatures for a pull by tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from wharfie.errors import InvalidInput, InvalidReference
from wharfie.oci.reference import Reference, parse_reference


class IdentityRule(Protocol):
    """What ``check_signatures`` asks of an identity rule; ``type`` names it in messages."""

    type: str

    def accepts(self, image: Reference, signed: str) -> bool: ...


@dataclass(frozen=True)
class SignedIdentity:
    """One ``signedIdentity`` object: its ``type`` and the fields that type takes."""

    type: str = "matchRepoDigestOrExact"
    reference: str | None = None  # exactReference's dockerReference
    repository: str | None = None  # exactRepository's dockerRepository
    prefix: str | None = None  # remapIdentity
    signed_prefix: str | None = None

    @classmethod
    def parse(cls, doc: dict[str, Any] | None) -> SignedIdentity:
        if doc is None:
            return cls()
        kind = doc.get("type")
        fields = {"matchExact": (), "matchRepoDigestOrExact": (), "matchRepository": (),
                  "exactReference": ("dockerReference",),
                  "exactRepository": ("dockerRepository",),
                  "remapIdentity": ("prefix", "signedPrefix")}
        if kind not in fields:
            raise InvalidInput(f"policy: unknown signedIdentity type {kind!r}")
        missing = [f for f in fields[kind] if not isinstance(doc.get(f), str)]
        if missing:
            raise InvalidInput(f"policy: signedIdentity {kind} needs {', '.join(missing)}")
        return cls(kind, doc.get("dockerReference"), doc.get("dockerRepository"),
                   doc.get("prefix"), doc.get("signedPrefix"))

    def accepts(self, image: Reference, signed: str) -> bool:
        """Whether a signature for ``signed`` is good for the image named ``image``."""
        try:
            claim = parse_reference(signed, default_tag=False)
        except InvalidReference:
            return False
        if self.type == "exactReference":
            return _same(claim, parse_reference(self.reference or "", default_tag=False))
        if self.type == "exactRepository":
            return claim.name == parse_reference(self.repository or "", default_tag=False).name
        if self.type == "remapIdentity":
            image = _remap(image, self.prefix or "", self.signed_prefix or "")
        if self.type == "matchRepository":
            return claim.name == image.name
        if self.type == "matchExact":
            return _same(claim, image)
        # matchRepoDigestOrExact (and remapIdentity, after remapping)
        return claim.name == image.name if image.digest else _same(claim, image)


@dataclass(frozen=True)
class SameRepositoryPath:
    """The registry server's rule: the signed repository's path is the image's. The host
    part is whatever name the signer used for the registry, which the server cannot know."""

    type: str = "same repository path"

    def accepts(self, image: Reference, signed: str) -> bool:
        try:
            return parse_reference(signed, default_tag=False).path == image.path
        except InvalidReference:
            return False


def _same(a: Reference, b: Reference) -> bool:
    return (a.name, a.tag, a.digest) == (b.name, b.tag, b.digest)


def _remap(image: Reference, prefix: str, signed_prefix: str) -> Reference:
    text = str(image)
    if text == prefix or text.startswith(prefix.rstrip("/") + "/"):
        return parse_reference(signed_prefix + text[len(prefix):], default_tag=False)
    return image
