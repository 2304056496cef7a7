"""The store root is an OCI image layout that skopeo and umoci read, tags included."""

import json
import shutil
import subprocess

import pytest

from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import parse_reference
from wharfie.testing.random import add_image

pytestmark = pytest.mark.interop


@pytest.fixture
def store(tmp_path, busybox_rootfs_tar):
    s = ImageStore(tmp_path / "root")
    add_image(s, "busybox:local", contents=[busybox_rootfs_tar.read_bytes()])
    return s


def test_skopeo_reads_tagged_image(store):
    assert shutil.which("skopeo"), "skopeo is not installed (scripts/install-system-deps.sh)"
    img = store.resolve("busybox:local")
    out = subprocess.run(["skopeo", "inspect", f"oci:{store.root}:local"], check=True,
                         capture_output=True).stdout
    doc = json.loads(out)
    assert doc["Digest"] == img.manifest_digest
    assert doc["Layers"] == [str(d.digest) for d in img.manifest.layers]
    store.untag(parse_reference("busybox:local"))
    res = subprocess.run(["skopeo", "inspect", f"oci:{store.root}:local"], capture_output=True)
    assert res.returncode != 0  # the tag left index.json with the store


def test_umoci_unpacks_tagged_image(store, tmp_path):
    assert shutil.which("umoci"), "umoci is not installed (scripts/install-system-deps.sh)"
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{store.root}:local", str(bundle)],
                   check=True, capture_output=True)
    assert (bundle / "rootfs" / "bin" / "busybox").is_file()
