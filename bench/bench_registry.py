"""Registry push and pull throughput on loopback: wharfie against skopeo, same registry.

Run: .venv/bin/python bench/bench_registry.py [TOTAL_MB] [LAYERS]   (default 1000 MB, 5 layers)

An image of incompressible uncompressed layers goes into a wharfie store and an OCI
layout. Then, against one Debian docker-registry: ``wharfie push`` vs ``skopeo copy
oci:DIR docker://...`` and ``wharfie pull`` vs ``skopeo copy docker://... oci:DIR``
(neither recompresses anything). Prints MB/s, the wharfie/skopeo speed ratio and each
process's peak RSS (its VmHWM).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import parse_reference
from wharfie.testing import random

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(root: Path, layout: Path, total: int, layers: int, ref: str) -> None:
    """The image to move: ``layers`` tars of random bytes, ``total`` bytes in all, in the
    store (tagged ``ref``) and in an OCI layout (tagged ``bench``)."""
    images = ImageStore(root)
    image = random.image(total // layers, layers, store=images.content.ensure())
    images.put_manifest(*image.manifest_bytes(), parse_reference(ref))
    random.write_layout(layout, image, "bench")
    images.close()


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """(seconds, peak RSS in MB) of one child process.

    Peak RSS is the child's own VmHWM, polled from /proc: wait4's ru_maxrss would also
    count this (bigger) parent, whose high-water mark a child inherits across fork and exec.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) // 1024)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return elapsed, peak


def main() -> None:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    total = total_mb << 20
    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir="/var/tmp"))
    port = free_port()
    host = f"127.0.0.1:{port}"
    cfg = work / "registry.yml"
    cfg.write_text("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                   f"    rootdirectory: {work / 'registry'}\nhttp:\n  addr: {host}\n")
    reg = subprocess.Popen(["docker-registry", "serve", str(cfg)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        ref = f"{host}/bench/wharfie:1"
        print(f"image: {layers} layers, {total_mb} MB in all; registry docker-registry "
              f"(distribution 2.8) on {host}")
        build(work / "root", work / "layout", total, layers, ref)
        wharfie = [str(VENV_BIN / "python"), "-m", "wharfie"]
        env = {**os.environ, "WHARFIE_ROOT": str(work / "root")}
        skopeo = ["skopeo", "--insecure-policy", "copy"]
        rows = []
        wt, wm = timed([*wharfie, "push", ref], env)
        st, sm = timed([*skopeo, "--dest-tls-verify=false", f"oci:{work / 'layout'}:bench",
                        f"docker://{host}/bench/skopeo:1"])
        rows.append(("push", wt, wm, st, sm))
        env2 = {**env, "WHARFIE_ROOT": str(work / "root2")}
        wt, wm = timed([*wharfie, "pull", f"{host}/bench/skopeo:1"], env2)
        st, sm = timed([*skopeo, "--src-tls-verify=false", f"docker://{host}/bench/wharfie:1",
                        f"oci:{work / 'pulled'}:1"])
        rows.append(("pull", wt, wm, st, sm))
        mb = total / 1e6
        print(f"{'':6}{'wharfie':>12}{'skopeo':>12}{'ratio':>8}{'wharfie RSS':>13}"
              f"{'skopeo RSS':>12}")
        for name, wt, wm, st, sm in rows:
            print(f"{name:6}{mb / wt:>8.0f} MB/s{mb / st:>7.0f} MB/s{st / wt:>7.2f}x"
                  f"{wm:>10} MB{sm:>9} MB")
    finally:
        reg.terminate()
        reg.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
