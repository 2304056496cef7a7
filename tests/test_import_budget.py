"""The import budget (issue 18): a command imports only what it runs. ``wharfie --version``
and ``wharfie images`` are run in a fresh interpreter and must not load any module of a
listed heavy set. Not a timing test: it names modules."""

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
