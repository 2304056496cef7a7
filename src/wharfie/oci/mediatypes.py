"""Media types of OCI and Docker schema 2 manifests, configs and layers."""

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"

MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
ALL_MANIFESTS = MANIFESTS | INDEXES
CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})

GZIP_LAYERS = frozenset({OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP, DOCKER_LAYER_GZIP,
                         DOCKER_LAYER_FOREIGN})
ZSTD_LAYERS = frozenset({OCI_LAYER_ZSTD, OCI_LAYER_NONDIST_ZSTD})
PLAIN_LAYERS = frozenset({OCI_LAYER, OCI_LAYER_NONDIST, DOCKER_LAYER})
LAYERS = GZIP_LAYERS | ZSTD_LAYERS | PLAIN_LAYERS

# Accept header for manifest requests: everything we can read, best first.
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])


def compression_of(media_type: str) -> str:
    """``gzip``, ``zstd`` or ``none`` for a layer media type."""
    if media_type in GZIP_LAYERS or media_type.endswith("+gzip") or media_type.endswith(".gzip"):
        return "gzip"
    if media_type in ZSTD_LAYERS or media_type.endswith("+zstd"):
        return "zstd"
    return "none"


def layer_type(compression: str, *, docker: bool = False) -> str:
    """The layer media type for a compression, in the OCI or Docker family."""
    if docker:
        if compression == "zstd":
            raise ValueError("Docker schema 2 has no zstd layer type")
        return DOCKER_LAYER_GZIP if compression == "gzip" else DOCKER_LAYER
    return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}[compression]
