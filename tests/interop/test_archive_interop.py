"""Archives against real peers: skopeo reads what wharfie saves, umoci unpacks it, and
what skopeo writes loads into wharfie with its digests kept."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from tests.conftest import dockerd_daemon

from wharfie.images.imagestore import ImageStore
from wharfie.oci import mediatypes as mt
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image
from wharfie.transports.layout import LayoutDestination

pytestmark = pytest.mark.interop


def run(*args: str) -> str:
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(args)}:\n{res.stderr}"
    return res.stdout


@pytest.fixture
def imported(wharfie, busybox_rootfs_tar, root) -> ImageStore:
    wharfie("import", "-c", 'CMD ["sh"]', "-c", "ENV GREETING=hi", str(busybox_rootfs_tar),
            "busybox:latest")
    return ImageStore(root)


def test_skopeo_and_umoci_read_what_wharfie_saves(wharfie, imported, tmp_path):
    img = imported.resolve("busybox:latest")
    out = tmp_path / "bb.tar"
    wharfie("save", "-o", str(out), "busybox")

    info = json.loads(run("skopeo", "inspect", f"docker-archive:{out}"))
    assert info["Layers"] == [str(d) for d in img.config.diff_ids]
    assert info["Env"] == ["GREETING=hi"]
    raw_config = run("skopeo", "inspect", "--raw", "--config", f"docker-archive:{out}")
    assert "sha256:" + hashlib.sha256(raw_config.encode()).hexdigest() == img.id

    raw = run("skopeo", "inspect", "--raw", f"oci-archive:{out}:latest")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == img.manifest_digest
    oci = json.loads(run("skopeo", "inspect", f"oci-archive:{out}:latest"))
    assert oci["Digest"] == img.manifest_digest

    layout = tmp_path / "layout"
    with tarfile.open(out) as tf:
        tf.extractall(layout, filter="data")
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--image", f"{layout}:latest", str(bundle))
    busybox = bundle / "rootfs" / "bin" / "busybox"
    assert busybox.read_bytes() == Path("/bin/busybox").read_bytes()
    assert (bundle / "rootfs" / "bin" / "sh").readlink() == Path("busybox")
    runtime = json.loads((bundle / "config.json").read_text())
    assert runtime["process"]["args"] == ["sh"]
    assert "GREETING=hi" in runtime["process"]["env"]


@pytest.fixture
def skopeo_layout(imported, tmp_path) -> Path:
    """The imported image as an OCI layout written by wharfie's layout transport."""
    path = tmp_path / "oci"
    dst = LayoutDestination(path)  # no close(): writing the manifest tidies up
    copy_image(imported.resolve("busybox:latest"), dst, parse_reference("busybox:latest"))
    assert sorted(p.name for p in path.iterdir()) == ["blobs", "index.json", "oci-layout"]
    return path


def test_skopeo_docker_archive_loads_with_its_image_id(wharfie, skopeo_layout, tmp_path):
    out = tmp_path / "sk-docker.tar"
    run("skopeo", "copy", "-q", f"oci:{skopeo_layout}:latest", f"docker-archive:{out}:bb:sk")
    config = run("skopeo", "inspect", "--raw", "--config", f"docker-archive:{out}")
    skopeo_id = "sha256:" + hashlib.sha256(config.encode()).hexdigest()
    skopeo_manifest = run("skopeo", "inspect", "--raw", f"docker-archive:{out}")

    fresh = tmp_path / "fresh"
    res = wharfie("load", "-i", str(out), env={"WHARFIE_ROOT": str(fresh)})
    assert res.stdout == b"Loaded image: bb:sk\n"
    loaded = ImageStore(fresh).resolve("bb:sk")
    assert loaded.id == skopeo_id
    # uncompressed layers named by diffID, the same blobs skopeo's manifest lists (skopeo
    # labels them tar.gzip although they are plain tars; we keep the true media type)
    sk_layers = json.loads(skopeo_manifest)["layers"]
    assert [(x.digest, x.size) for x in loaded.layers()] == \
        [(x["digest"], x["size"]) for x in sk_layers]
    assert [x.digest for x in loaded.layers()] == loaded.config.diff_ids
    assert [x.media_type for x in loaded.layers()] == [mt.DOCKER_LAYER]


def test_skopeo_oci_archive_loads_with_its_manifest_digest(wharfie, skopeo_layout, tmp_path):
    out = tmp_path / "sk-oci.tar"
    run("skopeo", "copy", "-q", f"oci:{skopeo_layout}:latest", f"oci-archive:{out}:bb:oci")
    raw = run("skopeo", "inspect", "--raw", f"oci-archive:{out}")
    fresh = tmp_path / "fresh"
    res = wharfie("load", "-i", str(out), env={"WHARFIE_ROOT": str(fresh)})
    assert res.stdout == b"Loaded image: bb:oci\n"
    loaded = ImageStore(fresh).resolve("bb:oci")
    assert loaded.manifest_digest == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    assert loaded.id == json.loads(raw)["config"]["digest"]


def test_skopeo_reads_wharfie_layout_dir(skopeo_layout, imported):
    img = imported.resolve("busybox:latest")
    info = json.loads(run("skopeo", "inspect", f"oci:{skopeo_layout}:latest"))
    assert info["Digest"] == img.manifest_digest


@pytest.fixture(scope="module")
def dockerd():
    """A private dockerd for this module's tests (tests.conftest.dockerd_daemon)."""
    with dockerd_daemon() as env:
        yield env


def docker(env: dict, *args: str) -> str:
    res = subprocess.run(["/usr/bin/docker", *args], env=env, capture_output=True, text=True)
    assert res.returncode == 0, f"docker {' '.join(args)}:\n{res.stderr}"
    return res.stdout


def test_docker_loads_and_runs_what_wharfie_saves_and_back(wharfie, imported, dockerd, tmp_path):
    img = imported.resolve("busybox:latest")
    out = tmp_path / "bb.tar"
    wharfie("save", "-o", str(out), "busybox:latest")
    assert docker(dockerd, "load", "-i", str(out)) == "Loaded image: busybox:latest\n"
    assert docker(dockerd, "image", "inspect", "-f", "{{.Id}}", "busybox:latest").strip() == img.id
    assert docker(dockerd, "run", "--rm", "busybox:latest", "sh", "-c", "echo $GREETING") == "hi\n"

    docker(dockerd, "tag", "busybox:latest", "example.com/tools/bb:2")
    back = tmp_path / "docker-save.tar"
    docker(dockerd, "save", "-o", str(back), "busybox:latest", "example.com/tools/bb:2")
    fresh = tmp_path / "fresh"
    res = wharfie("load", "-i", str(back), env={"WHARFIE_ROOT": str(fresh)})
    assert sorted(res.stdout.decode().splitlines()) == [
        "Loaded image: busybox:latest", "Loaded image: example.com/tools/bb:2"]
    loaded = ImageStore(fresh).resolve("example.com/tools/bb:2")
    assert loaded.id == img.id
    assert loaded.config.diff_ids == img.config.diff_ids
