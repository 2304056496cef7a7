"""wharfie against its peers, line by line as issue 18's table, in one run.

Run: .venv/bin/python bench/bench_vs_peers.py [--runs N] [--only KEY[,KEY]] [--wrk-seconds S]

Peers: Debian's dockerd with BuildKit (started as the interop tests start it:
tests.conftest.dockerd_daemon, private namespaces, socket and data root), skopeo and Debian's
docker-registry. Every figure is a whole process (``wharfie`` byte-compiled, as ``make``
installs it), wharfie and the peer alternating (A B A B ...), ``--runs`` times (default 5),
each on a settled machine (``settle``: sync, then a second for a daemon's after-work); the
row's figure is the median of the pairwise ratios wharfie/peer (below 1: wharfie is
faster). Registry rows are throughput (wrk, 32 connections): the ratio is wharfie/peer
there, and above 1 is better.

Workloads are made here, deterministically: a busybox + COPY + RUN Dockerfile, a 2-stage gcc
build on a Debian base (mmdebstrap, cached as bench_build makes it), a 20k-file context with
3x50 MB incompressible blobs (12k files after its .dockerignore), random images of 48 and
128 MB for push and pull, and a 121 MB image for save/load.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench_build import HELLO_C, busybox_tar, debian_tar, ensure_dir
from bench_registry_server import MANIFEST, free_port, wait_for, wrk
from benchlib import CACHE, corpus

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.conftest import dockerd_daemon  # noqa: E402 - the interop tests' dockerd

from wharfie.images.imagestore import ImageStore  # noqa: E402
from wharfie.oci.reference import parse_reference  # noqa: E402
from wharfie.testing import random as testing_random  # noqa: E402

DOCKER = "/usr/bin/docker"  # Debian's client, with BuildKit built in
WORK = Path(os.environ.get("WHARFIE_BENCH_DIR", "/var/tmp"))
MB = 1 << 20


@dataclass
class Row:
    """One line of the table: how to time wharfie and the peer once each."""

    key: str
    work: str
    peer: str
    goal: float
    wharfie: Callable[[], float]
    other: Callable[[], float]
    throughput: bool = False  # figures are rates (higher is better), not seconds


def timed(cmd: list[str], env: dict | None = None, *, cwd: Path | None = None) -> float:
    """Seconds one whole process takes; a failure stops the bench with its stderr."""
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if res.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd))} exited {res.returncode}:\n"
                         f"{res.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def run(cmd: list[str], env: dict | None = None) -> None:
    res = subprocess.run(cmd, env=env, capture_output=True)
    if res.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd))} exited {res.returncode}:\n"
                         f"{res.stderr.decode(errors='replace')[-2000:]}")


def wharfie_env(root: Path) -> dict:
    """As installed: bytecode (kept out of the tree; this environment may disable writing it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(CACHE / "bench-pycache")
    env["WHARFIE_ROOT"] = str(root)
    return env


WHARFIE = [sys.executable, "-m", "wharfie"]


# --- workloads ------------------------------------------------------------------------

def make_files_context(path: Path) -> None:
    """20,000 small files (1-8 KB of real binaries) and three 50 MB random blobs; the
    .dockerignore leaves 12,000 small files."""
    data = corpus(64 << 20)
    rng = random.Random(20_000)
    for i in range(20_000):
        d = path / "small" / f"d{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        off, size = rng.randrange(len(data) - 8192), rng.randrange(1024, 8192)
        (d / f"f{i:05d}").write_bytes(data[off:off + size])
    (path / "big").mkdir()
    for n in range(3):
        blob = random.Random(n).randbytes(50 * MB)
        (path / "big" / f"blob{n}.bin").write_bytes(blob)
    (path / ".dockerignore").write_text("small/d0[0-7]?\n")
    (path / "Dockerfile").write_text("FROM busybox:local\nCOPY . /data\n")


def small_context(base: Path) -> Path:
    ctx = base / "small"
    (ctx / "app").mkdir(parents=True)
    for n in range(5):
        (ctx / "app" / f"file{n}.txt").write_text(f"file {n}\n" * 50)
    (ctx / "Dockerfile").write_text(
        "FROM busybox:local\nWORKDIR /app\nCOPY app/ /app/\nRUN cat /app/*.txt | wc -l > /n\n"
        'CMD ["ls", "/app"]\n')
    return ctx


def cc_context(base: Path) -> Path:
    ctx = base / "cc"
    ctx.mkdir(parents=True)
    (ctx / "hello.c").write_text(HELLO_C)
    (ctx / "Dockerfile").write_text(
        "FROM debian:gcc AS build\nWORKDIR /src\nCOPY hello.c .\n"
        "RUN gcc -O2 -static -o /hello hello.c\n"
        "FROM busybox:local\nCOPY --from=build /hello /usr/local/bin/hello\n"
        'RUN hello > /greeting\nCMD ["hello"]\n')
    return ctx


def app_context(base: Path) -> Path:
    """A Debian app: a cached 'apt' layer, then COPY of the sources and two RUNs."""
    ctx = base / "app"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "hello.c").write_text(HELLO_C)
    (ctx / "src" / "version.h").write_text("#define VERSION 0\n")
    (ctx / "Dockerfile").write_text(
        "FROM debian:gcc\nRUN mkdir -p /opt/deps && cp /usr/bin/gcc /opt/deps/\n"
        "COPY src /src\nRUN gcc -O2 -o /hello /src/hello.c\nRUN /hello > /greeting\n")
    return ctx


def clone(ctx: Path, dest: Path) -> Path:
    """A private copy of a context for one tool (each edits its own)."""
    shutil.copytree(ctx, dest, symlinks=True)
    return dest


# --- the tools ------------------------------------------------------------------------

class Wharfie:
    """A wharfie root with the bases imported, driven through the CLI."""

    def __init__(self, root: Path, bases: dict[str, Path]) -> None:
        self.root, self.bases = root, bases
        self.env = wharfie_env(root)
        self.reset()

    def reset(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        for ref, tar in self.bases.items():
            run([*WHARFIE, "import", str(tar), ref], self.env)

    def build(self, ctx: Path) -> float:
        return timed([*WHARFIE, "build", "-q", "--network", "none", "-t", "bench:1", str(ctx)],
                     self.env)


class BuildKit:
    """The private dockerd (BuildKit) with the same bases imported."""

    def __init__(self, env: dict, bases: dict[str, Path]) -> None:
        self.env = {**env, "DOCKER_BUILDKIT": "1"}
        for ref, tar in bases.items():
            run([DOCKER, "import", str(tar), ref], self.env)

    def build(self, ctx: Path) -> float:
        return timed([DOCKER, "build", "-q", "--network", "none", "-t", "bench:1", str(ctx)],
                     self.env)

    def prune(self) -> None:
        run([DOCKER, "builder", "prune", "-af"], self.env)
        subprocess.run([DOCKER, "rmi", "-f", "bench:1"], env=self.env, capture_output=True)


def registry(work: Path) -> tuple[subprocess.Popen, str]:
    """A Debian docker-registry on a free port with an empty data directory."""
    port = free_port()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cfg = work / "config.yml"
    cfg.write_text("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                   f"storage:\n  filesystem:\n    rootdirectory: {work / 'data'}\n"
                   f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    return proc, f"127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


def random_image(base: Path, mb: int, layers: int, seed: int) -> tuple[Path, Path]:
    """(wharfie root holding ``img:1``, OCI layout holding ``img:bench``) of one random image,
    gzip-compressed, so that skopeo sends the blobs as they are (it compresses plain ones)."""
    root, layout = base / f"img{mb}-{seed}-root", base / f"img{mb}-{seed}-layout"
    images = ImageStore(root)
    made = testing_random.image((mb * MB) // layers, layers, seed=seed, compression="gzip",
                              store=images.content.ensure())
    images.put_manifest(*made.manifest_bytes(), parse_reference("img:1"))
    testing_random.write_layout(layout, made, "bench", name="img")
    images.close()
    return root, layout


# --- the rows -------------------------------------------------------------------------

def build_rows(base: Path, dockerd: dict, want: Callable[[str], bool]) -> list[Row]:
    bases = {"busybox:local": busybox_tar()}
    deb = debian_tar() if want("cc") or want("change") else None
    if deb is not None:
        bases["debian:gcc"] = deb
    kit = BuildKit(dockerd, bases)
    rows: list[Row] = []

    def warm(key: str, work: str, ctx: Path, goal: float) -> None:
        w = Wharfie(base / f"root-{key}", bases)
        w.build(ctx)
        kit.build(ctx)
        rows.append(Row(key, work, "BuildKit", goal, lambda: w.build(ctx),
                        lambda: kit.build(ctx)))

    if want("small"):
        warm("small", "warm no-change rebuild, busybox + COPY + RUN (5 steps)",
             small_context(base), 1.0)
    if want("cc") and deb is not None:
        warm("cc", "warm no-change rebuild, 2-stage gcc build", cc_context(base), 1.0)
    if want("files") or want("files-warm"):
        ctx = ensure_dir("bench-peers-files-v1", make_files_context)
        subprocess.run(f"tar -C {ctx} -cf - . | cat > /dev/null", shell=True, check=True)
        w = Wharfie(base / "root-files", {"busybox:local": bases["busybox:local"]})
        if want("files"):
            # bound now: the "change" row below rebinds ``w`` and ``ctx``
            def wharfie_cold(w: Wharfie = w, ctx: Path = ctx) -> float:
                w.reset()
                os.sync()
                return w.build(ctx)

            def kit_cold(ctx: Path = ctx) -> float:
                kit.prune()
                os.sync()
                return kit.build(ctx)

            rows.append(Row("files", "cold build, `COPY . /data` of 20k small files + 3x50 MB "
                            "(12k files after .dockerignore)", "BuildKit", 0.7,
                            wharfie_cold, kit_cold))
        if want("files-warm"):
            warm("files-warm", "the same, warm", ctx, 0.8)
    if want("change") and deb is not None:
        ctx = app_context(base)
        mine, theirs = clone(ctx, base / "app-w"), clone(ctx, base / "app-k")
        w = Wharfie(base / "root-change", bases)
        w.build(mine)
        kit.build(theirs)
        turn = iter(range(1, 1 << 30))

        def edited(build: Callable[[Path], float], ctx: Path) -> float:
            (ctx / "src" / "version.h").write_text(f"#define VERSION {next(turn)}\n")
            return build(ctx)

        rows.append(Row("change", "one source file changed (apt layer cached; COPY + 2 RUN "
                        "rebuild)", "BuildKit", 0.8, lambda: edited(w.build, mine),
                        lambda: edited(kit.build, theirs)))
    return rows


def transfer_rows(base: Path, dockerd: dict, want: Callable[[str], bool],
                  stack: ExitStack) -> list[Row]:
    rows: list[Row] = []
    skopeo = ["skopeo", "--insecure-policy", "copy", "-q"]
    for mb, layers, goal_push, goal_pull in ((48, 3, 0.67, 0.67), (128, 4, 0.67, 0.5)):
        if not (want(f"push{mb}") or want(f"pull{mb}")):
            continue
        root, layout = random_image(base, mb, layers, seed=mb)
        env = wharfie_env(root)
        if want(f"push{mb}"):
            def push_wharfie(env=env, mb=mb) -> float:
                proc, host = registry(base / "reg-push")
                try:
                    run([*WHARFIE, "tag", "img:1", f"{host}/bench/img:{mb}"], env)
                    return timed([*WHARFIE, "push", "-q", f"{host}/bench/img:{mb}"], env)
                finally:
                    run([*WHARFIE, "rmi", f"{host}/bench/img:{mb}"], env)
                    stop(proc)

            def push_skopeo(layout=layout) -> float:
                proc, host = registry(base / "reg-push")
                try:
                    return timed([*skopeo, "--dest-tls-verify=false", f"oci:{layout}:bench",
                                  f"docker://{host}/bench/img:1"])
                finally:
                    stop(proc)

            rows.append(Row(f"push{mb}", f"push of a {mb} MB image into an empty registry",
                            "skopeo", goal_push, push_wharfie, push_skopeo))
        if want(f"pull{mb}"):
            proc, host = registry(base / f"reg-pull{mb}")
            stack.callback(stop, proc)
            run([*skopeo, "--dest-tls-verify=false", f"oci:{layout}:bench",
                 f"docker://{host}/bench/img:1"])

            def pull_wharfie(host=host) -> float:
                dest = base / "pulled-root"
                shutil.rmtree(dest, ignore_errors=True)
                return timed([*WHARFIE, "pull", "-q", f"{host}/bench/img:1"], wharfie_env(dest))

            def pull_skopeo(host=host) -> float:
                dest = base / "pulled-oci"
                shutil.rmtree(dest, ignore_errors=True)
                return timed([*skopeo, "--src-tls-verify=false", f"docker://{host}/bench/img:1",
                              f"oci:{dest}:1"])

            rows.append(Row(f"pull{mb}", f"pull of a {mb} MB image into an empty store",
                            "skopeo to an OCI dir", goal_pull, pull_wharfie, pull_skopeo))
    if want("save") or want("load"):
        root, layout = random_image(base, 121, 3, seed=121)
        env = wharfie_env(root)
        archive = base / "img121.tar"
        run([*WHARFIE, "save", "-o", str(archive), "img:1"], env)
        docker_env = {**dockerd}
        run([DOCKER, "load", "-q", "-i", str(archive)], docker_env)
        out = base / "saved.tar"
        if want("save"):
            def save_wharfie() -> float:
                out.unlink(missing_ok=True)
                return timed([*WHARFIE, "save", "-o", str(out), "img:1"], env)

            def save_docker() -> float:
                out.unlink(missing_ok=True)
                return timed([DOCKER, "save", "-o", str(out), "img:1"], docker_env)

            rows.append(Row("save", "save of 121 MB", "docker save", 0.5, save_wharfie,
                            save_docker))
        if want("load"):
            def load_wharfie() -> float:
                dest = base / "loaded-root"
                shutil.rmtree(dest, ignore_errors=True)
                return timed([*WHARFIE, "load", "-q", "-i", str(archive)], wharfie_env(dest))

            def load_skopeo() -> float:
                dest = base / "loaded-oci"
                shutil.rmtree(dest, ignore_errors=True)
                return timed([*skopeo, f"docker-archive:{archive}", f"oci:{dest}:1"])

            rows.append(Row("load", "load of 121 MB", "skopeo archive->oci", 0.3, load_wharfie,
                            load_skopeo))
    return rows


def server_rows(base: Path, want: Callable[[str], bool], seconds: int,
                stack: ExitStack) -> list[Row]:
    if not (want("manifest") or want("blob")):
        return []
    root, layout = random_image(base, 48, 1, seed=4848)
    port = free_port()
    server = subprocess.Popen([*WHARFIE, "registry", "serve", "-q", "--addr", f"127.0.0.1:{port}",
                               "--data", str(base / "wharfie-registry")],
                              env=wharfie_env(base / "server-root"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.callback(stop, server)
    wait_for(port)
    peer, peer_host = registry(base / "reg-server")
    stack.callback(stop, peer)
    hosts = {"wharfie": f"127.0.0.1:{port}", "peer": peer_host}
    skopeo = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]
    for host in hosts.values():
        run([*skopeo, f"oci:{layout}:bench", f"docker://{host}/bench/app:latest"])
    images = ImageStore(root)
    image = images.resolve("img:1")
    blob = max(image.manifest.layers, key=lambda d: d.size).digest
    images.close()
    for host in hosts.values():  # wrk counts error responses too: see that both serve
        answered(f"http://{host}/v2/bench/app/manifests/latest", 0)
        answered(f"http://{host}/v2/bench/app/blobs/{blob}", 48 * MB)
    rows = []
    if want("manifest"):
        rows.append(Row("manifest", "registry manifest GET, 32 connections (req/s)",
                        "docker-registry", 5.0, *(
                            (lambda h=h: wrk(f"http://{h}/v2/bench/app/manifests/latest", 32,
                                             seconds)[0]) for h in hosts.values()),
                        throughput=True))
    if want("blob"):
        rows.append(Row("blob", "registry 48 MB blob GET, 32 connections (MB/s: few requests "
                        "finish in a run)", "docker-registry", 2.0, *(
                            (lambda h=h: wrk(f"http://{h}/v2/bench/app/blobs/{blob}", 32,
                                             seconds)[1] / 1e6) for h in hosts.values()),
                        throughput=True))
    return rows


def answered(url: str, size: int) -> None:
    """Stop the bench unless ``url`` answers 200 (with at least ``size`` bytes)."""
    req = urllib.request.Request(url, headers={"Accept": MANIFEST})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            got = len(resp.read())
    except OSError as e:
        raise SystemExit(f"{url}: {e}") from None
    if got < size:
        raise SystemExit(f"{url}: {got} bytes, expected {size}")


# --- measuring and printing -------------------------------------------------------------

SETTLE_SECONDS = 1.0


def settle() -> None:
    """Let the last run's after-work finish before the next one starts: the kernel's
    writeback of the files it wrote, and a daemon's own (dockerd goes on working after
    ``docker build`` returns). Run back to back, each tool paid for some of the other's."""
    subprocess.run(["sync"], check=True)
    time.sleep(SETTLE_SECONDS)


def measure(row: Row, runs: int) -> tuple[float, float, float]:
    """(median wharfie, median peer, median of the pairwise ratios wharfie/peer), each run
    on a settled machine."""
    pairs = []
    for i in range(runs):  # alternate which goes first, so neither always runs on a warm cache
        if i % 2:
            settle()
            p = row.other()
            settle()
            w = row.wharfie()
        else:
            settle()
            w = row.wharfie()
            settle()
            p = row.other()
        pairs.append((w, p))
    ws, ps = zip(*pairs, strict=True)
    return (statistics.median(ws), statistics.median(ps),
            statistics.median(w / p for w, p in pairs))


def line(row: Row, w: float, p: float, ratio: float) -> tuple[str, bool]:
    if row.throughput:
        met = ratio >= row.goal
        text = (f"| {row.work} | {w:,.0f} | {row.peer} {p:,.0f} | {ratio:.2f}x | "
                f">= {row.goal:g}x | {'met' if met else 'MISSED'} |")
    else:
        met = ratio <= row.goal
        text = (f"| {row.work} | {w:.3f} s | {row.peer} {p:.3f} s | {ratio:.2f} | "
                f"<= {row.goal:g} | {'met' if met else 'MISSED'} |")
    return text, met


ALL = ["small", "cc", "files", "files-warm", "change", "push48", "push128", "pull48", "pull128",
       "save", "load", "manifest", "blob"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="pairs per row (default 5)")
    ap.add_argument("--only", default=",".join(ALL), help="rows: " + ",".join(ALL))
    ap.add_argument("--wrk-seconds", type=int, default=5)
    opts = ap.parse_args()
    wanted = set(opts.only.split(","))
    unknown = wanted - set(ALL)
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(sorted(unknown))}")

    def want(key: str) -> bool:
        return key in wanted

    print(f"{opts.runs} alternating runs per row, median of the ratios wharfie/peer; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| work | wharfie | peer | ratio | goal | |\n|---|---|---|---|---|---|")
    missed = []
    with tempfile.TemporaryDirectory(dir=WORK, prefix="wharfie-bench-peers-") as tmp, \
            ExitStack() as stack:
        base = Path(tmp)
        dockerd = stack.enter_context(dockerd_daemon())
        rows = [*build_rows(base, dockerd, want), *transfer_rows(base, dockerd, want, stack),
                *server_rows(base, want, opts.wrk_seconds, stack)]
        for row in rows:
            text, met = line(row, *measure(row, opts.runs))
            print(text, flush=True)
            if not met:
                missed.append(row.key)
        for root in base.glob("root-*"):
            subprocess.run(["umount", "-R", "-q", str(root)], capture_output=True)
    print(f"\ngoals met: {len(rows) - len(missed)} of {len(rows)}"
          + (f"; missed: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
