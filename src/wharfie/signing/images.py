"""Signing and verifying images where they are: in a registry, or in the local store.

All registry I/O goes through the library's transports (``open_remote``, ``push_target``);
the store keeps a local image's signatures under the same ``.sig`` tag as a registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wharfie.errors import DigestMismatch, InvalidInput, NotFound
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference
from wharfie.signing.attach import (
    Attached,
    local_signatures,
    open_signatures,
    signature_image,
    signature_ref,
)
from wharfie.signing.bundle import (
    BUNDLE_TYPE,
    bundle_artifact,
    check_bundles,
    make_bundle,
    read_bundle,
)
from wharfie.signing.identity import SignedIdentity
from wharfie.signing.keys import PrivateKey, PublicKey, sign
from wharfie.signing.payload import make_payload
from wharfie.signing.verify import COSIGN_IDENTITY, SignatureRejected, Verified, check_signatures

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions


@dataclass(frozen=True)
class Signed:
    """One manifest signed: its digest and the ``.sig`` reference holding the signature."""

    digest: Digest
    signatures: Reference


# -- reading ---------------------------------------------------------------------------------

def remote_signatures(ref: Reference, digest: Digest, options: RegistryOptions) -> list[Attached]:
    """The signatures stored in ``ref``'s repository for ``digest``."""
    from wharfie.transports.registry.source import open_remote

    return open_signatures(lambda: open_remote(signature_ref(ref, digest), options))


# -- signing ---------------------------------------------------------------------------------

def sign_remote(images: ImageStore, ref: Reference, key: PrivateKey, options: RegistryOptions,
                *, annotations: Mapping[str, str] | None = None,
                recursive: bool = False, bundle: bool = False) -> list[Signed]:
    """Sign the image (or index; with ``recursive`` each of its manifests too) ``ref``
    names in its registry, adding to the signatures already there; with ``bundle``, also
    attach a Sigstore bundle as its referrer (cosign v3). A digest reference is signed
    without reading the image: a registry that serves only signed images (the server's
    ``require_signatures``) would refuse that read."""
    from wharfie.transports.push import push_target
    from wharfie.transports.registry.source import open_remote

    digests = ([ref.digest] if ref.digest and not recursive
               else _digests(open_remote(ref, options), recursive))
    done = []
    for digest in digests:
        have = remote_signatures(ref, digest, options)
        new = Attached(payload := make_payload(ref.name, digest, annotations), sign(key, payload))
        where = signature_ref(ref, digest)
        push_target(images, signature_image([*have, new]), where, options)
        if bundle:
            attach_bundle(images, Reference(ref.domain, ref.path, digest=digest), key, options)
        done.append(Signed(digest, where))
    return done


def attach_bundle(images: ImageStore, ref: Reference, key: PrivateKey,
                  options: RegistryOptions) -> Reference:
    """Sign the manifest ``ref`` (by digest) names into a bundle, pushed as its referrer."""
    from wharfie.transports.push import push_target

    raw, media_type = _manifest(ref, options)
    artifact = bundle_artifact(make_bundle(key, raw), Descriptor(media_type, ref.digest,
                                                                 len(raw)))
    where = Reference(ref.domain, ref.path, digest=artifact.digest)
    push_target(images, artifact, where, options)
    return where


def remote_bundles(ref: Reference, digest: Digest, options: RegistryOptions
                   ) -> list[tuple[Digest, bytes]]:
    """The (signed digest, signature) of every readable bundle referring to ``digest``."""
    from wharfie.transports.registry.source import open_remote

    found = []
    index = options.registry(ref.domain).referrers(ref.path, digest, BUNDLE_TYPE)
    for desc in index.manifests:
        artifact = open_remote(Reference(ref.domain, ref.path, digest=desc.digest), options)
        if isinstance(artifact, Image):
            try:
                found.append(read_bundle(artifact))
            except InvalidInput:
                continue
    return found


def _manifest(ref: Reference, options: RegistryOptions) -> tuple[bytes, str]:
    from wharfie.transports.registry.source import open_remote

    target = open_remote(ref, options)
    return target.manifest_bytes() if isinstance(target, Image) else target.index_bytes()


def sign_local(images: ImageStore, ref: Reference, key: PrivateKey, *,
               annotations: Mapping[str, str] | None = None,
               recursive: bool = False) -> list[Signed]:
    """Sign a stored image before it is pushed: the ``.sig`` manifest goes into the store."""
    from wharfie.transports.base import copy_image

    done = []
    for digest in _digests(images.open_target(str(ref)), recursive):
        have = local_signatures(images, ref, digest)
        new = Attached(payload := make_payload(ref.name, digest, annotations), sign(key, payload))
        where = signature_ref(ref, digest)
        copy_image(signature_image([*have, new]), images.destination(), where)
        done.append(Signed(digest, where))
    return done


def push_signatures(images: ImageStore, ref: Reference, digest: Digest, dest: Reference,
                    options: RegistryOptions) -> Reference | None:
    """After ``push``: carry the store's signatures of ``digest`` to ``dest``'s repository,
    merged with any there. Returns where they went (None: the image has none locally)."""
    from wharfie.transports.push import push_target

    mine = local_signatures(images, ref, digest)
    if not mine:
        return None
    where = signature_ref(dest, digest)
    push_target(images, signature_image([*remote_signatures(dest, digest, options), *mine]),
                where, options)
    return where


def _digests(target: Image | ImageIndex, recursive: bool) -> list[Digest]:
    """The top-level digest, then (``recursive``) every manifest an index holds."""
    found = [target.digest]
    if recursive and isinstance(target, ImageIndex):
        for desc in target.index.manifests:
            found += _digests(target.child(desc), True)
    return found


# -- verifying -------------------------------------------------------------------------------

def verify_remote(ref: Reference, keys: Sequence[PublicKey], options: RegistryOptions, *,
                  identity: SignedIdentity = COSIGN_IDENTITY) -> Verified:
    """Check ``ref`` in its registry: its manifest must hash to the digest the registry
    names, and a signature by one of ``keys`` must vouch for that digest and name."""
    from wharfie.transports.registry.source import open_remote

    try:
        target = open_remote(ref, options)
    except DigestMismatch as e:
        raise SignatureRejected(f"{ref.familiar()}: manifest tampered with: {e.message}",
                                "tampered") from None
    try:
        return check_signatures(ref, target.digest,
                                remote_signatures(ref, target.digest, options), keys,
                                identity=identity)
    except SignatureRejected as simple:
        bundles = remote_bundles(ref, target.digest, options)
        if not bundles:
            raise
        raw, _ = (target.manifest_bytes() if isinstance(target, Image)
                  else target.index_bytes())
        try:
            return check_bundles(ref, raw, bundles, keys)
        except SignatureRejected as bundled:
            raise (bundled if simple.reason == "missing" else simple) from None


def verify_local(images: ImageStore, ref: Reference, keys: Sequence[PublicKey], *,
                 identity: SignedIdentity = COSIGN_IDENTITY) -> Verified:
    """Check a stored image against the signatures the store keeps for it."""
    try:
        digest = images.open_target(str(ref)).digest
    except NotFound:
        raise NotFound(f"No such image: {ref.familiar()}") from None
    return check_signatures(ref, digest, local_signatures(images, ref, digest), keys,
                            identity=identity)
