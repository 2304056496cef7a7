"""``wharfie sbom`` against syft on the same Debian image, in the same run.

Run: .venv/bin/python bench/bench_sbom.py [--runs N]

The image: Debian bookworm minbase with python3-pip and python3-yaml (the rootfs
tests/security/conftest.py makes once with mmdebstrap into the test cache, ~250 MB), plus
a layer of pip-installed packages (this venv's dist-info directories) copied on top.
syft reads it as a docker-archive (``wharfie save``); wharfie is timed on its own store
and on the same archive. Each is a fresh process, start-up included; best of N. The
(name, version, type) sets of deb and python packages are compared, so both did the
same work. Goal: faster than syft.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import best, cached, wharfie

SYFT = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
# the same arguments (so the same cache entry) as tests/security/conftest.py
DEBIAN_PY_ARGS = ["--variant=minbase", "--mode=root", "--format=tar", "--quiet",
                  "--include=python3-pip,python3-yaml", "bookworm"]
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
    / "site-packages"


def key(name: str, version: str, type_: str) -> tuple[str, str, str]:
    """syft lower-cases Python names; compare the PEP 503 form."""
    return (re.sub(r"[-_.]+", "-", name).lower() if type_ == "python" else name, version, type_)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tar = cached("debian-py-rootfs.tar", ["mmdebstrap", *DEBIAN_PY_ARGS],
                 lambda p: subprocess.run(["mmdebstrap", *DEBIAN_PY_ARGS, str(p)], check=True))
    with tempfile.TemporaryDirectory(prefix="bench-sbom-") as tmp:
        work = Path(tmp)
        root, ctx = work / "root", work / "ctx"
        wharfie(root, "import", str(tar), "deb:py")
        for dist in SITE.glob("*.dist-info"):
            shutil.copytree(dist, ctx / "site" / dist.name)
        (ctx / "Dockerfile").write_text(
            "FROM deb:py\nCOPY site/ /usr/local/lib/python3.11/dist-packages/\n")
        wharfie(root, "build", "-q", "-t", "subject:1", str(ctx))
        archive = work / "subject.tar"
        wharfie(root, "save", "-o", str(archive), "subject:1")
        print(f"image: {archive.stat().st_size / 1e6:.0f} MB as a docker-archive "
              f"({tar.stat().st_size / 1e6:.0f} MB base)")

        env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
        t_syft, res_syft = best(args.runs, lambda: subprocess.run(
            [SYFT, f"docker-archive:{archive}", "-o", "syft-json", "-q"],
            capture_output=True, check=True, env=env))
        t_store, res_store = best(args.runs, lambda: wharfie(
            root, "sbom", "subject:1", "--format", "json"))
        t_archive, _ = best(args.runs, lambda: wharfie(
            root, "sbom", f"docker-archive:{archive}", "--format", "json"))

        theirs = {key(a["name"], a["version"], a["type"])
                  for a in json.loads(res_syft.stdout)["artifacts"]
                  if a["type"] in ("deb", "python")}
        ours = {key(p["name"], p["version"], p["type"])
                for p in json.loads(res_store.stdout)["packages"]
                if p["type"] in ("deb", "python")}
        print(f"syft (docker-archive):            {t_syft:6.2f} s")
        print(f"wharfie sbom (local store):       {t_store:6.2f} s  "
              f"({t_syft / t_store:.1f}x syft)")
        print(f"wharfie sbom (docker-archive):    {t_archive:6.2f} s  "
              f"({t_syft / t_archive:.1f}x syft)")
        print(f"deb+python packages: syft {len(theirs)}  wharfie {len(ours)}  "
              f"in both {len(theirs & ours)}")
        for extra, who in ((sorted(theirs - ours), "only syft"), (sorted(ours - theirs),
                                                                  "only wharfie")):
            if extra:
                print(f"{who}: {extra[:10]}{' ...' if len(extra) > 10 else ''}")


if __name__ == "__main__":
    main()
