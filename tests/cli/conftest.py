import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "images"))

from imagefactory import add_image, layer_tar  # noqa: E402

from wharfie.images.store import ImageStore  # noqa: E402


@pytest.fixture
def store(root):
    return ImageStore(root)


@pytest.fixture
def sample(store, busybox_rootfs_tar):
    """busybox (3 names, a label) and app (busybox + one layer), plus one dangling image."""
    base = busybox_rootfs_tar.read_bytes()
    bb = add_image(store, [base], ("busybox:latest", "busybox:1.36", "localhost:5000/bb:x"),
                   labels={"org": "acme", "tier": "base"})
    app = add_image(store, [base, layer_tar({"app/run": b"#!/bin/sh\n"})], ("app:v1",),
                    created="2025-06-01T00:00:00Z", labels={"org": "acme"},
                    history=[{"created": "2024-01-01T00:00:00Z",
                              "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
                             {"created": "2025-06-01T00:00:00Z",
                              "created_by": "/bin/sh -c #(nop)  ENV\tA=1", "empty_layer": True},
                             {"created": "2025-06-01T00:00:00Z",
                              "created_by": "COPY run /app/run # " + "x" * 60,
                              "comment": "buildkit.dockerfile.v0"}])
    dangling = add_image(store, [layer_tar({"tmp": b"t"})], created="2025-07-01T00:00:00Z")
    return {"busybox": bb, "app": app, "dangling": dangling}
