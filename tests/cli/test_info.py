"""``wharfie version`` and ``wharfie info`` / ``system info``: docker's layouts and fields."""

from __future__ import annotations

import platform

from wharfie import __version__
from wharfie.testing.random import add_image


def test_version_prints_docker_client_section(wharfie):
    out = wharfie("version").stdout.decode().splitlines()
    assert out[0] == "Client: wharfie"
    fields = dict(line.strip().split(":", 1) for line in out[1:])
    assert fields["Version"].strip() == __version__
    assert fields["API version"].strip().startswith("1.41")
    assert fields["Python version"].strip() == platform.python_version()
    assert fields["OS/Arch"].strip().startswith("linux/")
    fmt = wharfie("version", "--format", "{{.Client.Version}}|{{.Client.Os}}").stdout
    assert fmt.decode() == f"{__version__}|linux\n"


def test_info_counts_images_and_takes_format(wharfie, root):
    from wharfie.images.imagestore import ImageStore

    store = ImageStore(root)
    add_image(store, "a:1")
    add_image(store, "b:1", files=[{"x": b"y"}])
    store.close()
    text = wharfie("info").stdout.decode()
    for line in (" Images: 2\n", " Containers: 0\n", "  Running: 0\n", f" Root Dir: {root}\n",
                 f" Architecture: {platform.machine()}\n", " Insecure Registries:\n"):
        assert line in text
    assert wharfie("system", "info", "--format", "{{.Images}} {{.Containers}}").stdout == \
        b"2 0\n"


def test_search_filters_a_registry_catalog(wharfie, root, docker_registry):
    from wharfie.images.imagestore import ImageStore

    store = ImageStore(root)
    add_image(store, f"{docker_registry}/srch/alpha:1", f"{docker_registry}/srch/beta:1")
    store.close()
    wharfie("push", f"{docker_registry}/srch/alpha:1")
    wharfie("push", f"{docker_registry}/srch/beta:1")
    out = wharfie("search", f"{docker_registry}/alph").stdout.decode().splitlines()
    assert out[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert [line.split()[0] for line in out[1:]] == [f"{docker_registry}/srch/alpha"]
    names = wharfie("search", "--format", "{{.Name}}", f"{docker_registry}/srch/").stdout
    assert names.decode().split() == [f"{docker_registry}/srch/alpha",
                                      f"{docker_registry}/srch/beta"]


def test_search_docker_hub_is_one_clear_error(wharfie):
    res = wharfie("search", "alpine", check=False)
    assert res.returncode != 0 and res.stderr.decode().count("\n") == 1
    assert "Docker Hub's search API is not supported" in res.stderr.decode()
