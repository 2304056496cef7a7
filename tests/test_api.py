"""The public API in-process: ``import wharfie`` and a Client, against real registries on
loopback and real builds, as a script would use them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import wharfie

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(root) -> wharfie.Client:
    return wharfie.Client(root)


@pytest.fixture
def base(client, busybox_rootfs_tar) -> wharfie.Image:
    """busybox imported as ``busybox:local`` (what examples/hello builds FROM)."""
    return client.import_image(busybox_rootfs_tar, "busybox:local", changes=['CMD ["sh"]'])


def test_help_lists_the_api():
    """`help(wharfie)` names the client and its operations, and `dir()` shows them before
    any is imported."""
    out = subprocess.run([sys.executable, "-c", "import wharfie; help(wharfie)"],
                         capture_output=True, text=True, check=True,
                         env={"PAGER": "cat", "PATH": "/usr/bin:/bin"}).stdout
    for name in ("Client", "pull", "push", "copy", "build", "list_images", "inspect", "tag",
                 "remove", "load", "save", "history", "prune", "WharfieError", "NotFound"):
        assert f"    {name}" in out or f"{name}(" in out, name
    assert {"Client", "pull", "NotFound", "RegistryError"} <= set(dir(wharfie))
    assert wharfie.pull.__doc__ and ">>>" in wharfie.pull.__doc__


def test_import_wharfie_is_lazy():
    """`import wharfie` loads neither the API nor click: --version stays fast."""
    code = ("import sys, wharfie; print(sorted(m for m in sys.modules "
            "if m.startswith(('wharfie.', 'click'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_has_an_example():
    for name in wharfie.__all__:
        obj = getattr(wharfie, name)
        if callable(obj) and getattr(obj, "__module__", "").startswith("wharfie.api") \
                or getattr(obj, "__module__", "") == "wharfie":
            assert obj.__doc__ and ">>>" in obj.__doc__, name
    assert (REPO / "src" / "wharfie" / "py.typed").is_file()


def test_local_store_operations(client, base, tmp_path):
    """import, tag, images, inspect, history, save, remove, load, prune in-process."""
    client.tag("busybox:local", "mybox:1")
    summary = {str(r) for s in client.images() for r in s.repo_tags}
    assert {"docker.io/library/busybox:local", "docker.io/library/mybox:1"} <= summary
    assert [s.id for s in client.images(["reference=mybox"])] == [base.id]

    doc = client.inspect("mybox:1")
    assert doc["Id"] == str(base.id) and doc["Config"]["Cmd"] == ["sh"]
    assert client.history("mybox:1")[0].id == str(base.id)

    archive = tmp_path / "mybox.tar"
    client.save(["mybox:1"], archive)
    stream = io.BytesIO()
    client.save("mybox:1", stream)
    with tarfile.open(fileobj=io.BytesIO(stream.getvalue())) as tf:
        assert tf.getmember("manifest.json")

    removal = client.remove("mybox:1")
    assert "docker.io/library/mybox:1" in [str(r) for r in removal.untagged]
    with pytest.raises(wharfie.NotFound):
        client.inspect("mybox:1")

    loaded = client.load(archive)
    assert [(x.id, [str(t) for t in x.tags]) for x in loaded] == \
        [(base.id, ["docker.io/library/mybox:1"])]

    client.remove("busybox:local")
    client.remove("mybox:1")
    client.import_image(io.BytesIO(_tiny_rootfs()))  # no name: dangling
    assert [s.dangling for s in client.images(all=True)] == [True]
    removed = client.prune()
    assert removed and client.images(all=True) == []
    assert client.check().ok


def _tiny_rootfs() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    return buf.getvalue()


def test_errors_are_the_library_hierarchy(client):
    with pytest.raises(wharfie.NotFound) as e:
        client.inspect("nothing:here")
    assert isinstance(e.value, wharfie.WharfieError)
    with pytest.raises(wharfie.InvalidReference):
        client.tag("nothing:here", "Bad Name")
    with pytest.raises(wharfie.NotFound):
        client.load(Path("/nonexistent/archive.tar"))


def test_registry_error_carries_status_and_codes(client, docker_registry):
    """A registry's 404 is a NotFound with the HTTP status and the distribution codes."""
    with pytest.raises(wharfie.NotFound) as e:
        client.pull(f"{docker_registry}/api-test/missing:1")
    assert e.value.status == 404
    assert e.value.codes and set(e.value.codes) <= {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}


def test_push_pull_copy_and_remote(client, base, docker_registry, tmp_path):
    """push, pull into a second root, copy to an OCI layout, tags, manifest and
    inspect_remote, all in-process against Debian's docker-registry."""
    ref = f"{docker_registry}/api-test/busybox:1"
    pushed = client.push("busybox:local", ref)
    assert client.tags(f"{docker_registry}/api-test/busybox") == ["1"]
    assert json.loads(client.manifest(ref))["config"]["digest"] == str(base.id)
    assert client.inspect_remote(ref)["Digest"] == str(pushed.digest)

    other = wharfie.Client(tmp_path / "second-root")
    image = other.pull(ref)
    assert image.manifest_digest == pushed.digest == base.manifest_digest
    assert other.inspect(ref)["Id"] == str(base.id)

    layout = tmp_path / "layout"
    digest = other.copy(f"wharfie:{ref}", f"oci:{layout}:v1")
    assert digest == pushed.digest
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] == digest

    seen: list[str] = []
    third = wharfie.Client(tmp_path / "third-root",
                           progress=lambda event, desc, n: seen.append(event))
    third.copy(f"oci:{layout}:v1", "wharfie:copied:1")
    assert third.inspect("copied:1")["Id"] == str(base.id) and "done" in seen


def test_build_in_process(client, base):
    """build examples/hello with a build arg, then find it by tag and config."""
    result = client.build(REPO / "examples" / "hello", tag="hello:api",
                          build_args={"GREETING": "hi"})
    doc = client.inspect("hello:api")
    assert doc["Id"] == str(result.image_id)
    assert "GREETING=hi" in doc["Config"]["Env"]
    assert client.history("hello:api")[0].id == str(result.image_id)


def test_module_functions_use_the_default_root(root, base, monkeypatch):
    """wharfie.images() etc. run on a client made from $WHARFIE_ROOT."""
    import wharfie.api as api

    monkeypatch.setenv("WHARFIE_ROOT", str(root))
    monkeypatch.setattr(api, "_default", None)
    assert wharfie.default_client().root == root.absolute()
    assert [s.id for s in wharfie.list_images()] == [base.id]
    wharfie.tag("busybox:local", "fromdefault:1")
    assert wharfie.inspect("fromdefault:1")["Id"] == str(base.id)
    monkeypatch.setattr(api, "_default", None)


def test_example_script(busybox_rootfs_tar, docker_registry):
    """examples/api.py builds, pushes, pulls into a second root and compares digests."""
    res = subprocess.run([sys.executable, str(REPO / "examples" / "api.py"),
                          "--rootfs", str(busybox_rootfs_tar), "--registry", docker_registry],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "manifest digests match" in res.stdout


def test_analyze_in_process(tmp_path, busybox_rootfs_tar):
    """``Client.analyze`` gives dive's figures for a stored image, without the CLI."""
    client = wharfie.Client(tmp_path / "root")
    with open(busybox_rootfs_tar, "rb") as f:
        client.import_image(f, "bb:1")
    result = client.analyze("bb:1")
    assert result.layers and result.efficiency == 1.0 and result.wasted_bytes == 0
