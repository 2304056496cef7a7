"""The simple-signing payload cosign signs: which manifest digest, for which repository.

``{"critical": {"identity": {"docker-reference": R}, "image": {"docker-manifest-digest": D},
"type": "cosign container image signature"}, "optional": {annotations} | null}``. The
signature covers these exact bytes, so they are kept as signed and parsed only to check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from wharfie.errors import InvalidDigest, InvalidInput
from wharfie.oci.digest import Digest

SIGNATURE_TYPE = "cosign container image signature"


@dataclass(frozen=True)
class SimpleSigning:
    """A parsed payload: the signed identity, manifest digest and optional annotations."""

    identity: str
    digest: Digest
    annotations: dict[str, str] = field(default_factory=dict)


def make_payload(identity: str, digest: Digest, annotations: Mapping[str, str] | None = None
                 ) -> bytes:
    """The payload bytes cosign writes (compact JSON, ``optional`` null when empty)."""
    doc = {"critical": {"identity": {"docker-reference": identity},
                        "image": {"docker-manifest-digest": str(digest)},
                        "type": SIGNATURE_TYPE},
           "optional": dict(annotations) if annotations else None}
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_payload(raw: bytes) -> SimpleSigning:
    """Read a payload strictly: the critical fields must be there and of the right type."""
    try:
        doc = json.loads(raw)
        critical = doc["critical"]
        kind = critical["type"]
        identity = critical["identity"]["docker-reference"]
        digest = Digest(critical["image"]["docker-manifest-digest"])
        optional = doc.get("optional") or {}
    except (ValueError, KeyError, TypeError, InvalidDigest) as e:
        raise InvalidInput(f"not a simple-signing payload: {e}") from None
    if kind != SIGNATURE_TYPE:
        raise InvalidInput(f"not a simple-signing payload: type {kind!r}")
    if not isinstance(identity, str) or not isinstance(optional, dict):
        raise InvalidInput("not a simple-signing payload: bad identity or optional section")
    return SimpleSigning(identity, digest, {str(k): str(v) for k, v in optional.items()})
