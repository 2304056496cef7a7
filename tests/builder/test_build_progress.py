"""``wharfie build`` progress as BuildKit prints it (issue 14): step names, a failure shown
once with its last lines framed, per-step times, the export group, FINISHED on a TTY and
``--progress=rawjson``."""

import base64
import json
import os
import re
import shlex
import subprocess
import sys

import pytest


@pytest.fixture
def based(wharfie, busybox_rootfs_tar):
    wharfie("import", str(busybox_rootfs_tar), "busybox:local")
    return wharfie


def context(tmp_path, dockerfile):
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def test_plain_steps_are_numbered_per_stage_and_export_is_a_group(based, tmp_path):
    ctx = context(tmp_path, "FROM busybox:local AS build\nENV A=1\nWORKDIR /w\n"
                  "RUN echo one\nFROM busybox:local\nCOPY --from=build /w /w\n")
    err = based("build", "--progress", "plain", "-t", "p:1", str(ctx)).stderr.decode()
    titles = re.findall(r"^#\d+ (\[.*?\] \w+)", err, re.M)
    assert titles == ["[build 1/3] FROM", "[build 2/3] WORKDIR", "[build 3/3] RUN",
                      "[1/2] FROM", "[2/2] COPY"]
    assert "] FROM docker.io/library/busybox:local\n" in err
    n = re.search(r"^#(\d+) exporting to image$", err, re.M).group(1)
    assert re.search(rf"^#{n} writing image sha256:[0-9a-f]{{64}} done$", err, re.M)
    assert f"#{n} naming to docker.io/library/p:1 done\n#{n} DONE" in err


def test_a_twelve_step_stage_pads_its_numbers(based, tmp_path):
    ctx = context(tmp_path, "FROM busybox:local\n" + "RUN true\n" * 11)
    err = based("build", "--progress", "plain", str(ctx)).stderr.decode()
    assert "[ 2/12] RUN true" in err and "[12/12] RUN true" in err


def test_a_failed_run_is_reported_once_with_its_last_lines_framed(based, tmp_path):
    ctx = context(tmp_path, "FROM busybox:local\nRUN echo out; sleep 1; echo last; false\n")
    res = based("build", "--progress", "plain", str(ctx), check=False)
    err = res.stderr.decode()
    why = 'process "/bin/sh -c echo out; sleep 1; echo last; false" did not complete ' \
          "successfully: exit code: 1"
    assert res.returncode == 1 and "Traceback" not in err
    step = re.search(r"^#(\d+) \[2/2\] RUN", err, re.M).group(1)
    frame = re.search(rf"#{step} ERROR: (.*)\n------\n > \[2/2\] RUN echo out; sleep 1; "
                      rf"echo last; false:\n((?:#{step} .*\n)+)------\n", err)
    assert frame and frame.group(1) == why
    assert frame.group(2).splitlines()[-1].endswith(" last")
    assert err.count(" last\n") == 2  # as it ran, and in the frame; not in the error line
    assert err.strip().splitlines()[-1] == f"wharfie: error: {why}"
    # times are the step's own: "last" came a second after "out", not the build's clock
    times = [float(m) for m in re.findall(rf"^#{step} (\d+\.\d+) (?:out|last)$", err, re.M)]
    assert times[0] < 1 <= times[1] < 3


def test_rawjson_is_buildkits_solve_status_lines(based, tmp_path):
    ctx = context(tmp_path, "FROM busybox:local\nRUN echo hi\n")
    err = based("build", "--progress", "rawjson", "-t", "j:1", str(ctx)).stderr.decode()
    statuses = [json.loads(line) for line in err.splitlines()]
    names = {v["name"]: v for s in statuses for v in s.get("vertexes", [])}
    assert {"[1/2] FROM docker.io/library/busybox:local", "[2/2] RUN echo hi",
            "exporting to image"} <= set(names)
    assert all(v["digest"].startswith("sha256:") and "completed" in v for v in names.values())
    logs = [base64.b64decode(entry["data"]) for s in statuses for entry in s.get("logs", [])]
    assert b"hi\n" in logs


def test_tty_progress_ends_with_finished(based, tmp_path, root):
    ctx = context(tmp_path, "FROM busybox:local\nRUN echo on a tty > /t\n")
    cmd = shlex.join([sys.executable, "-m", "wharfie", "build", "-t", "tty:1", str(ctx)])
    env = {**os.environ, "WHARFIE_ROOT": str(root), "COLUMNS": "120"}
    res = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]
    assert re.search(rb"\[\+\] Building [\d.]+s \(\d+/\d+\) FINISHED", res.stdout)
