"""The import budget (issue 18): a command imports only what it runs. ``wharfie --version``
and ``wharfie images`` are run in a fresh interpreter and must not load any module of a
listed heavy set. Not a timing test: it names modules."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Libraries and wharfie packages that no listing command needs; each costs milliseconds.
HEAVY = ["rich", "urllib3", "boto3", "botocore", "aiohttp", "cryptography", "jinja2", "yaml",
         "requests", "zstandard", "isal", "tarfile", "concurrent.futures",
         "wharfie.dockerfile", "wharfie.builder", "wharfie.transports.registry",
         "wharfie.server", "wharfie.layers", "wharfie.snapshots", "wharfie.runtime",
         "wharfie.containers", "wharfie.signing", "wharfie.analysis"]
# ``--version`` needs no command machinery and no store at all.
VERSION_HEAVY = [*HEAVY, "click", "wharfie.api", "wharfie.images", "wharfie.content",
                 "wharfie.oci"]


# Runs wharfie as ``python -m wharfie`` does, then lists sys.modules at exit: -X importtime
# does not log modules loaded by importlib.import_module (the lazy command group's way).
_LIST_MODULES = """
import atexit, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.argv[0] = "wharfie"
runpy.run_module("wharfie", run_name="__main__", alter_sys=True)
"""


def modules_after(tmp_path, *args: str, env: dict | None = None) -> tuple[set[str], str]:
    """(every module loaded by the time ``wharfie ARGS`` exits, its stdout)."""
    out = tmp_path / "modules.txt"
    res = subprocess.run([sys.executable, "-c", _LIST_MODULES, str(out), *args], env=env,
                         capture_output=True, text=True, check=True)
    return set(out.read_text().split("\n")), res.stdout


def imported(root, *args: str) -> set[str]:
    """The modules ``wharfie ARGS`` loads."""
    if args != ("--version",):
        args = ("--root", str(root), *args)
    return modules_after(root.parent, *args)[0]


def heavy_in(modules: set[str], heavy: list[str]) -> list[str]:
    return sorted(m for m in modules for h in heavy if m == h or m.startswith(h + "."))


@pytest.mark.parametrize(("args", "heavy"), [(("--version",), VERSION_HEAVY),
                                             (("images",), HEAVY)],
                         ids=["version", "images"])
def test_command_imports_no_heavy_module(tmp_path, args, heavy):
    modules = imported(tmp_path / "root", *args)
    assert "wharfie" in modules  # the listing is real
    assert heavy_in(modules, heavy) == []


# A push or pull moves blobs: the registry client is its job (its own HTTP/1.1 on sockets:
# urllib3 is only for a build's ``ADD <url>``; http.client would bring the email parser, and
# ssl is for TLS registries alone), but signing (cryptography),
# the SBOM model and cataloguers, layer compressors and registries files' parser are not,
# unless the image is signed, has an SBOM, needs recompressing or a registries file exists;
# nor is the IDNA codec for a host name in ASCII. Only a pull checks a signature policy.
TRANSFER_HEAVY = ["urllib3", "rich", "cryptography", "boto3", "botocore", "aiohttp", "jinja2",
                  "concurrent.futures", "logging", "http.client", "email", "ssl",
                  "subprocess", "yaml", "requests", "zstandard", "isal", "tomllib", "encodings.idna",
                  "wharfie.dockerfile", "wharfie.builder", "wharfie.server", "wharfie.layers",
                  "wharfie.snapshots", "wharfie.runtime", "wharfie.containers",
                  "wharfie.analysis", "wharfie.imagefs", "wharfie.signing.keys",
                  "wharfie.security.sbom.model", "wharfie.security.sbom.collect",
                  "wharfie.security.vulns"]
PUSH_HEAVY = [*TRANSFER_HEAVY, "wharfie.signing.policy"]


def test_push_and_pull_import_no_heavy_module(tmp_path, docker_registry):
    from wharfie.images.imagestore import ImageStore
    from wharfie.oci.reference import parse_reference
    from wharfie.testing import random

    name = f"{docker_registry}/budget/img:1"
    images = ImageStore(tmp_path / "pusher")
    made = random.image(4096, 2, compression="gzip", store=images.content.ensure())
    images.put_manifest(*made.manifest_bytes(), parse_reference(name))
    images.close()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WHARFIE_REGISTRIES_CONFIG": ""}
    for root, args, heavy in (("pusher", ("push", "-q", name), PUSH_HEAVY),
                              ("puller", ("pull", "-q", name), TRANSFER_HEAVY)):
        modules, out = modules_after(tmp_path, *args,
                                     env={**env, "WHARFIE_ROOT": str(tmp_path / root)})
        assert out.strip() == name  # the transfer is real
        assert "wharfie.transports.registry.session" in modules
        assert heavy_in(modules, heavy) == [], args[0]


# ``load`` of a plain archive copies and hashes blobs: no codec, no registry client, no
# concurrent.futures, and no logging unless there is something to warn about.
LOAD_HEAVY = ["isal", "zstandard", "concurrent.futures", "logging", "urllib3", "cryptography",
              "wharfie.transports.registry", "wharfie.builder", "wharfie.snapshots",
              "wharfie.runtime", "wharfie.security", "wharfie.signing"]


def test_load_imports_no_heavy_module(tmp_path):
    from wharfie.images.imagestore import ImageStore
    from wharfie.oci.reference import parse_reference
    from wharfie.testing import random
    from wharfie.transports.archive import save_archive

    images = ImageStore(tmp_path / "saver")
    made = random.image(4096, 3, store=images.content.ensure())
    images.put_manifest(*made.manifest_bytes(), parse_reference("budget:1"))
    archive = tmp_path / "img.tar"
    save_archive(archive, [(images.get(made.digest), [parse_reference("budget:1")])])
    images.close()
    modules, out = modules_after(tmp_path, "load", "-i", str(archive),
                                 env={**os.environ, "WHARFIE_ROOT": str(tmp_path / "loader")})
    assert out.strip() == "Loaded image: budget:1"  # the load is real
    assert heavy_in(modules, LOAD_HEAVY) == []


# A plain build (a context directory, COPY and RUN) loads none of what only some builds
# use: cache export and import, outputs and their archives and containers, git and URL
# sources, the SSH agent relay, zstd, and no registry client; nor concurrent.futures.
BUILD_HEAVY = ["rich", "urllib3", "boto3", "botocore", "aiohttp", "cryptography", "jinja2",
               "yaml", "requests", "email", "socket", "concurrent.futures", "logging",
               "zstandard",
               "wharfie.builder.cache.transfer",
               "wharfie.builder.exporters", "wharfie.builder.context.gitsource",
               "wharfie.builder.context.fetch", "wharfie.builder.sshagent",
               "wharfie.containers", "wharfie.transports.archive", "wharfie.transports.layout",
               "wharfie.transports.registry", "wharfie.server", "wharfie.signing",
               "wharfie.security", "wharfie.analysis"]


def test_full_build_imports_no_heavy_module(tmp_path, root, wharfie, busybox_rootfs_tar):
    wharfie("import", str(busybox_rootfs_tar), "busybox:local")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text("FROM busybox:local\nCOPY a.txt /a.txt\n"
                                    "RUN cat /a.txt > /b.txt\n")
    # --no-cache: every step runs, nothing is answered from the no-change fast path
    modules, out = modules_after(tmp_path, "build", "--no-cache", "-q", "--network", "none",
                                 "-t", "budget:1", str(ctx),
                                 env={**os.environ, "WHARFIE_ROOT": str(root)})
    assert out.strip().startswith("sha256:")  # the build is real
    assert "wharfie.builder.steps.run" in modules
    assert heavy_in(modules, BUILD_HEAVY) == []
