"""``wharfie build`` from the command line: flags, output, errors."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from tests.conftest import free_port, wait_for_port

from wharfie.containers.network import host_address


def make_context(tmp_path, dockerfile: str):
    """A build context directory holding just this Dockerfile."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


@pytest.fixture
def based(wharfie, busybox_rootfs_tar):
    wharfie("import", str(busybox_rootfs_tar), "busybox:local")
    return wharfie


def test_quiet_build_prints_only_the_image_id_and_writes_iidfile(based, tmp_path):
    ctx = make_context(tmp_path, "FROM busybox:local\nRUN echo hi > /hi\nCMD [\"cat\", \"/hi\"]\n")
    res = based("build", "-q", "-t", "hi:1", "--iidfile", str(tmp_path / "iid"), str(ctx))
    image_id = res.stdout.decode().strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert (tmp_path / "iid").read_text() == image_id
    listed = based("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.decode()
    assert f"hi:1 {image_id[7:19]}" in listed


def test_buildx_build_is_build(based, tmp_path):
    ctx = make_context(tmp_path, "FROM busybox:local\nLABEL via=buildx\n")
    image_id = based("buildx", "build", "-q", "-t", "bx:1", "--load", str(ctx)).stdout
    listed = based("images", "--format", "{{.ID}}", "bx:1").stdout
    assert image_id.decode().strip()[7:19] == listed.decode().strip()
    assert b"Total reclaimed space" in based("buildx", "prune", "-f").stdout


def test_dockerfile_from_stdin_without_context(based):
    res = based("build", "-t", "stdin:1", "--progress", "plain", "-",
                input=b"FROM busybox:local\nLABEL from=stdin\n")
    assert b"naming to docker.io/library/stdin:1 done" in res.stderr
    out = based("inspect", "--format", "{{json .Config.Labels}}", "stdin:1").stdout
    assert b'"from":"stdin"' in out


def test_labels_build_args_and_target(based, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "build.Dockerfile").write_text(
        "FROM busybox:local AS one\nARG V\nRUN echo $V > /v\nFROM one AS two\nRUN exit 9\n")
    based("build", "-f", str(ctx / "build.Dockerfile"), "--target", "one", "--build-arg",
          "V=42", "--label", "team=dock", "-t", "t:1", str(ctx))
    out = based("inspect", "--format", "{{json .Config.Labels}}", "t:1").stdout
    assert b'"team":"dock"' in out


def test_errors_are_one_line_with_nonzero_exit(based, tmp_path):
    ctx = make_context(tmp_path, "FROM busybox:local\nRNU echo\n")
    res = based("build", str(ctx), check=False)
    err = res.stderr.decode()
    assert res.returncode != 0 and "Traceback" not in err
    assert "wharfie: error:" in err and "RUN" in err
    (ctx / "Dockerfile").write_text("FROM busybox:local\nRUN exit 7\n")
    res = based("build", str(ctx), check=False)
    assert res.returncode != 0 and b"exit code: 7" in res.stderr
    res = based("build", "-t", "Bad:Name", str(ctx), check=False)
    assert res.returncode != 0 and b"must be lowercase" in res.stderr


def test_built_image_runs_with_runc_directly(based, tmp_path, root):
    """The layers a build writes unpack into a tree that really runs (no wharfie run needed)."""
    ctx = make_context(tmp_path, "FROM busybox:local\nRUN echo ok > /ok\n")
    based("build", "-t", "ok:1", str(ctx))
    out = tmp_path / "ok.tar"
    based("save", "-o", str(out), "ok:1")
    listing = subprocess.run(["tar", "-tf", str(out)], capture_output=True, check=True).stdout
    assert b"manifest.json" in listing and b"index.json" in listing


def test_outputs_and_squash(based, tmp_path):
    ctx = make_context(tmp_path,
        "FROM busybox:local\nRUN echo one > /one\nRUN echo two > /two && rm /one\n")
    based("build", "--squash", "-t", "sq:1", "-o", f"type=local,dest={tmp_path / 'tree'}",
          "-o", f"type=docker,dest={tmp_path / 'img.tar'}", "-o",
          f"type=tar,dest={tmp_path / 'fs.tar'}", str(ctx))
    assert (tmp_path / "tree" / "two").read_text() == "two\n"
    assert not (tmp_path / "tree" / "one").exists()
    assert (tmp_path / "tree" / "bin" / "busybox").is_file()
    names = subprocess.run(["tar", "-tf", str(tmp_path / "fs.tar")], capture_output=True,
                           check=True).stdout.decode().split()
    assert "two" in names and "one" not in names
    layers = based("inspect", "--format", "{{len .RootFS.Layers}}", "sq:1").stdout.strip()
    assert layers == b"2"  # the busybox base, then one squashed layer
    res = subprocess.run(["skopeo", "inspect", f"docker-archive:{tmp_path / 'img.tar'}"],
                         capture_output=True, check=True)
    assert res.stdout.count(b'"sha256:') >= 3  # digest + two layers


def test_bad_output_spec(based, tmp_path):
    res = based("build", "-o", "type=zip,dest=x", "-", input=b"FROM scratch\n", check=False)
    assert res.returncode != 0 and b"unsupported --output type" in res.stderr


def test_builder_prune_reclaims_cache_only_layers(based, tmp_path, root):
    ctx = make_context(tmp_path, "FROM busybox:local\nRUN head -c 300000 /dev/urandom > /r\n")
    based("build", "-t", "tmp:1", str(ctx))
    kept = based("builder", "prune", "-f").stdout.decode()
    assert "Total reclaimed space: 0B" in kept  # the layer is still in an image
    based("rmi", "tmp:1")
    pruned = based("builder", "prune", "-f").stdout.decode()
    assert "Deleted build cache objects:" in pruned and "Total reclaimed space: 0B" not in pruned
    res = based("build", "--progress", "plain", "-t", "tmp:1", str(ctx))
    assert b"CACHED" not in res.stderr
    bad = based("builder", "prune", "-f", "--filter", "color=red", check=False)
    assert bad.returncode != 0 and b"invalid filter" in bad.stderr


def test_context_as_a_tar_on_stdin(based, tmp_path):
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [("Dockerfile", b"FROM busybox:local\nCOPY data.txt /data.txt\n"),
                           ("data.txt", b"from the tar\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    based("build", "-t", "tarctx:1", "-o", f"type=local,dest={tmp_path / 'out'}", "-",
          input=buf.getvalue())
    assert (tmp_path / "out" / "data.txt").read_text() == "from the tar\n"


def test_tty_progress_shows_steps_and_cached(based, tmp_path, root):
    import os
    import shlex
    import sys

    ctx = make_context(tmp_path, "FROM busybox:local\nRUN echo on a tty > /t\n")
    cmd = shlex.join([sys.executable, "-m", "wharfie", "build", "-t", "tty:1", str(ctx)])
    env = {**os.environ, "WHARFIE_ROOT": str(root), "COLUMNS": "120"}
    for expected in (b"RUN echo on a tty", b"CACHED"):
        res = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                             env=env, timeout=120)
        assert res.returncode == 0, res.stdout[-2000:]
        assert b"[+] Building" in res.stdout and expected in res.stdout


def test_source_date_epoch_as_a_build_arg_gives_the_same_digest(based, tmp_path):
    ctx = make_context(tmp_path, "FROM busybox:local\nRUN echo fixed > /f && touch /g\n")
    ids = [based("build", "-q", "--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000",
                 str(ctx)).stdout.strip() for _ in range(2)]
    assert ids[0] == ids[1]
    res = based("build", "--build-arg", "SOURCE_DATE_EPOCH=yesterday", str(ctx), check=False)
    assert res.returncode != 0 and b"invalid SOURCE_DATE_EPOCH" in res.stderr


def test_push_metadata_file_and_registry_output(based, tmp_path, docker_registry):
    ctx = make_context(tmp_path, "FROM busybox:local\nRUN echo pushed > /p\n")
    name = f"{docker_registry}/built/app:1"
    meta = tmp_path / "meta.json"
    res = based("build", "-q", "--push", "--load", "-t", name, "--metadata-file", str(meta),
                str(ctx))
    image_id = res.stdout.decode().strip()
    doc = json.loads(meta.read_text())
    assert doc["containerimage.config.digest"] == image_id and doc["image.name"] == name
    listed = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw",
                             f"docker://{name}"], capture_output=True, check=True).stdout
    assert "sha256:" + hashlib.sha256(listed).hexdigest() == doc["containerimage.digest"]
    other = f"{docker_registry}/built/app:2"
    res = based("build", "--output", "type=registry", "-t", other, str(ctx))
    assert f"pushing {other} done".encode() in res.stderr
    subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{other}"],
                   capture_output=True, check=True)
    res = based("build", "--push", str(ctx), check=False)
    assert res.returncode != 0 and b"tag is needed when pushing" in res.stderr


def test_build_context_flag(based, tmp_path):
    ctx, extra = tmp_path / "ctx", tmp_path / "extra"
    ctx.mkdir()
    extra.mkdir()
    (extra / "x.txt").write_text("from extra\n")
    (ctx / "Dockerfile").write_text("FROM img\nCOPY --from=extra x.txt /x.txt\nCMD cat /x.txt\n")
    based("build", "-t", "bc:1", "--build-context", f"extra={extra}",
          "--build-context", "img=docker-image://busybox:local", str(ctx))
    assert based("run", "--rm", "bc:1").stdout == b"from extra\n"
    res = based("build", "--build-context", "bad", str(ctx), check=False)
    assert res.returncode != 0 and b"invalid --build-context 'bad'" in res.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("when", [b"RUN echo", b" started\n"])  # announced / running
def test_interrupted_build_stops_its_run_and_leaves_nothing(based, tmp_path, root, sig, when):
    ctx = make_context(tmp_path, "FROM busybox:local\nRUN echo started && sleep 600\n")
    proc = subprocess.Popen([sys.executable, "-m", "wharfie", "build", "--progress", "plain",
                             str(ctx)], env={**os.environ, "WHARFIE_ROOT": str(root)},
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        while when not in (line := proc.stderr.readline()):
            assert line, "the build ended before its RUN started"
        started = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(60) == 130
        assert time.monotonic() - started < 10  # the sleep was killed, not waited for
        assert b"wharfie: error: interrupted" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    runc_state = root / "runtime" / "runc"
    listed = subprocess.run(["runc", "--root", str(runc_state), "list", "-q"],
                            capture_output=True, text=True).stdout.split()
    assert listed == [] and list(root.glob("snapshots/*/active/*")) == []
    with open("/proc/self/mountinfo") as f:
        assert str(root) not in f.read()
    assert based("system", "check").returncode == 0


@pytest.fixture
def small_root(tmp_path, busybox_rootfs_tar):
    """A wharfie root on a 40 MiB tmpfs, with busybox imported: a disk that fills fast."""
    root = tmp_path / "small-root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(root)], check=True)
    try:
        env = {**os.environ, "WHARFIE_ROOT": str(root)}
        subprocess.run([sys.executable, "-m", "wharfie", "import", str(busybox_rootfs_tar),
                        "busybox:local"], check=True, env=env, capture_output=True)
        yield root, env
    finally:
        subprocess.run(["umount", "-R", str(root)], check=True)


@pytest.mark.parametrize("step, fills", [
    ("COPY big.bin /big.bin", "the copy"),
    ("RUN head -c 25000000 /dev/urandom > /r", "the layer blob"),  # 25 MB fit once, not twice
])
def test_a_full_disk_fails_the_step_in_one_line_and_leaves_the_store_whole(
        small_root, tmp_path, step, fills):
    root, env = small_root
    ctx = make_context(tmp_path, "FROM busybox:local\nRUN echo warm > /w\n")
    (ctx / "big.bin").write_bytes(os.urandom(60_000_000))
    subprocess.run([sys.executable, "-m", "wharfie", "build", str(ctx)], env=env, check=True,
                   capture_output=True)  # the base is extracted, the build cache exists
    before = shutil.disk_usage(root).used
    (ctx / "Dockerfile").write_text(f"FROM busybox:local\n{step}\n")
    res = subprocess.run([sys.executable, "-m", "wharfie", "build", str(ctx)], env=env,
                         capture_output=True)
    err = res.stderr.decode()
    assert res.returncode == 1 and "Traceback" not in err, fills
    assert err.strip().splitlines()[-1] == f"wharfie: error: [2/2] {step}: " \
        "No space left on device"
    assert list(root.glob("snapshots/*/active/*")) == [] and list(root.glob("ingest/*")) == []
    assert shutil.disk_usage(root).used <= before + (64 << 10)  # nothing half-written kept
    check = subprocess.run([sys.executable, "-m", "wharfie", "system", "check"], env=env,
                           capture_output=True)
    assert check.returncode == 0 and b"no problems found" in check.stdout


def test_build_checks_warn_fail_on_request_and_run_alone_with_check(based, tmp_path):
    ctx = make_context(tmp_path, "FROM busybox:local as Base\nRUN true\nCMD echo hi\n")
    res = based("build", str(ctx))
    err = res.stderr.decode()
    assert " 3 warnings found:\n" in err
    assert " - JSONArgsRecommended: " in err and "(line 3)" in err
    assert " - FromAsCasing: " in err and " - StageNameCasing: " in err
    quiet = based("build", "-q", str(ctx))
    assert quiet.stderr == b""
    res = based("build", "--check", str(ctx), check=False)
    assert res.returncode == 1 and b"Check complete, 3 warnings found!" in res.stdout
    res = based("build", "--check", "--build-arg",
                "BUILDKIT_DOCKERFILE_CHECK=skip=all", str(ctx), check=False)
    assert res.returncode == 0 and b"Check complete, no warnings found." in res.stdout
    (ctx / "Dockerfile").write_text("# check=skip=all\nFROM busybox:local\nCMD echo hi\n")
    res = based("build", "--check", "--build-arg", "BUILDKIT_DOCKERFILE_CHECK=error=false",
                str(ctx), check=False)  # the build arg replaces the directive
    assert res.returncode == 1 and b"JSONArgsRecommended" in res.stdout
    (ctx / "Dockerfile").write_text("# check=error=true\nFROM busybox:local\nCMD echo hi\n")
    res = based("build", str(ctx), check=False)
    assert res.returncode == 1
    assert res.stderr.decode().strip().splitlines()[-1] == \
        "wharfie: error: lint violation found for rules: JSONArgsRecommended"
    assert b"RUN" not in res.stderr and b"#1" not in res.stderr  # nothing was built


def test_add_host_and_shm_size_reach_run_steps_and_the_cache_key(based, tmp_path):
    ctx = make_context(tmp_path,
        "FROM busybox:local\nRUN { grep db.internal /etc/hosts || true; } > /hosts && "
        "df -k /dev/shm | tail -1 | awk '{print $2}' > /shm\nCMD cat /hosts /shm\n")
    based("build", "-t", "hosts:1", "--add-host", "db.internal:10.1.2.3",
          "--add-host", "v6.internal=[fd00::7]", "--shm-size", "128m", str(ctx))
    out = based("run", "--rm", "hosts:1").stdout.decode()
    assert out == "10.1.2.3\tdb.internal\n131072\n"
    res = based("build", "--progress", "plain", "-t", "hosts:2", str(ctx))
    assert b"CACHED" not in res.stderr  # other hosts, other shm: not the same step
    assert based("run", "--rm", "hosts:2").stdout == b"65536\n"
    res = based("run", "--rm", "--add-host", "a.b:1.2.3.4", "--add-host", "c.d=::1",
                "--add-host", "gw:host-gateway", "--shm-size", "1m", "busybox:local", "sh",
                "-c", r"grep -wE 'a\.b|c\.d|gw' /etc/hosts; df -k /dev/shm | tail -1 | "
                "awk '{print $2}'")
    # run's default network reaches the host at its routed address (a build's RUN shares
    # the host's network, where host-gateway is 127.0.0.1)
    gateway = host_address().encode()
    assert res.stdout == b"1.2.3.4\ta.b\n::1\tc.d\n" + gateway + b"\tgw\n1024\n"
    res = based("build", "--add-host", "db:999.1.1.1", str(ctx), check=False)
    assert res.returncode != 0 and b"want NAME:IP or NAME:host-gateway" in res.stderr


def test_no_cache_filter_rebuilds_only_the_named_stages(based, tmp_path):
    ctx = make_context(tmp_path,
        "FROM busybox:local AS deps\nRUN echo deps > /d\n"
        "FROM deps AS app\nRUN echo app > /a\n")
    based("build", str(ctx))
    res = based("build", "--progress", "plain", "--no-cache-filter", "App", str(ctx))
    lines = res.stderr.decode().splitlines()
    cached = {line.split()[0] for line in lines if line.endswith("CACHED")}
    steps = {line.split()[0]: line for line in lines if " RUN echo" in line}
    assert [steps[s] for s in cached] == [next(v for v in steps.values() if "deps" in v)]


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                   check=True, capture_output=True)


@pytest.fixture
def git_repo(tmp_path):
    """``git daemon`` on loopback serving repo.git (branch main, tag v1); yields its URL
    and a function that commits a new app/hello.txt to main."""
    work, served = tmp_path / "work", tmp_path / "served"
    (work / "app").mkdir(parents=True)
    (work / "app" / "hello.txt").write_text("v1\n")
    (work / "app" / "Dockerfile").write_text("FROM busybox:local\nCOPY hello.txt /\n"
                                             'CMD ["cat", "/hello.txt"]\n')
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", ".")
    _git(work, "commit", "-q", "-m", "one")
    _git(work, "tag", "v1")
    served.mkdir()
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(served / "repo.git"))

    def commit(text: str) -> None:
        (work / "app" / "hello.txt").write_text(text)
        _git(work, "commit", "-q", "-am", text)
        _git(work, "push", "-q", str(served / "repo.git"), "main")

    port = free_port()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all",
                               f"--base-path={served}", "--listen=127.0.0.1", f"--port={port}",
                               str(served)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"git://127.0.0.1:{port}/repo.git", commit
    finally:
        daemon.terminate()
        daemon.wait()


def test_add_from_git_and_a_git_build_context(based, tmp_path, root, git_repo):
    url, commit = git_repo
    ctx = make_context(tmp_path, f"FROM busybox:local\nADD {url}#v1:app /src\n"
                                 f"ADD --keep-git-dir=true {url} /full\n")
    based("build", "-t", "g:1", str(ctx))
    listing = based("run", "--rm", "g:1", "sh", "-c",
                    "cat /src/hello.txt; ls -a /src; test -d /full/.git && echo kept").stdout
    assert listing == b"v1\n.\n..\nDockerfile\nhello.txt\nkept\n"
    commit("v2\n")
    res = based("build", "--progress", "plain", "-t", "g:2", str(ctx))
    steps = res.stderr.decode()
    assert steps.count("CACHED") == 1  # the tag did not move; main did
    assert based("run", "--rm", "g:2", "cat", "/full/app/hello.txt").stdout == b"v2\n"
    based("build", "-t", "from-git:1", f"{url}#main:app")
    assert based("run", "--rm", "from-git:1").stdout == b"v2\n"
    again = based("build", "--progress", "plain", f"{url}#main:app").stderr
    assert again.count(b"CACHED") == 1  # the same commit: its checkout, and the cache, reused
    commit("v3\n")
    based("build", "-t", "from-git:2", f"{url}#main:app")
    assert based("run", "--rm", "from-git:2").stdout == b"v3\n"
    assert len(list((root / "build" / "git").iterdir())) == 2  # one checkout per commit
    based("builder", "prune", "-a", "-f")
    assert not (root / "build" / "git").exists()
    (ctx / "Dockerfile").write_text(f"FROM busybox:local\nADD --checksum={'0' * 40} {url} /x\n")
    res = based("build", str(ctx), check=False)
    assert res.returncode != 0 and b"checksum mismatch" in res.stderr
    res = based("build", f"{url}#--upload-pack=touch {tmp_path}/pwned", check=False)
    assert res.returncode != 0 and b"is not a branch, tag or commit name" in res.stderr
    assert not (tmp_path / "pwned").exists()
    res = based("build", f"{url}#nosuchbranch", check=False)
    assert res.returncode != 0 and b"no branch or tag 'nosuchbranch'" in res.stderr
    res = based("build", f"git://127.0.0.1:{free_port()}/gone.git", check=False)
    err = res.stderr.decode().strip().splitlines()
    assert res.returncode != 0 and len(err) == 1 and "git ls-remote failed" in err[0]
    (ctx / "Dockerfile").write_text(f"FROM busybox:local\nADD {url}#nosuchbranch /x\n")
    res = based("build", str(ctx), check=False)
    assert res.returncode != 0 and b"no branch or tag 'nosuchbranch'" in res.stderr
