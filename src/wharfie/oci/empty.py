"""The empty image: ``FROM scratch``'s config, with no layers and no history."""

from __future__ import annotations

from wharfie.oci.platform import Platform

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def empty_config(os_name: str, architecture: str, variant: str | None = None, *,
                 env: list[str] | None = None) -> dict:
    """The config of an image with nothing in it. ``env`` defaults to BuildKit's PATH,
    which it sets even for ``FROM scratch``.

    >>> empty_config("linux", "amd64")["rootfs"]
    {'type': 'layers', 'diff_ids': []}
    """
    doc: dict = {"architecture": architecture, "os": os_name,
                 "config": {"Env": [f"PATH={DEFAULT_PATH}"] if env is None else env},
                 "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
    if variant:
        doc["variant"] = variant
    return doc


def for_platform(platform: Platform) -> dict:
    """``FROM scratch`` for ``platform``: ``empty_config`` with BuildKit's ``WorkingDir``
    of ``/`` (its emptyImage sets it, so every image built on scratch carries it)."""
    doc = empty_config(platform.os, platform.architecture, platform.variant)
    doc["config"]["WorkingDir"] = "/"
    doc["config"]["OnBuild"] = None  # BuildKit's struct writes it even when empty
    return doc
