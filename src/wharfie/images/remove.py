"""``docker rmi`` semantics: untag by name, delete by ID, refuse ambiguous deletes.

By name: the reference goes; the image goes only with its last name. By ID: the
image goes with all its names, unless those names span several repositories or
tags (then ``--force`` is needed), as the Docker daemon decides it.
"""

from __future__ import annotations

from wharfie.errors import Conflict
from wharfie.images.imagestore import ImageStore, Removal
from wharfie.oci.digest import Digest
from wharfie.oci.reference import Reference, parse_reference


def _is_id(text: str, image_id: Digest, target: Digest) -> bool:
    """True if ``text`` names the image by (a prefix of) its ID or by its manifest digest."""
    t = text.strip()
    return (image_id.startswith(t) or image_id.hex.startswith(t)
            or t == target or t == target.hex)


def _single_reference(refs: list[Reference]) -> bool:
    """Docker's isSingleReference: at most one tag, and digests only of that repository."""
    tags = [r for r in refs if r.tag]
    if len(tags) > 1 or not refs:
        return len(refs) == 1
    repos = {r.name for r in refs if not r.tag}
    name = tags[0].name if tags else refs[0].name
    return not repos or repos == {name}


def remove_image(store: ImageStore, name_or_id: str, *, force: bool = False) -> Removal:
    """Untag or delete one image as ``docker rmi`` does; returns what happened, in order."""
    target = store.lookup(name_or_id)
    image = store.get(target)
    refs = store.refs(target)
    out = Removal()
    if not _is_id(name_or_id, image.id, target):
        ref = parse_reference(name_or_id)
        if ref.tag:
            store.untag(Reference(ref.domain, ref.path, ref.tag))
            out.untagged.append(Reference(ref.domain, ref.path, ref.tag))
            removed = [ref.with_tag(ref.tag)]
        else:  # repo@digest: every name of that repository for this image
            removed = [r for r in refs if r.name == ref.name]
            for r in removed:
                store.untag(r)
            out.untagged.append(ref)
        remaining = [r for r in refs if r not in removed]
        if ref.tag and not any(r.tag and r.name == ref.name for r in remaining):
            # The repository's last tag went: so do its repo digests (Docker reports them).
            for r in [r for r in remaining if not r.tag and r.name == ref.name]:
                store.untag(r)
                remaining.remove(r)
                out.untagged.append(r)
        if remaining:
            return out
        out.extend(store.delete(target))
        return out
    if refs and not force and not _single_reference(refs):
        raise Conflict(f"conflict: unable to delete {image.id.short} (must be forced) - "
                       "image is referenced in multiple repositories")
    removal = store.delete(target, untag=True)
    removal.untagged.sort(key=lambda r: r.tag is None)  # tags first, then repo digests
    return removal
