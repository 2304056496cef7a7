"""cosign v3's layout: a Sigstore bundle attached to the image through the referrers API.

The bundle (sigstore protobuf-specs ``Bundle``, media type v0.3, in protobuf's JSON form) holds
a ``messageSignature`` over the image manifest's bytes, whose ``messageDigest`` is therefore
the manifest digest, and ``verificationMaterial.publicKey.hint`` naming the key (a hint only:
the verifier brings its keys). Offline there is no Rekor entry: ``tlogEntries`` is empty.
The bundle is the one layer of an OCI manifest whose ``artifactType`` is the bundle type and
whose ``subject`` is the signed manifest. It vouches for a digest, not a repository name.

Keyless signing would fill ``verificationMaterial`` with the Fulcio certificate
(``certificate.rawBytes``) instead of the key hint, and ``tlogEntries`` with the Rekor entry
the signer got back; verification would then check the certificate against Fulcio's root and
the identity in it, and the entry's inclusion, before the signature, as ``check_bundle``
checks the signature here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from wharfie.errors import InvalidInput
from wharfie.oci.artifact import referrer_artifact
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference
from wharfie.signing.keys import PrivateKey, PublicKey, key_id, sign, verify
from wharfie.signing.verify import SignatureRejected, Verified

BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def make_bundle(key: PrivateKey, manifest: bytes) -> bytes:
    """The bundle signing ``manifest``'s bytes with ``key``."""
    doc = {"mediaType": BUNDLE_TYPE,
           "verificationMaterial": {"publicKey": {"hint": key_id(key.public_key())},
                                    "tlogEntries": []},
           "messageSignature": {
               "messageDigest": {"algorithm": "SHA2_256",
                                 "digest": _b64(bytes.fromhex(Digest.of(manifest).hex))},
               "signature": _b64(sign(key, manifest))}}
    return json.dumps(doc, separators=(",", ":")).encode()


def bundle_artifact(bundle: bytes, subject: Descriptor) -> Image:
    """The referrer manifest carrying ``bundle`` for ``subject``: one bundle layer, as
    cosign v3 writes, and a minimal image config (cosign's is the empty one) so that it
    travels through the image transports like cosign's ``.sig`` manifests."""
    return referrer_artifact(bundle, BUNDLE_TYPE, subject)


def read_bundle(artifact: Image) -> tuple[Digest, bytes]:
    """The signed digest and the signature of a bundle referrer (strictly read)."""
    layers = [d for d in artifact.manifest.layers if d.media_type == BUNDLE_TYPE]
    if len(layers) != 1:
        raise InvalidInput("not a Sigstore bundle artifact: want one bundle layer")
    try:
        doc = json.loads(artifact.read_blob(layers[0]))
        if doc["mediaType"] != BUNDLE_TYPE:
            raise InvalidInput(f"unsupported bundle media type {doc['mediaType']!r}")
        message = doc["messageSignature"]
        if message["messageDigest"]["algorithm"] != "SHA2_256":
            raise InvalidInput("bundle digest algorithm is not SHA2_256")
        digest = Digest(f"sha256:{base64.b64decode(message['messageDigest']['digest']).hex()}")
        return digest, base64.b64decode(message["signature"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise InvalidInput(f"not a Sigstore message-signature bundle: {e}") from None


def check_bundles(image: Reference, manifest: bytes, bundles: Sequence[tuple[Digest, bytes]],
                  keys: Sequence[PublicKey]) -> Verified:
    """The first bundle by one of ``keys`` over ``manifest``; else why none counts."""
    digest = Digest.of(manifest)
    shown = image.familiar()
    if not bundles:
        raise SignatureRejected(f"{shown}: no signature found for {digest} (unsigned image)",
                                "missing")
    for signed, signature in bundles:
        by = next((k for k in keys if verify(k, signature, manifest)), None)
        if by is not None and signed == digest:
            return Verified(image, digest, "", key_id(by))
    others = [d for d, _ in bundles if d != digest]
    if others:
        raise SignatureRejected(f"{shown}: bundle is for another image: it signs digest "
                                f"{others[0]}, the image is {digest}", "digest")
    names = ", ".join(key_id(k) for k in keys)
    raise SignatureRejected(f"{shown}: {len(bundles)} bundle(s) for {digest}, none made by "
                            f"the key {names}", "key")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
