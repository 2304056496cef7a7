"""The import budget (issue 18): a command imports only what it runs. ``wharfie --version``
and ``wharfie images`` are run in a fresh interpreter with ``-X importtime`` and must not
load any module of a listed heavy set. Not a timing test: it names modules."""

from __future__ import annotations

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


def imported(root, *args: str) -> set[str]:
    """The modules ``wharfie ARGS`` imports, as ``-X importtime`` lists them."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "wharfie", "--root",
                          str(root), *args] if args != ("--version",) else
                         [sys.executable, "-X", "importtime", "-m", "wharfie", *args],
                         capture_output=True, text=True, check=True)
    return {line.rsplit("|", 1)[1].strip() for line in res.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def heavy_in(modules: set[str], heavy: list[str]) -> list[str]:
    return sorted(m for m in modules for h in heavy if m == h or m.startswith(h + "."))


@pytest.mark.parametrize(("args", "heavy"), [(("--version",), VERSION_HEAVY),
                                             (("images",), HEAVY)],
                         ids=["version", "images"])
def test_command_imports_no_heavy_module(tmp_path, args, heavy):
    modules = imported(tmp_path / "root", *args)
    assert "wharfie" in modules  # the listing is real
    assert heavy_in(modules, heavy) == []
