"""Registry interop with real peers: skopeo and podman push and pull, dockerd pulls and runs.

Every exchange goes through Debian's docker-registry on loopback, and digests must agree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from tests.conftest import dockerd_daemon

pytestmark = pytest.mark.interop

SKOPEO = ["skopeo", "--insecure-policy"]


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(list(args), capture_output=True, **kw)
    assert res.returncode == 0, f"{' '.join(args)}: {res.stderr.decode(errors='replace')}"
    return res


def skopeo_digest(ref: str) -> str:
    res = run(*SKOPEO, "inspect", "--tls-verify=false", f"docker://{ref}")
    return json.loads(res.stdout)["Digest"]


@pytest.fixture
def umoci_layout(tmp_path, busybox_rootfs_tar) -> Path:
    """An OCI layout built by umoci (not by wharfie): busybox at tag ``t``."""
    layout, bundle = tmp_path / "umoci", tmp_path / "bundle"
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:t")
    run("umoci", "unpack", "--image", f"{layout}:t", str(bundle))
    with tarfile.open(busybox_rootfs_tar) as tar:
        tar.extractall(bundle / "rootfs", filter="tar")
    run("umoci", "repack", "--image", f"{layout}:t", str(bundle))
    run("umoci", "config", "--image", f"{layout}:t", "--config.cmd", "sh")
    return layout


def test_wharfie_push_skopeo_pull(wharfie, busybox_rootfs_tar, docker_registry, tmp_path):
    ref = f"{docker_registry}/interop/w2s:v1"
    wharfie("import", str(busybox_rootfs_tar), ref, "--change", 'CMD ["sh"]')
    pushed = wharfie("push", ref).stdout.decode().splitlines()[-1].split()[2]
    assert skopeo_digest(ref) == pushed
    out = tmp_path / "skopeo-oci"
    run(*SKOPEO, "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:v1")
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == pushed  # skopeo kept every byte


def test_skopeo_push_wharfie_pull(wharfie, umoci_layout, docker_registry):
    for fmt in ("oci", "v2s2"):
        ref = f"{docker_registry}/interop/s2w-{fmt}:v1"
        run(*SKOPEO, "copy", "--dest-tls-verify=false", "--format", fmt,
            f"oci:{umoci_layout}:t", f"docker://{ref}")
        want = skopeo_digest(ref)
        lines = wharfie("pull", ref).stdout.decode().splitlines()
        assert f"Digest: {want}" in lines
        listed = wharfie("images", "--digests", "--format", "{{.Digest}}").stdout.decode()
        assert want in listed.split()


def test_wharfie_copy_reads_and_writes_skopeo_layouts(wharfie, umoci_layout, docker_registry,
                                                      tmp_path):
    ref = f"{docker_registry}/interop/copy:v1"
    digest = wharfie("copy", f"oci:{umoci_layout}:t", f"docker://{ref}").stdout.decode(
        ).splitlines()[-1].split()[1]
    assert skopeo_digest(ref) == digest
    out = tmp_path / "wharfie-oci"
    wharfie("copy", f"docker://{ref}", f"oci:{out}:v1")
    res = run(*SKOPEO, "inspect", f"oci:{out}:v1")
    assert json.loads(res.stdout)["Digest"] == digest


@pytest.fixture(scope="module")
def podman_home(tmp_path_factory):
    if not shutil.which("podman"):
        pytest.fail("podman is not installed (scripts/install-system-deps.sh)")
    d = tmp_path_factory.mktemp("podman")
    conf = d / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\nrunroot = "{d}/run"\ngraphroot = "{d}/graph"\n')
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}


def test_podman_push_wharfie_pull(wharfie, busybox_rootfs_tar, docker_registry, podman_home):
    src = f"{docker_registry}/interop/for-podman:v1"
    wharfie("import", str(busybox_rootfs_tar), src)
    wharfie("push", src)
    run("podman", "pull", "--tls-verify=false", src, env=podman_home)
    dst = f"{docker_registry}/interop/by-podman:v1"
    run("podman", "push", "--tls-verify=false", "--format", "v2s2", src, dst, env=podman_home)
    want = skopeo_digest(dst)
    lines = wharfie("pull", dst).stdout.decode().splitlines()
    assert f"Digest: {want}" in lines
    inspect = json.loads(wharfie("manifest", "inspect", dst).stdout)
    assert inspect["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def dockerd():
    """A private dockerd for this module's tests (tests.conftest.dockerd_daemon)."""
    with dockerd_daemon() as env:
        yield env


def test_docker_pulls_and_runs_wharfie_push(wharfie, busybox_rootfs_tar, docker_registry,
                                            dockerd):
    ref = f"{docker_registry}/interop/for-docker:v1"
    wharfie("import", str(busybox_rootfs_tar), ref, "--change", 'CMD ["sh"]')
    pushed = wharfie("push", ref).stdout.decode().splitlines()[-1].split()[2]
    res = run("/usr/bin/docker", "pull", ref, env=dockerd)
    assert f"Digest: {pushed}" in res.stdout.decode()
    res = run("/usr/bin/docker", "run", "--rm", "--network", "none", ref,
              "sh", "-c", "echo hello from $(busybox | head -1 | cut -d' ' -f1)", env=dockerd)
    assert res.stdout.decode().strip() == "hello from BusyBox"
    # And back: docker pushes, wharfie pulls the same digest.
    back = f"{docker_registry}/interop/by-docker:v1"
    run("/usr/bin/docker", "tag", ref, back, env=dockerd)
    run("/usr/bin/docker", "push", back, env=dockerd)
    want = skopeo_digest(back)
    assert f"Digest: {want}" in wharfie("pull", back).stdout.decode().splitlines()



@pytest.fixture
def wharfie_registry(tmp_path, htpasswd):
    """wharfie's own registry server (issue 7): token auth over an htpasswd file."""
    import socket
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    users = htpasswd({"bob": "bob-pass"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "wharfie", "registry", "serve", "--addr", f"127.0.0.1:{port}",
         "--data", str(tmp_path / "wreg"), "--htpasswd", str(users)],
        env={**os.environ, "WHARFIE_ROOT": str(tmp_path / "wreg-root")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert proc.poll() is None and time.monotonic() < deadline, "registry did not start"
        time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_against_wharfie_registry_server(wharfie, wharfie_registry, busybox_rootfs_tar,
                                         tmp_path):
    """Login through its token flow, push, pull back, and use its referrers API."""
    from wharfie.oci import mediatypes as mt
    from wharfie.oci.digest import Digest
    from wharfie.oci.manifest import Descriptor, Manifest
    from wharfie.transports.registry.client import RegistryOptions, referrers_tag
    from wharfie.transports.registry.credentials import Credentials

    env = {"DOCKER_CONFIG": str(tmp_path / "cfg"),
           "REGISTRY_AUTH_FILE": str(tmp_path / "none.json")}
    ref = f"{wharfie_registry}/interop/own:v1"
    wharfie("import", str(busybox_rootfs_tar), ref, env=env)
    wharfie("login", wharfie_registry, "-u", "bob", "--password-stdin", input=b"bob-pass",
            env=env)
    pushed = wharfie("push", ref, env=env).stdout.decode().splitlines()[-1].split()[2]
    pulled = wharfie("pull", ref, env={**env, "WHARFIE_ROOT": str(tmp_path / "r2")})
    assert f"Digest: {pushed}" in pulled.stdout.decode().splitlines()

    reg = RegistryOptions(credentials=Credentials("bob", "bob-pass")).registry(wharfie_registry)
    raw, media_type, digest = reg.get_manifest("interop/own", "v1")
    empty = Descriptor(mt.OCI_EMPTY, Digest.of(b"{}"), 2)
    import io
    reg.upload_blob("interop/own", empty, io.BytesIO(b"{}"), lambda n: None)
    sig = Manifest.build(empty, [], subject=Descriptor(media_type, digest, len(raw)))
    reg.put_manifest("interop/own", sig.digest, sig.raw, sig.media_type)
    found = reg.referrers("interop/own", digest)
    assert [d.digest for d in found.manifests] == [sig.digest]
    # The server answered OCI-Subject, so no fallback tag was written.
    assert reg.head_manifest("interop/own", referrers_tag(digest)) is None
