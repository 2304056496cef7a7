"""What ``wharfie build`` makes, read by real peers: Docker loads and runs it, skopeo
inspects it, umoci unpacks it.

The image is built by the CLI on a busybox-static import, saved with ``wharfie save``,
then handed to Debian's dockerd (started here on a private socket and data root),
``skopeo inspect docker-archive:`` and ``umoci unpack`` (through an OCI layout that
skopeo writes from the archive).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from tests.conftest import dockerd_daemon

from wharfie.images.imagestore import ImageStore

pytestmark = pytest.mark.interop

DOCKER = "/usr/bin/docker"  # Debian's client; a newer one without buildx may come first on PATH

DOCKERFILE = """\
FROM busybox:local AS gen
RUN mkdir /out && echo "generated in stage gen" > /out/gen.txt

FROM busybox:local
ARG FLAVOUR=plain
ENV GREETING="hello from wharfie" FLAVOUR=${FLAVOUR}
LABEL org.example.tool=wharfie
WORKDIR /app
COPY greet.sh ./
COPY --from=gen /out/gen.txt /app/
COPY --chown=app:app --chmod=0640 data/ /app/data/
RUN chmod 755 greet.sh && echo "built with $FLAVOUR" > /app/built.txt \\
    && ln -s /app/greet.sh /usr/bin/greet
USER app
EXPOSE 8080
ENTRYPOINT ["/app/greet.sh"]
CMD ["world"]
"""

GREET = """\
#!/bin/sh
echo "$GREETING, $1"
cat /app/built.txt /app/gen.txt
cat /app/data/a.txt
id -u
pwd
"""

EXPECTED = ("hello from wharfie, world\nbuilt with spicy\ngenerated in stage gen\n"
            "data a\n1000\n/app\n")


def run(*args: str, env: dict | None = None) -> str:
    res = subprocess.run(args, capture_output=True, text=True, env=env)
    assert res.returncode == 0, f"{' '.join(args)} exited {res.returncode}:\n{res.stderr}"
    return res.stdout


@pytest.fixture(scope="module")
def dockerd():
    """A private dockerd for this module's tests (tests.conftest.dockerd_daemon)."""
    with dockerd_daemon() as env:
        yield env


@pytest.fixture(scope="module")
def saved(tmp_path_factory, busybox_rootfs_tar):
    """(wharfie root, saved docker-archive tar) of an image built by ``wharfie build``."""
    import sys

    d = tmp_path_factory.mktemp("build-docker")
    root = d / "root"
    env = {**os.environ, "WHARFIE_ROOT": str(root)}

    def wharfie(*args: str) -> str:
        res = subprocess.run([sys.executable, "-m", "wharfie", *args], capture_output=True,
                             text=True, env=env)
        assert res.returncode == 0, f"wharfie {' '.join(args)}:\n{res.stderr}"
        return res.stdout

    wharfie("import", str(busybox_rootfs_tar), "busybox:local")
    ctx = d / "ctx"
    (ctx / "data").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "greet.sh").write_text(GREET)
    (ctx / "data" / "a.txt").write_text("data a\n")
    (ctx / "data" / "b.txt").write_text("data b\n")
    wharfie("build", "-q", "--build-arg", "FLAVOUR=spicy", "-t", "built/greet:1", str(ctx))
    out = d / "greet.tar"
    wharfie("save", "-o", str(out), "built/greet:1")
    return root, out


def test_docker_loads_and_runs_a_wharfie_build(saved, dockerd):
    root, tar = saved
    img = ImageStore(root).resolve("built/greet:1")
    assert run(DOCKER, "load", "-i", str(tar), env=dockerd) == \
        "Loaded image: built/greet:1\n"
    info = json.loads(run(DOCKER, "image", "inspect", "built/greet:1", env=dockerd))[0]
    assert info["Id"] == img.id
    assert info["RootFS"]["Layers"] == [str(x) for x in img.config.diff_ids]
    cfg = info["Config"]
    assert cfg["Entrypoint"] == ["/app/greet.sh"] and cfg["Cmd"] == ["world"]
    assert cfg["WorkingDir"] == "/app" and cfg["User"] == "app"
    assert "GREETING=hello from wharfie" in cfg["Env"] and "FLAVOUR=spicy" in cfg["Env"]
    assert cfg["Labels"] == {"org.example.tool": "wharfie"}
    assert list(cfg["ExposedPorts"]) == ["8080/tcp"]

    out = run(DOCKER, "run", "--rm", "--network", "none", "built/greet:1", env=dockerd)
    assert out == EXPECTED
    # CMD is replaced by arguments, the ENTRYPOINT stays; the file modes survived
    out = run(DOCKER, "run", "--rm", "--network", "none", "built/greet:1", "docker",
              env=dockerd)
    assert out.startswith("hello from wharfie, docker\n")
    ls = run(DOCKER, "run", "--rm", "--network", "none", "--entrypoint", "ls",
             "built/greet:1", "-ln", "/app/data/a.txt", "/usr/bin/greet", env=dockerd)
    assert "-rw-r-----    1 1000     1000" in ls and "/usr/bin/greet -> /app/greet.sh" in ls


def test_skopeo_inspects_and_umoci_unpacks_a_wharfie_build(saved, tmp_path):
    root, tar = saved
    img = ImageStore(root).resolve("built/greet:1")
    info = json.loads(run("skopeo", "inspect", f"docker-archive:{tar}"))
    assert info["Layers"] == [str(x) for x in img.config.diff_ids]
    # base + WORKDIR + 3 COPY + RUN; the config-only steps made no layer
    assert len(info["Layers"]) == 6
    assert info["Labels"] == {"org.example.tool": "wharfie"}
    assert "GREETING=hello from wharfie" in info["Env"]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    config = json.loads(run("skopeo", "inspect", "--config", f"docker-archive:{tar}"))
    assert config["rootfs"]["diff_ids"] == info["Layers"]
    created_by = [h.get("created_by", "") for h in config["history"]]
    assert created_by[-4:] == ["USER app", "EXPOSE map[8080/tcp:{}]", 'ENTRYPOINT ["/app/greet.sh"]',
                              'CMD ["world"]']
    assert sum(not h.get("empty_layer", False) for h in config["history"]) == 6

    layout = tmp_path / "layout"
    run("skopeo", "copy", "-q", f"docker-archive:{tar}", f"oci:{layout}:greet")
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--image", f"{layout}:greet", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "app" / "gen.txt").read_text() == "generated in stage gen\n"
    assert (rootfs / "app" / "built.txt").read_text() == "built with spicy\n"
    assert os.readlink(rootfs / "usr" / "bin" / "greet") == "/app/greet.sh"
    st = os.lstat(rootfs / "app" / "data" / "b.txt")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 1000, 0o640)
    assert os.lstat(rootfs / "app" / "greet.sh").st_mode & 0o777 == 0o755
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["/app/greet.sh", "world"]
    assert spec["process"]["cwd"] == "/app"
    assert spec["process"]["user"]["uid"] == 1000
    assert "GREETING=hello from wharfie" in spec["process"]["env"]
