"""The CLI end to end against docker-registry: Docker's output, login, copy, interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest


@pytest.fixture
def imported(wharfie, busybox_rootfs_tar, anon_registry):
    """busybox imported into the local store as ANON/cli/busybox:v1."""
    def make(name: str) -> str:
        ref = f"{anon_registry}/{name}"
        wharfie("import", str(busybox_rootfs_tar), ref, "--change", 'CMD ["sh"]')
        return ref
    return make


def out(res) -> list[str]:
    return res.stdout.decode().splitlines()


def test_push_then_pull_docker_output(wharfie, imported, anon_registry, tmp_path):
    ref = imported("cli/busybox:v1")
    first = out(wharfie("push", ref))
    assert first[0] == f"The push refers to repository [{anon_registry}/cli/busybox]"
    assert first[1].endswith(": Pushed") and len(first[1].split(":")[0]) == 12
    assert first[2].startswith("v1: digest: sha256:") and " size: " in first[2]
    digest = first[2].split()[2]
    again = out(wharfie("push", ref))
    assert again[1].endswith(": Layer already exists")

    env = {"WHARFIE_ROOT": str(tmp_path / "other-root")}
    pulled = out(wharfie("pull", f"{anon_registry}/cli/busybox:v1", env=env))
    assert pulled[0] == "v1: Pulling from cli/busybox"
    assert pulled[-3] == f"Digest: {digest}"
    assert pulled[-2] == f"Status: Downloaded newer image for {anon_registry}/cli/busybox:v1"
    assert pulled[-1] == f"{anon_registry}/cli/busybox:v1"
    assert any(line.endswith(": Pull complete") for line in pulled)
    up = out(wharfie("pull", f"{anon_registry}/cli/busybox:v1", env=env))
    assert up == ["v1: Pulling from cli/busybox", f"Digest: {digest}",  # docker's lines
                  f"Status: Image is up to date for {anon_registry}/cli/busybox:v1",
                  f"{anon_registry}/cli/busybox:v1"]
    listed = wharfie("images", "--digests", "--format", "{{.Repository}} {{.Digest}}", env=env)
    assert f"{anon_registry}/cli/busybox {digest}" in listed.stdout.decode()

    # Pushed from the second root to another repository: its blobs came from cli/busybox,
    # so the registry mounts them.
    wharfie("tag", f"{anon_registry}/cli/busybox:v1", f"{anon_registry}/cli/copy:v2", env=env)
    mounted = out(wharfie("push", f"{anon_registry}/cli/copy:v2", env=env))
    assert mounted[1].endswith(": Mounted from cli/busybox"), mounted
    assert out(wharfie("pull", "-q", f"{anon_registry}/cli/copy:v2", env=env)) == [
        f"{anon_registry}/cli/copy:v2"]


def test_repo_digests_are_the_registrys(wharfie, imported, anon_registry, tmp_path):
    """RepoDigests name only digests a registry gave, as docker's: none before a push; after
    a push that compressed the (loaded, uncompressed) layers, the registry's digest, which
    ``name@digest`` then resolves to locally; rmi of the last tag reports it."""
    ref = imported("cli/rd:v1")
    archive = tmp_path / "rd.tar"
    wharfie("save", "-o", str(archive), ref)
    env = {"WHARFIE_ROOT": str(tmp_path / "rd-root")}
    wharfie("load", "-q", "-i", str(archive), env=env)

    def inspect(name: str = ref) -> dict:
        return json.loads(wharfie("inspect", name, env=env).stdout)[0]

    assert inspect()["RepoDigests"] == []
    listed = wharfie("images", "--digests", "--format", "{{.Digest}}", env=env)
    assert listed.stdout.decode().split() == ["<none>"]
    digest = out(wharfie("push", ref, env=env))[-1].split()[2]
    repo = f"{anon_registry}/cli/rd"
    assert inspect()["RepoDigests"] == [f"{repo}@{digest}"]
    assert inspect(f"{repo}@{digest}")["Id"] == inspect()["Id"]
    remote = json.loads(wharfie("manifest", "inspect", f"{repo}@{digest}", env=env).stdout)
    assert all(x["mediaType"].endswith("gzip") for x in remote["layers"])
    assert out(wharfie("rmi", ref, env=env))[:2] == [f"Untagged: {ref}",
                                                     f"Untagged: {repo}@{digest}"]


def test_default_tag_and_missing_image(wharfie, imported, anon_registry):
    imported("cli/deftag:latest")
    res = out(wharfie("push", f"{anon_registry}/cli/deftag"))
    assert res[0] == "Using default tag: latest"
    res = wharfie("pull", f"{anon_registry}/cli/nothing-here:v1", check=False)
    assert res.returncode != 0
    err = res.stderr.decode()
    assert err.startswith("wharfie: error: ") and "manifest unknown" in err
    assert "Traceback" not in err
    res = wharfie("push", f"{anon_registry}/cli/not-local:v1", check=False)
    assert "An image does not exist locally with the tag" in res.stderr.decode()


def test_tags_manifest_remote_inspect_delete(wharfie, imported, anon_registry):
    ref = imported("cli/meta:v1")
    wharfie("push", ref)
    wharfie("tag", ref, f"{anon_registry}/cli/meta:v2")
    wharfie("push", f"{anon_registry}/cli/meta:v2")
    assert out(wharfie("tags", f"{anon_registry}/cli/meta")) == ["v1", "v2"]
    raw = wharfie("manifest", "inspect", ref).stdout
    manifest = json.loads(raw)
    assert manifest["schemaVersion"] == 2 and len(manifest["layers"]) == 1
    doc = json.loads(wharfie("remote", "inspect", ref).stdout)
    assert doc["Name"] == f"{anon_registry}/cli/meta"
    assert doc["RepoTags"] == ["v1", "v2"]
    assert doc["Layers"] == [manifest["layers"][0]["digest"]]
    assert doc["Os"] == "linux"
    res = out(wharfie("delete", f"{anon_registry}/cli/meta:v2"))
    assert res[0].startswith(f"Deleted: {anon_registry}/cli/meta@sha256:")
    gone = wharfie("manifest", "inspect", ref, check=False)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr.decode()


def test_login_logout_with_htpasswd(wharfie, tmp_path, basic_registry, busybox_rootfs_tar):
    cfg = tmp_path / "dockercfg"
    env = {"DOCKER_CONFIG": str(cfg), "REGISTRY_AUTH_FILE": str(tmp_path / "none.json")}
    name = f"{basic_registry}/cli/private:v1"
    wharfie("import", str(busybox_rootfs_tar), name, env=env)
    denied = wharfie("push", name, check=False, env=env)
    assert denied.returncode != 0
    assert f"run `wharfie login {basic_registry}`" in denied.stderr.decode()
    bad = wharfie("login", basic_registry, "-u", "alice", "--password-stdin",
                  input=b"wrong\n", check=False, env=env)
    assert bad.returncode != 0 and "unauthorized" in bad.stderr.decode()
    assert not (cfg / "config.json").exists()
    ok = wharfie("login", basic_registry, "-u", "alice", "--password-stdin",
                 input=b"s3cret-pass\n", env=env)
    assert out(ok)[-1] == "Login Succeeded"
    doc = json.loads((cfg / "config.json").read_text())
    assert basic_registry in doc["auths"]
    assert out(wharfie("push", name, env=env))[1].endswith(": Pushed")
    assert out(wharfie("logout", basic_registry, env=env)) == [
        f"Removing login credentials for {basic_registry}"]
    assert json.loads((cfg / "config.json").read_text())["auths"] == {}


def test_copy_between_transports(wharfie, imported, anon_registry, tmp_path):
    ref = imported("cli/copysrc:v1")
    digest = out(wharfie("push", ref))[-1].split()[2]
    layout = tmp_path / "layout"
    res = out(wharfie("copy", f"docker://{ref}", f"oci:{layout}:v1"))
    assert res[0] == "Getting image source signatures" and res[-1] == f"Digest: {digest}"
    assert any(line.startswith("Copying blob sha256:") for line in res)
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    back = f"{anon_registry}/cli/copyback:v9"
    assert out(wharfie("copy", f"oci:{layout}:v1", f"docker://{back}"))[-1] == \
        f"Digest: {digest}"
    archive = tmp_path / "img.tar"
    wharfie("copy", f"docker://{back}", f"docker-archive:{archive}:cli/arch:1")
    assert archive.stat().st_size > 100_000
    env = {"WHARFIE_ROOT": str(tmp_path / "root3")}
    assert out(wharfie("copy", f"docker-archive:{archive}", "wharfie:cli/arch:1",
                       env=env))[-1] == f"Digest: {digest}"
    assert "cli/arch" in wharfie("images", env=env).stdout.decode()
    bad = wharfie("copy", "nope:x", f"oci:{layout}", check=False)
    assert bad.returncode != 0 and "invalid transport name" in bad.stderr.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_pull_leaves_no_partial_blob_and_no_tag(
        sig, wharfie, imported, anon_registry, fault_proxy, root, tmp_path):
    from wharfie.content.blobstore import ContentStore

    ref = imported("cli/interrupt:v1")
    wharfie("push", ref)
    manifest = json.loads(wharfie("manifest", "inspect", ref).stdout)
    layer = manifest["layers"][0]
    proxy = fault_proxy(anon_registry)
    proxy.faults.append(lambda m, p, h, n: ("stall-mid-body", layer["size"] // 2)
                        if m == "GET" and layer["digest"] in p else None)
    other = tmp_path / "pull-root"
    env = {**os.environ, "WHARFIE_ROOT": str(other)}
    proc = subprocess.Popen([sys.executable, "-m", "wharfie", "pull",
                             f"{proxy.host}/cli/interrupt:v1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proxy.stalled.wait(30)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert err.decode().strip().endswith("wharfie: error: interrupted")
    else:
        assert proc.returncode == -signal.SIGKILL
    store = ContentStore(other)
    assert not store.exists(layer["digest"])
    assert all(store.verify(d) for d, _ in store.walk())  # what is visible is whole
    listed = wharfie("images", "-q", env={"WHARFIE_ROOT": str(other)})
    assert listed.stdout.strip() == b""
    proxy.release.set()
    # A later pull completes, and the abandoned temp file is cleaned up.
    done = wharfie("pull", f"{anon_registry}/cli/interrupt:v1",
                   env={"WHARFIE_ROOT": str(other)})
    assert out(done)[-1] == f"{anon_registry}/cli/interrupt:v1"
    assert store.verify(layer["digest"])
    store.cleanup_ingests(min_age=0)
    assert list(store.ingest_dir.iterdir()) == []


def test_pull_platform_from_index_and_all_tags(wharfie, anon_registry, make_image):
    from wharfie.oci import mediatypes as mt
    from wharfie.oci.manifest import Descriptor, Index
    from wharfie.oci.platform import Platform
    from wharfie.oci.reference import parse_reference
    from wharfie.transports.base import copy_image
    from wharfie.transports.registry.client import RegistryOptions
    from wharfie.transports.registry.destination import RegistryDestination

    amd = make_image(files=[{"arch": b"amd64"}], compression="gzip", platform="linux/amd64")
    arm = make_image(files=[{"arch": b"arm64"}], compression="gzip", platform="linux/arm64")
    dst = RegistryDestination(RegistryOptions().registry(anon_registry), "cli/multi")
    for img in (amd, arm):
        copy_image(img, dst)
    index = Index.build([Descriptor(mt.OCI_MANIFEST, i.digest, len(i.manifest.raw),
                                    platform=Platform("linux", a))
                         for i, a in ((amd, "amd64"), (arm, "arm64"))])
    for tag in ("v1", "v2"):
        dst.put_manifest(index.raw, index.media_type,
                         parse_reference(f"{anon_registry}/cli/multi:{tag}"))
    lines = out(wharfie("pull", "--platform", "linux/arm64", f"{anon_registry}/cli/multi:v1"))
    assert f"Digest: {index.digest}" in lines  # Docker prints the index's digest
    ids = wharfie("images", "--no-trunc", "-q").stdout.decode().split()
    assert ids == [arm.id]
    bad = wharfie("pull", "--platform", "linux/s390x", f"{anon_registry}/cli/multi:v1",
                  check=False)
    assert "no image for platform linux/s390x" in bad.stderr.decode()
    lines = out(wharfie("pull", "-a", "--platform", "linux/amd64", f"{anon_registry}/cli/multi"))
    assert "v1: Pulling from cli/multi" in lines and "v2: Pulling from cli/multi" in lines
    assert lines[-1] == f"{anon_registry}/cli/multi"
    tags = wharfie("images", "--format", "{{.Tag}} {{.ID}}").stdout.decode().splitlines()
    # v1 moved from the arm64 image (now dangling, as in Docker) to the amd64 one.
    assert sorted(tags) == [f"<none> {arm.id.short}", f"v1 {amd.id.short}",
                            f"v2 {amd.id.short}"]

    # The whole index into the store (copy --all), then pushed elsewhere: same index digest.
    wharfie("copy", "--all", f"docker://{anon_registry}/cli/multi:v1",
            f"wharfie:{anon_registry}/cli/multi-copy:v1")
    pushed = out(wharfie("push", f"{anon_registry}/cli/multi-copy:v1"))
    assert pushed[-1] == f"v1: digest: {index.digest} size: {len(index.raw)}"
    assert sum(line.endswith(": Mounted from cli/multi") for line in pushed) == 2


def test_login_with_token_server(wharfie, tmp_path, token_registry, token_server,
                                 busybox_rootfs_tar):
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg"),
           "REGISTRY_AUTH_FILE": str(tmp_path / "none.json")}
    name = f"{token_registry}/cli/tokened:v1"
    wharfie("import", str(busybox_rootfs_tar), name, env=env)
    assert "wharfie login" in wharfie("push", name, check=False, env=env).stderr.decode()
    bad = wharfie("login", token_registry, "-u", "alice", "-p", "nope", check=False, env=env)
    assert bad.returncode != 0 and "refused the credentials" in bad.stderr.decode()
    ok = wharfie("login", token_registry, "-u", "alice", "-p", "s3cret-pass", env=env)
    assert "WARNING! Using --password via the CLI is insecure" in ok.stderr.decode()
    assert out(ok) == ["Login Succeeded"]
    assert out(wharfie("push", name, env=env))[1].endswith(": Pushed")


def test_tls_flags(wharfie, tls_registry, busybox_rootfs_tar, tmp_path):
    host, cert = tls_registry
    ref = f"{host}/cli/tls:v1"
    wharfie("import", str(busybox_rootfs_tar), ref)
    refused = wharfie("push", ref, check=False)
    assert refused.returncode != 0
    assert "TLS certificate not trusted" in refused.stderr.decode()
    assert "--ca-cert" in refused.stderr.decode()
    assert out(wharfie("push", "--ca-cert", str(cert), ref))[1].endswith(": Pushed")
    env = {"WHARFIE_ROOT": str(tmp_path / "tls-root")}
    pulled = out(wharfie("pull", "--tls-verify=false", ref, env=env))
    assert pulled[-1] == ref


def test_short_names_through_a_mirror(wharfie, imported, anon_registry, tmp_path):
    """``busybox`` means docker.io/library/busybox; a mirror serves docker.io here."""
    ref = imported("library/busybox:1.36")
    digest = out(wharfie("push", ref))[-1].split()[2]
    env = {"WHARFIE_ROOT": str(tmp_path / "mirror-root"),
           "WHARFIE_REGISTRY_MIRRORS": f"docker.io={anon_registry}"}
    lines = out(wharfie("pull", "busybox:1.36", env=env))
    assert lines[0] == "1.36: Pulling from library/busybox"
    assert lines[-3:] == [f"Digest: {digest}",
                          "Status: Downloaded newer image for busybox:1.36",
                          "docker.io/library/busybox:1.36"]
    assert "busybox" in wharfie("images", "--format", "{{.Repository}}",
                                env=env).stdout.decode().split()
    bad = wharfie("pull", "busybox", check=False,
                  env={**env, "WHARFIE_REGISTRY_MIRRORS": "docker.io"})
    assert "invalid WHARFIE_REGISTRY_MIRRORS entry" in bad.stderr.decode()


def test_copy_with_src_creds(wharfie, tmp_path, basic_registry, anon_registry,
                             busybox_rootfs_tar):
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg"),
           "REGISTRY_AUTH_FILE": str(tmp_path / "none.json")}
    private = f"{basic_registry}/cli/src-creds:v1"
    wharfie("import", str(busybox_rootfs_tar), private, env=env)
    wharfie("copy", "--dest-creds", "alice:s3cret-pass", f"wharfie:{private}",
            f"docker://{private}", env=env)
    mirror = f"{anon_registry}/cli/from-private:v1"
    denied = wharfie("copy", f"docker://{private}", f"docker://{mirror}", check=False, env=env)
    assert "wharfie login" in denied.stderr.decode()
    res = out(wharfie("copy", "--src-creds", "alice:s3cret-pass", f"docker://{private}",
                      f"docker://{mirror}", env=env))
    digest = res[-1].split()[1]
    assert out(wharfie("pull", mirror, env=env))[-3] == f"Digest: {digest}"
