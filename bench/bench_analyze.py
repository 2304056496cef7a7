"""``wharfie image analyze`` against ``dive --ci`` on the same image, in the same run.

Run: .venv/bin/python bench/bench_analyze.py [--runs N]

The image: Debian bookworm minbase + gcc (the rootfs tests/conftest.py makes once with
mmdebstrap into the test cache, ~380 MB in one layer), or, without it, busybox plus
~300 MB of generated layers; then a few steps that waste bytes (a copied tree, a big file
written then deleted, a file overwritten). Both tools read the same docker-archive
(``wharfie save``): dive with ``--source docker-archive --ci --json``, wharfie with
``image analyze docker-archive:FILE --format json``; wharfie is also timed on its own
store (no archive to unpack). Each is a fresh process, start-up included; best of N.
Goal: faster than dive; the efficiency and wasted bytes agree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import CACHE, best, cached, wharfie

REPO = Path(__file__).resolve().parent.parent
DIVE = shutil.which("dive") or str(Path(sys.executable).parent / "dive")
STEPS = """\
RUN cp -a /usr/share /share-copy && rm -rf /share-copy/locale
RUN head -c 40000000 /dev/urandom > /blob && head -c 20000000 /dev/urandom > /over
RUN rm /blob && head -c 20000000 /dev/urandom > /over
"""
SYNTHETIC = """\
RUN mkdir -p /data && for i in 1 2 3 4 5 6; do head -c 40000000 /dev/urandom > /data/f$i; done
RUN mkdir -p /many && i=0; while [ $i -lt 5000 ]; do echo $i > /many/$i; i=$((i+1)); done
"""


def base_tar() -> tuple[Path, str]:
    found = sorted(CACHE.glob("debian-gcc-rootfs.tar-*"))
    if found:
        return found[-1], ""
    script = REPO / "scripts" / "make-busybox-rootfs.sh"
    tar = cached("busybox-rootfs.tar", [Path("/bin/busybox").read_bytes(), script.read_bytes()],
                 lambda p: subprocess.run([str(script), str(p)], check=True))
    return tar, SYNTHETIC


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        work = Path(tmp)
        root, ctx = work / "root", work / "ctx"
        tar, extra = base_tar()
        print(f"base: {tar.name} ({tar.stat().st_size / 1e6:.0f} MB)")
        wharfie(root, "import", str(tar), "base:1", "--change", 'CMD ["sh"]')
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM base:1\n" + extra + STEPS)
        wharfie(root, "build", "-q", "-t", "subject:1", str(ctx))
        archive = work / "subject.tar"
        wharfie(root, "save", "-o", str(archive), "subject:1")
        print(f"image: {archive.stat().st_size / 1e6:.0f} MB as a docker-archive")

        dive_json = work / "dive.json"
        t_dive, _ = best(args.runs, lambda: subprocess.run(
            [DIVE, "--source", "docker-archive", str(archive), "--ci", "--json",
             str(dive_json), "--lowestEfficiency", "0", "--highestUserWastedPercent", "off"],
            capture_output=True, cwd=work, check=True))
        t_archive, res_archive = best(args.runs, lambda: wharfie(
            root, "image", "analyze", f"docker-archive:{archive}", "--format", "json"))
        t_store, res_store = best(args.runs, lambda: wharfie(
            root, "image", "analyze", "subject:1", "--format", "json"))

        theirs = json.loads(dive_json.read_text())["image"]
        ours = json.loads(res_store.stdout)["image"]
        same = json.loads(res_archive.stdout)["image"]
        assert same["efficiencyScore"] == ours["efficiencyScore"]
        print(f"dive --ci (docker-archive):         {t_dive:6.2f} s")
        print(f"wharfie analyze (docker-archive):   {t_archive:6.2f} s  "
              f"({t_dive / t_archive:.1f}x dive)")
        print(f"wharfie analyze (local store):      {t_store:6.2f} s  "
              f"({t_dive / t_store:.1f}x dive)")
        print(f"efficiency: dive {theirs['efficiencyScore']:.6f}  "
              f"wharfie {ours['efficiencyScore']:.6f}")
        print(f"wasted bytes: dive {theirs['inefficientBytes']}  "
              f"wharfie {ours['inefficientBytes']}")
        print(f"size bytes: dive {theirs['sizeBytes']}  wharfie {ours['sizeBytes']}")


if __name__ == "__main__":
    main()
