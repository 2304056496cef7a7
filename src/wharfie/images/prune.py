"""``docker image prune``: remove dangling images (or, with ``all``, every image)."""

from __future__ import annotations

from wharfie.errors import NotFound
from wharfie.images.filters import match_labels, parse_until
from wharfie.images.imagestore import ImageStore, Removal
from wharfie.images.remove import remove_image

PRUNE_FILTERS = {"until", "label", "label!"}


def prune_images(store: ImageStore, *, all: bool = False,
                 filters: dict[str, list[str]] | None = None,
                 in_use: frozenset[str] = frozenset()) -> list[Removal]:
    """Delete what ``docker image prune [-a]`` would, one Removal per image; shared blobs
    stay while another image needs them.

    ``filters``: ``until`` (duration or time: images created before it), ``label`` (must
    carry), ``label!`` (must not carry). Images whose ID is ``in_use`` (by a container)
    stay, as docker keeps images with a container.
    """
    f = filters or {}
    until = min(parse_until(v) for v in f["until"]) if "until" in f else None
    out: list[Removal] = []
    for img in store.list():
        if (not all and not img.dangling) or str(img.id) in in_use:
            continue
        if until is not None and not (img.created_ts or 0) < until:
            continue
        if "label" in f and not match_labels(f["label"], img.labels):
            continue
        if "label!" in f and any(match_labels([w], img.labels) for w in f["label!"]):
            continue
        try:
            out.append(remove_image(store, img.target, force=True))
        except NotFound:  # removed meanwhile by another process, or with an index
            continue
    return out
