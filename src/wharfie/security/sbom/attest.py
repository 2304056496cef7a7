"""An image's SBOM attached as an OCI referrer: an artifact manifest (``artifactType``
``application/spdx+json``, one SPDX JSON layer) whose ``subject`` is the image manifest.

The local store has no referrers API, so it keeps the artifact under the tag
``<alg>-<hex>.sbom`` of the image's repository (as it keeps ``.sig`` signatures); a push
sends it by digest, and the registry lists it among the image's referrers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from wharfie.errors import InvalidInput, NotFound
from wharfie.oci.artifact import referrer_artifact
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions

SPDX_TYPE = "application/spdx+json"


def attestation_ref(ref: Reference, digest: Digest) -> Reference:
    """Where the store keeps the SBOM of ``ref``'s repository's image ``digest``."""
    return Reference(ref.domain, ref.path, f"{digest.algorithm}-{digest.hex}.sbom")


def sbom_artifact(spdx: bytes, subject: Descriptor) -> Image:
    """The referrer manifest carrying ``spdx`` for the image ``subject``."""
    return referrer_artifact(spdx, SPDX_TYPE, subject, title="sbom.spdx.json")


def _descriptor(image: Image) -> Descriptor:
    raw, media_type = image.manifest_bytes()
    return Descriptor(media_type, image.digest, len(raw))


def attach_local(images: ImageStore, ref: Reference) -> Reference:
    """Catalog the stored image ``ref`` and keep its SPDX SBOM as its referrer in the
    store; returns where it is kept."""
    from wharfie.security.sbom import generate  # the model and cataloguers: not for a push
    from wharfie.security.sbom.formats import to_spdx
    from wharfie.transports.base import copy_image

    image = images.resolve(str(ref))
    spdx = json.dumps(to_spdx(generate(image, name=str(ref))), indent=1).encode()
    where = attestation_ref(ref, image.digest)
    copy_image(sbom_artifact(spdx, _descriptor(image)), images.destination(), where)
    return where


def push_attestation(images: ImageStore, ref: Reference, digest: Digest, dest: Reference,
                     options: RegistryOptions) -> Digest | None:
    """After ``push``: send the store's SBOM referrer of ``digest`` to ``dest``'s
    repository (by digest: no tag). None when the image has none."""
    from wharfie.transports.push import push_target

    try:
        local = images.open_target(str(attestation_ref(ref, digest)))
    except NotFound:
        return None
    where = Reference(dest.domain, dest.path, digest=local.digest)
    return push_target(images, local, where, options).digest


def _spdx_layer(artifact: Image, name: str) -> Descriptor:
    layers = [d for d in artifact.manifest.layers if d.media_type == SPDX_TYPE]
    if artifact.manifest.artifact_type != SPDX_TYPE or len(layers) != 1:
        raise InvalidInput(f"{name}: not an SPDX SBOM attestation")
    return layers[0]


def _read(artifact: Image, name: str) -> dict:
    layer = _spdx_layer(artifact, name)
    with artifact.open_blob(layer) as blob:
        data = blob.read()
    if Digest.of(data) != layer.digest:
        raise InvalidInput(f"{name}: the SBOM does not match its digest")
    return json.loads(data)


def read_local(images: ImageStore, ref: Reference) -> dict:
    """The SPDX document attached to the stored image ``ref``."""
    digest = images.resolve(str(ref)).digest
    try:
        artifact = images.open_target(str(attestation_ref(ref, digest)))
    except NotFound:
        raise NotFound(f"{ref.familiar()}: no SBOM attached (build it with --sbom)") from None
    return _read(artifact, str(ref))  # type: ignore[arg-type]


def read_remote(ref: Reference, options: RegistryOptions) -> dict:
    """The newest SPDX document among the referrers of ``ref`` in its registry."""
    from wharfie.transports.registry.source import open_remote

    digest = ref.digest or open_remote(ref, options).digest
    found = options.registry(ref.domain).referrers(ref.path, digest, SPDX_TYPE).manifests
    if not found:
        raise NotFound(f"{ref.familiar()}: no SBOM among the image's referrers")
    artifact = open_remote(Reference(ref.domain, ref.path, digest=found[-1].digest), options)
    if not isinstance(artifact, Image):
        raise InvalidInput(f"{ref.familiar()}: the SBOM referrer is not a manifest")
    return _read(artifact, str(ref))
