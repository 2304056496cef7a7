"""wharfie: a daemonless Docker/OCI image toolkit, as a command and a Python library.

    import wharfie

    client = wharfie.Client("/tmp/store")               # or wharfie.pull(...) on the default
    client.pull("127.0.0.1:5000/busybox:1.36")
    client.build("examples/hello", tag="hello:1")
    client.push("hello:1", "127.0.0.1:5000/hello:1")
    for image in client.images():                       # wharfie.list_images() on the default
        print(image.id, image.repo_tags)

Errors are ``wharfie.WharfieError`` and its kinds (``NotFound``, ``Conflict``,
``RegistryError`` with the HTTP ``status`` and distribution-spec ``codes``, ...).
Names are imported on first use, so ``import wharfie`` (and ``wharfie --version``) stays fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers know it)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # the API (wharfie.api): a Client, and its operations on a default one
    "Client", "ImageSummary", "default_client", "pull", "push", "copy", "build", "list_images",
    "image", "inspect", "history", "tag", "remove", "prune", "load", "save", "import_image",
    "squash", "system_df", "check", "tags", "manifest", "inspect_remote", "delete_remote",
    "login", "logout", "prune_build_cache",
    # errors (wharfie.errors)
    "WharfieError", "NotFound", "Conflict", "InvalidInput", "InvalidReference",
    "InvalidDigest", "DigestMismatch", "RegistryError", "AuthError",
    # the types they take and give
    "Image", "ImageIndex", "Reference", "parse_reference", "Digest", "Platform",
    "RegistryOptions", "Credentials", "TransportName", "BuildOptions", "BuildResult",
    "BuildError",
]

# where a public name is defined, when not in wharfie.api
_WHERE = {
    **dict.fromkeys(("WharfieError", "NotFound", "Conflict", "InvalidInput", "InvalidReference",
                     "InvalidDigest", "DigestMismatch", "RegistryError", "AuthError"),
                    "wharfie.errors"),
    "Image": "wharfie.oci.image", "ImageIndex": "wharfie.oci.image",
    "Reference": "wharfie.oci.reference", "parse_reference": "wharfie.oci.reference",
    "Digest": "wharfie.oci.digest", "Platform": "wharfie.oci.platform",
    "RegistryOptions": "wharfie.transports.registry.client",
    "Credentials": "wharfie.transports.registry.credentials",
    "TransportName": "wharfie.transports.names",
    "BuildOptions": "wharfie.builder", "BuildResult": "wharfie.builder",
    "BuildError": "wharfie.builder",
}

if TYPE_CHECKING:
    from wharfie.api import (
        Client,
        ImageSummary,
        build,
        check,
        copy,
        default_client,
        delete_remote,
        history,
        image,
        import_image,
        inspect,
        inspect_remote,
        list_images,
        load,
        login,
        logout,
        manifest,
        prune,
        prune_build_cache,
        pull,
        push,
        remove,
        save,
        squash,
        system_df,
        tag,
        tags,
    )
    from wharfie.builder import BuildError, BuildOptions, BuildResult
    from wharfie.errors import (
        AuthError,
        Conflict,
        DigestMismatch,
        InvalidDigest,
        InvalidInput,
        InvalidReference,
        NotFound,
        RegistryError,
        WharfieError,
    )
    from wharfie.oci.digest import Digest
    from wharfie.oci.image import Image, ImageIndex
    from wharfie.oci.platform import Platform
    from wharfie.oci.reference import Reference, parse_reference
    from wharfie.transports.names import TransportName
    from wharfie.transports.registry.client import RegistryOptions
    from wharfie.transports.registry.credentials import Credentials


def __getattr__(name: str) -> object:
    """Import a public name on first use (PEP 562)."""
    if name not in __all__:
        raise AttributeError(f"module 'wharfie' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_WHERE.get(name, "wharfie.api")), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
