"""wharfie's public API: ``Client`` and each of its operations as a function on a default
client (the root of ``$WHARFIE_ROOT`` or the default store, registry options from the
environment and ``~/.docker/config.json``).

    import wharfie

    wharfie.pull("127.0.0.1:5000/busybox:1.36")
    wharfie.tag("127.0.0.1:5000/busybox:1.36", "base:1")
    result = wharfie.build("examples/hello", tag="hello:1")
    wharfie.push("hello:1", "127.0.0.1:5000/hello:1")
"""

from __future__ import annotations

import functools
import inspect as _inspect
import threading
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from wharfie.api.client import Client, ImageSummary

P = ParamSpec("P")
R = TypeVar("R")

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The client the module-level functions use, made on first use with ``Client()``.

    >>> wharfie.default_client().root        # doctest: +SKIP
    PosixPath('/var/lib/wharfie')
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def _on_default_client(method: Callable[Concatenate[Client, P], R]) -> Callable[P, R]:
    """``Client.method`` as a module function calling it on ``default_client()``: same
    name, docstring and signature (without ``self``)."""
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return method(default_client(), *args, **kwargs)

    signature = _inspect.signature(method)
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:])
    del call.__wrapped__  # type: ignore[attr-defined]  # help() shows the signature above
    call.__qualname__ = call.__name__
    call.__module__ = "wharfie"
    return call


pull = _on_default_client(Client.pull)
push = _on_default_client(Client.push)
copy = _on_default_client(Client.copy)
build = _on_default_client(Client.build)
# `wharfie.images` is the image-store package (a submodule import rebinds the name), so the
# module-level form of Client.images is list_images.
list_images = _on_default_client(Client.images)
list_images.__name__ = list_images.__qualname__ = "list_images"
image = _on_default_client(Client.image)
inspect = _on_default_client(Client.inspect)
history = _on_default_client(Client.history)
tag = _on_default_client(Client.tag)
remove = _on_default_client(Client.remove)
prune = _on_default_client(Client.prune)
load = _on_default_client(Client.load)
save = _on_default_client(Client.save)
import_image = _on_default_client(Client.import_image)
squash = _on_default_client(Client.squash)
system_df = _on_default_client(Client.system_df)
check = _on_default_client(Client.check)
tags = _on_default_client(Client.tags)
manifest = _on_default_client(Client.manifest)
inspect_remote = _on_default_client(Client.inspect_remote)
delete_remote = _on_default_client(Client.delete_remote)
login = _on_default_client(Client.login)
logout = _on_default_client(Client.logout)
prune_build_cache = _on_default_client(Client.prune_build_cache)

OPERATIONS = ("pull", "push", "copy", "build", "list_images", "image", "inspect", "history", "tag",
              "remove", "prune", "load", "save", "import_image", "squash", "system_df", "check",
              "tags", "manifest", "inspect_remote", "delete_remote", "login", "logout",
              "prune_build_cache")

__all__ = ["Client", "ImageSummary", "default_client", *OPERATIONS]

