"""Deciding whether signatures vouch for one image: by this key, for this digest, for this
name. Each way of failing has its own ``SignatureRejected.reason`` and message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wharfie.errors import InvalidInput, WharfieError
from wharfie.oci.digest import Digest
from wharfie.oci.reference import Reference
from wharfie.signing.attach import Attached
from wharfie.signing.identity import IdentityRule, SignedIdentity
from wharfie.signing.keys import PublicKey, key_id, verify
from wharfie.signing.payload import parse_payload

# cosign's own check: the signed repository is the image's
COSIGN_IDENTITY = SignedIdentity("matchRepository")


class SignatureRejected(WharfieError):
    """An image whose signatures do not satisfy a key or policy; ``reason`` says why:
    ``missing``, ``key``, ``digest``, ``identity``, ``tampered`` or ``policy``."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What a good signature vouches for."""

    image: Reference
    digest: Digest
    identity: str
    key: str  # key_id of the key that verified it
    annotations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"image": str(self.image), "digest": str(self.digest),
                "identity": self.identity, "key": self.key, "annotations": self.annotations}


def check_signatures(image: Reference, digest: Digest, signatures: Sequence[Attached],
                     keys: Sequence[PublicKey], *,
                     identity: IdentityRule = COSIGN_IDENTITY) -> Verified:
    """The first signature by one of ``keys`` over a payload naming ``digest`` and an
    identity ``identity`` accepts for ``image``; else the most telling rejection."""
    shown = image.familiar()
    if not signatures:
        raise SignatureRejected(f"{shown}: no signature found for {digest} "
                                f"(unsigned image)", "missing")
    wrong_digest: list[Digest] = []
    wrong_identity: list[str] = []
    for sig in signatures:
        by = next((k for k in keys if verify(k, sig.signature, sig.payload)), None)
        if by is None:
            continue
        try:
            claim = parse_payload(sig.payload)
        except InvalidInput:
            continue
        if claim.digest != digest:
            wrong_digest.append(claim.digest)
        elif not identity.accepts(image, claim.identity):
            wrong_identity.append(claim.identity)
        else:
            return Verified(image, digest, claim.identity, key_id(by), claim.annotations)
    if wrong_identity:
        raise SignatureRejected(
            f"{shown}: signature is for another repository: signed identity "
            f"{wrong_identity[0]!r} does not match {image.name!r} ({identity.type})", "identity")
    if wrong_digest:
        raise SignatureRejected(
            f"{shown}: signature is for another image: it signs digest {wrong_digest[0]}, "
            f"the image is {digest}", "digest")
    names = ", ".join(key_id(k) for k in keys)
    raise SignatureRejected(
        f"{shown}: {len(signatures)} signature(s) for {digest}, none made by the key "
        f"{names} (signed with another key, or the payload was altered)", "key")
