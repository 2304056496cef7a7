"""Signatures the registry server requires before it serves a manifest.

The server's policy file names repository patterns and the keys (a file path, relative to
the policy file, or inline PEM) one of whose signatures an image there must carry::

    require_signatures:
      - {repos: ["prod/*"], keys: [cosign.pub, "-----BEGIN PUBLIC KEY-----\\n..."]}

A manifest GET or HEAD, by tag or digest, is answered only when a good signature by one of
the keys, stored in the same repository, vouches for the manifest's digest and for that
repository (the signed name's path: its host is whatever the signer called the registry),
or a Sigstore bundle referrer by one of the keys signs the manifest's bytes (cosign v3).
A platform manifest is also served when a signed index tagged in the repository lists it,
as a pull of a signed multi-platform image fetches its platforms by digest. Signature
artifacts (manifests whose layers are all signatures) are always served: clients need them
to verify.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from wharfie.errors import InvalidInput, NotFound, WharfieError
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, BytesImage
from wharfie.oci.manifest import Descriptor, Index, Manifest, parse_manifest_or_index
from wharfie.oci.reference import Reference
from wharfie.signing.attach import SIMPLESIGNING, Attached, read_attached, signature_tag
from wharfie.signing.bundle import BUNDLE_TYPE, check_bundles, read_bundle
from wharfie.signing.identity import SameRepositoryPath
from wharfie.signing.keys import PublicKey, load_public_key, read_public_key
from wharfie.signing.verify import SignatureRejected, Verified, check_signatures

DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"  # cosign's attestations
SIGNATURE_LAYERS = frozenset({SIMPLESIGNING, DSSE_ENVELOPE})


class ServedManifests(Protocol):
    """The part of the server's store the check reads."""

    def tag_digest(self, repo: str, tag: str) -> Digest | None: ...
    def tags(self, repo: str) -> list[str]: ...
    def manifest_bytes(self, digest: str) -> bytes | None: ...
    def open_blob(self, digest: str) -> BinaryIO: ...
    def referrers(self, repo: str, subject: str) -> list[dict]: ...


@dataclass(frozen=True)
class SignatureRule:
    """Repositories matching ``repos`` (shell globs, ``*`` crossing ``/``) serve only
    images signed by one of ``keys``."""

    repos: tuple[str, ...]
    keys: tuple[PublicKey, ...]

    def applies(self, repo: str) -> bool:
        return any(fnmatchcase(repo, p) for p in self.repos)


def parse_rules(doc: Any, base: Path | None = None) -> tuple[SignatureRule, ...]:
    """The ``require_signatures`` list of the server's policy file."""
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise InvalidInput("policy: require_signatures must be a list of {repos, keys}")
    return tuple(_rule(r, n, base) for n, r in enumerate(doc, 1))


def _rule(doc: Any, n: int, base: Path | None) -> SignatureRule:
    where = f"policy: require_signatures rule {n}"
    if not isinstance(doc, dict):
        raise InvalidInput(f"{where}: expected {{repos: [...], keys: [...]}}")
    repos, keys = doc.get("repos"), doc.get("keys")
    if not _strings(repos) or not _strings(keys):
        raise InvalidInput(f"{where}: repos and keys must be non-empty lists of strings")
    return SignatureRule(tuple(repos), tuple(_key(k, where, base) for k in keys))


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _key(text: str, where: str, base: Path | None) -> PublicKey:
    """Inline PEM, or a key file (relative paths from the policy file's directory)."""
    try:
        if text.lstrip().startswith("-----BEGIN"):
            return load_public_key(text.encode())
        return read_public_key(text if os.path.isabs(text) else Path(base or ".") / text)
    except WharfieError as e:
        raise InvalidInput(f"{where}: {e.message}") from None


def is_signature_artifact(doc: Manifest | Index) -> bool:
    """A ``.sig`` (or attestation) manifest: every layer is a signature, none a filesystem."""
    return (isinstance(doc, Manifest) and bool(doc.layers)
            and all(d.media_type in SIGNATURE_LAYERS for d in doc.layers))


def check_served(rules: Sequence[SignatureRule], store: ServedManifests, host: str,
                 repo: str, reference: str, digest: Digest, raw: bytes,
                 media_type: str) -> Verified | None:
    """Raise ``SignatureRejected`` unless the manifest ``repo:reference`` may be served;
    ``host`` is the registry's name as the client addressed it (for messages)."""
    keys = tuple(k for rule in rules if rule.applies(repo) for k in rule.keys)
    if not keys:
        return None
    try:
        if is_signature_artifact(parse_manifest_or_index(raw, media_type)):
            return None
    except InvalidInput:
        pass  # not a signature manifest; its digest can still be signed
    ref = (Reference(host, repo, digest=Digest(reference)) if ":" in reference
           else Reference(host, repo, reference))
    try:
        return _check(store, ref, digest, raw, keys)
    except SignatureRejected as refused:
        for parent in _signed_parents(store, repo, digest):
            try:
                return _check(store, Reference(host, repo, digest=parent), parent,
                              store.manifest_bytes(str(parent)) or b"", keys)
            except SignatureRejected:
                continue
        raise refused from None


def _check(store: ServedManifests, ref: Reference, digest: Digest, raw: bytes,
           keys: Sequence[PublicKey]) -> Verified:
    """A ``.sig`` signature, else a bundle referrer; the ``.sig`` refusal is the one told."""
    try:
        return check_signatures(ref, digest, stored_signatures(store, ref.path, digest), keys,
                                identity=SameRepositoryPath())
    except SignatureRejected as refused:
        bundles = stored_bundles(store, ref.path, digest)
        if not bundles:
            raise
        try:
            return check_bundles(ref, raw, bundles, keys)
        except SignatureRejected:
            raise refused from None


def stored_bundles(store: ServedManifests, repo: str, digest: Digest
                   ) -> list[tuple[Digest, bytes]]:
    """(signed digest, signature) of each readable Sigstore bundle referring to ``digest``
    in ``repo`` (an unreadable one vouches for nothing)."""
    found = []
    for desc in store.referrers(repo, str(digest)):
        if desc.get("artifactType") != BUNDLE_TYPE:
            continue
        raw = store.manifest_bytes(desc["digest"])
        try:
            doc = parse_manifest_or_index(raw) if raw else None
            if isinstance(doc, Manifest):
                found.append(read_bundle(BytesImage(raw, doc.media_type, StoreBlobs(store))))
        except (InvalidInput, NotFound, OSError):
            continue
    return found


def stored_signatures(store: ServedManifests, repo: str, digest: Digest) -> list[Attached]:
    """The signatures in ``repo``'s ``.sig`` manifest for ``digest`` (none if absent or
    unreadable: a broken signature manifest vouches for nothing)."""
    sig = store.tag_digest(repo, signature_tag(digest))
    raw = store.manifest_bytes(str(sig)) if sig else None
    if raw is None:
        return []
    try:
        doc = parse_manifest_or_index(raw)
        if not isinstance(doc, Manifest):
            return []
        return read_attached(BytesImage(raw, doc.media_type, StoreBlobs(store)))
    except (InvalidInput, NotFound, OSError):
        return []


def _signed_parents(store: ServedManifests, repo: str, digest: Digest) -> list[Digest]:
    """The indexes tagged in ``repo`` that list ``digest``."""
    found = []
    for tag in store.tags(repo):
        parent = store.tag_digest(repo, tag)
        raw = store.manifest_bytes(str(parent)) if parent and parent != digest else None
        try:
            doc = parse_manifest_or_index(raw) if raw else None
        except InvalidInput:
            continue
        if isinstance(doc, Index) and any(d.digest == digest for d in doc.manifests):
            found.append(parent)
    return list(dict.fromkeys(found))


class StoreBlobs(BlobSource):
    """A registry store's blobs, by digest, as an image's blob source."""

    def __init__(self, store: ServedManifests) -> None:
        self.store = store

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.store.open_blob(str(desc.digest))
