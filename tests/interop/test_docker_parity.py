"""Issue 15: the same image, loaded into Debian's dockerd and into wharfie, reads the same.

The image is a busybox-static import plus a build with an empty WORKDIR layer, a COPY and
an EXPOSE (no RUN, so no runc), saved by wharfie as a docker-archive. Sizes must not
depend on how the image arrived: the built store (gzip layers) and a fresh store that
loaded the archive (uncompressed layers) show docker's figures.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.conftest import dockerd_daemon, release_root

pytestmark = pytest.mark.interop

DOCKER = "/usr/bin/docker"

DOCKERFILE = """\
FROM busybox:latest
WORKDIR /app
COPY hello.txt big.bin ./
EXPOSE 8080
CMD ["sh"]
"""


@pytest.fixture
def dockerd():
    with dockerd_daemon() as env:
        yield env


def docker(env: dict, *args: str) -> str:
    res = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True)
    assert res.returncode == 0, f"docker {' '.join(args)}:\n{res.stderr}"
    return res.stdout


@pytest.fixture
def both(wharfie, busybox_rootfs_tar, dockerd, tmp_path):
    """(wharfie on the built root, wharfie on a root that loaded ``docker save``'s archive,
    docker's environment), parity:1 in each."""
    wharfie("import", "-c", 'CMD ["sh"]', str(busybox_rootfs_tar), "busybox:latest")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "big.bin").write_bytes(b"\0" * 300_000)  # compresses to almost nothing
    wharfie("build", "-q", "-t", "parity:1", str(ctx))
    archive = tmp_path / "parity.tar"
    wharfie("save", "-o", str(archive), "parity:1")
    docker(dockerd, "load", "-i", str(archive))
    fresh = tmp_path / "fresh"

    def loaded(*args, **kw):
        return wharfie(*args, env={"WHARFIE_ROOT": str(fresh)}, **kw)

    from_docker = tmp_path / "from-docker.tar"  # uncompressed layers
    docker(dockerd, "save", "-o", str(from_docker), "parity:1")
    loaded("load", "-i", str(from_docker))
    yield wharfie, loaded, dockerd
    release_root(fresh)  # a container's snapshot stays mounted, as docker's does


def out(res) -> str:
    return res.stdout.decode()


def test_sizes_equal_docker_however_the_image_arrived(both):
    built, loaded, env = both
    fmt = "{{.Repository}}:{{.Tag}} {{.Size}}"
    want = docker(env, "images", "--format", fmt, "parity:1")
    assert out(built("images", "--format", fmt, "parity:1")) == want
    assert out(loaded("images", "--format", fmt, "parity:1")) == want
    want_size = docker(env, "inspect", "-f", "{{.Size}}", "parity:1")
    assert out(built("inspect", "-f", "{{.Size}}", "parity:1")) == want_size
    assert out(loaded("inspect", "-f", "{{.Size}}", "parity:1")) == want_size
    # the stored bytes stay available: gzip layers built, docker save's uncompressed loaded
    gz = out(built("inspect", "-f", "{{.CompressedSize}}", "parity:1")).strip()
    raw = out(loaded("inspect", "-f", "{{.CompressedSize}}", "parity:1")).strip()
    assert int(gz) < int(raw)
    listed = out(built("images", "--format", "{{.CompressedSize}}", "parity:1")).strip()
    assert listed.endswith("MB") and listed != want.split()[1]


def test_history_sizes_and_exposed_ports_equal_docker(both):
    built, loaded, env = both
    fmt = "{{.Size}}"
    want = docker(env, "history", "--format", fmt, "parity:1")
    assert "0B" in want.split()
    assert out(built("history", "--format", fmt, "parity:1")) == want
    assert out(loaded("history", "--format", fmt, "parity:1")) == want
    want_ports = docker(env, "inspect", "-f", "{{.Config.ExposedPorts}}", "parity:1")
    assert want_ports == "map[8080/tcp:{}]\n"
    assert out(built("inspect", "-f", "{{.Config.ExposedPorts}}", "parity:1")) == want_ports


def test_images_json_keys_equal_docker(both):
    built, _, env = both
    want = json.loads(docker(env, "images", "--format", "{{json .}}", "parity:1"))
    got = json.loads(out(built("images", "--format", "{{json .}}", "parity:1")))
    assert list(got) == list(want)
    for key in ("Repository", "Tag", "Size", "Containers", "SharedSize", "UniqueSize"):
        assert got[key] == want[key], key


def test_system_df_columns_equal_docker(both):
    """A stopped container makes its image active; its size is the writable layer's."""
    _, loaded, env = both
    docker(env, "run", "--name", "c1", "parity:1", "sh", "-c", "echo hi > /app/out.txt")
    loaded("run", "--name", "c1", "parity:1", "sh", "-c", "echo hi > /app/out.txt")
    fmt = "{{.Type}} {{.TotalCount}} {{.Active}}"
    want = docker(env, "system", "df", "--format", fmt)
    assert want.splitlines()[:2] == ["Images 1 1", "Containers 1 0"]
    assert out(loaded("system", "df", "--format", fmt)) == want
    fmt = "{{.Type}} {{.Size}} {{.Reclaimable}}"
    want = docker(env, "system", "df", "--format", fmt).splitlines()
    got = out(loaded("system", "df", "--format", fmt)).splitlines()
    assert got[0] == want[0]  # the image is in use: nothing to reclaim
    assert got[1].split()[0] == "Containers"
    assert out(loaded("system", "df", "-v")).split("\n\n")[0::2] == \
        docker(env, "system", "df", "-v").split("\n\n")[0::2]


def _registry_manifest(host: str, repo: str) -> dict:
    import urllib.request

    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/1", headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def test_push_of_a_loaded_archive_sends_gzip_layers_of_dockers_size(
        wharfie, dockerd, docker_registry, busybox_rootfs_tar, tmp_path):
    """A pre-25 ``docker save`` (uncompressed layers) loaded into both and pushed: the
    registry holds gzip layers from each, of about the same size."""
    from tests.transports.archive_samples import old_docker_save

    from wharfie.testing.random import random_bytes, tar_layer

    tars = [busybox_rootfs_tar.read_bytes(),
            tar_layer({"text": b"docker parity\n" * 30000, "rnd": random_bytes(40_000, 3)})]
    archive, _ = old_docker_save(tars, ["parity/push:1"])
    (tmp_path / "saved.tar").write_bytes(archive)
    docker(dockerd, "load", "-i", str(tmp_path / "saved.tar"))
    docker(dockerd, "tag", "parity/push:1", f"{docker_registry}/by-docker/push:1")
    docker(dockerd, "push", f"{docker_registry}/by-docker/push:1")
    wharfie("load", "-i", str(tmp_path / "saved.tar"))
    wharfie("tag", "parity/push:1", f"{docker_registry}/by-wharfie/push:1")
    wharfie("push", f"{docker_registry}/by-wharfie/push:1")
    want = _registry_manifest(docker_registry, "by-docker/push")
    got = _registry_manifest(docker_registry, "by-wharfie/push")
    assert [x["mediaType"] for x in got["layers"]] == [x["mediaType"] for x in want["layers"]]
    assert want["layers"][0]["mediaType"].endswith(".tar.gzip")
    for mine, theirs, tar in zip(got["layers"], want["layers"], tars, strict=True):
        assert abs(mine["size"] - theirs["size"]) < 0.15 * theirs["size"], (mine, theirs)
        assert mine["size"] < 0.8 * len(tar)
