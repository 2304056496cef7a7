"""wharfie.testing.random makes real images: what the store, a layout and a tar reader see."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile

from wharfie.content.blobstore import ContentStore
from wharfie.images.imagestore import ImageStore
from wharfie.layers.compression import open_uncompressed
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.testing import random
from wharfie.transports.layout import OCILayout


def test_random_layers_are_tars_whose_hashes_are_the_diff_ids():
    img = random.image(3000, 2, compression="gzip")
    layers = img.layers()
    assert [x.media_type for x in layers] == [mt.OCI_LAYER_GZIP] * 2
    for i, layer in enumerate(layers):
        plain = open_uncompressed(io.BytesIO(img.read_blob(layer.descriptor)),
                                  layer.media_type).read()
        assert Digest.of(plain) == layer.diff_id
        with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
            (member,) = tar.getmembers()
            assert (member.name, member.size) == (f"random{i}.bin", 3000)


def test_seed_repeats_the_image_and_no_seed_never_does():
    assert random.image(500, 2, seed=7).digest == random.image(500, 2, seed=7).digest
    assert random.image(500).digest != random.image(500).digest


def test_options_reach_config_and_manifest():
    subject = random.image(10)
    img = random.image(files=[{"etc/motd": b"hi", "bin": None, "sh": "->busybox"}],
                       platform="linux/arm64/v8", labels={"a": "b"}, cmd=["run"], docker=True,
                       manifest_fields={"subject": subject.manifest.descriptor.to_dict()})
    assert str(img.config.platform) == "linux/arm64/v8"
    assert img.config.labels == {"a": "b"} and img.config.config["Cmd"] == ["run"]
    assert img.manifest.media_type == mt.DOCKER_MANIFEST
    assert img.manifest.layers[0].media_type == mt.DOCKER_LAYER
    assert img.manifest.subject.digest == subject.digest
    with tarfile.open(fileobj=io.BytesIO(img.read_blob(img.manifest.layers[0]))) as tar:
        assert {m.name: m.type for m in tar} == {
            "bin": tarfile.DIRTYPE, "etc/motd": tarfile.REGTYPE, "sh": tarfile.SYMTYPE}


def test_raw_layers_are_exactly_size_bytes():
    img = random.image((1 << 20) + 123, raw=True)
    assert img.manifest.layers[0].size == (1 << 20) + 123
    assert img.config.diff_ids == [img.manifest.layers[0].digest]


def test_a_big_image_goes_straight_into_a_store(tmp_path):
    store = ContentStore(tmp_path / "content").ensure()
    img = random.image(8 << 20, 1, seed=1, store=store)
    for desc in [*img.blobs(), img.manifest.descriptor]:
        assert store.verify(desc.digest)
    assert img.digest == random.image(8 << 20, 1, seed=1).digest  # same bytes as in memory


def test_add_image_records_and_tags_a_sound_image(tmp_path):
    images = ImageStore(tmp_path / "root")
    digest = random.add_image(images, "app:1", "app:latest", files=[{"a": b"1"}])
    assert images.resolve("app:1").digest == images.resolve("app:latest").digest == digest
    res = subprocess.run([sys.executable, "-m", "wharfie", "--root", str(images.root),
                          "system", "check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_write_layout_is_an_oci_layout_skopeo_reads(tmp_path):
    img = random.image(2000, 2, compression="gzip")
    assert random.write_layout(tmp_path / "layout", img, "v1") == img.digest
    assert OCILayout(tmp_path / "layout").image("v1").digest == img.digest
    res = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{tmp_path / 'layout'}:v1"],
                         capture_output=True)
    assert res.returncode == 0 and res.stdout == img.manifest.raw, res.stderr
