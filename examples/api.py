"""wharfie as a Python library: import a base image, build examples/hello, push it to a
registry, pull it into a second store and check both stores hold the same manifest.

    python examples/api.py [--rootfs BUSYBOX_ROOTFS.tar] [--registry HOST:PORT]

Without ``--rootfs`` the base is made with scripts/make-busybox-rootfs.sh (Debian's
busybox-static); without ``--registry`` wharfie's own registry server is started on a
free loopback port for the run. Only public names are used: ``import wharfie``.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import wharfie

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(data: Path) -> tuple[subprocess.Popen, str]:
    """``wharfie registry serve`` on a free 127.0.0.1 port, anonymous."""
    host = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-m", "wharfie", "registry", "serve",
                             "--addr", host, "--data", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", int(host.rsplit(":", 1)[1]))) == 0:
                return proc, host
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the registry did not start on {host}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rootfs", type=Path, help="a busybox root filesystem tar")
    parser.add_argument("--registry", help="HOST:PORT of a registry to use")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wharfie-api-") as tmp:
        work = Path(tmp)
        rootfs = args.rootfs
        if rootfs is None:
            rootfs = work / "busybox.tar"
            subprocess.run([str(HERE.parent / "scripts" / "make-busybox-rootfs.sh"), str(rootfs)],
                           check=True)
        proc, registry = (None, args.registry) if args.registry else \
            start_registry(work / "registry")
        try:
            run(work, rootfs, registry)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)


def run(work: Path, rootfs: Path, registry: str) -> None:
    builder = wharfie.Client(work / "builder-root")
    base = builder.import_image(rootfs, "busybox:local", changes=['CMD ["sh"]'])
    print(f"base image      {base.id}")

    result = builder.build(HERE / "hello", tag="hello:api", build_args={"GREETING": "hi"})
    print(f"built           {result.image_id}")

    remote = f"{registry}/examples/hello:api"
    pushed = builder.push("hello:api", remote)
    print(f"pushed          {remote} {pushed.digest}")

    puller = wharfie.Client(work / "puller-root")
    image = puller.pull(remote)
    print(f"pulled          {image.manifest_digest}")

    built = builder.inspect("hello:api")
    same = image.manifest_digest == result.manifest_digest == pushed.digest
    if not same or puller.inspect(remote)["Id"] != built["Id"]:
        raise SystemExit("the pulled image differs from the one built")
    print("manifest digests match")


if __name__ == "__main__":
    try:
        main()
    except wharfie.WharfieError as e:
        raise SystemExit(f"api.py: error: {e}") from None
