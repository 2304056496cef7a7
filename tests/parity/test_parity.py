"""Differential builds: every case in ``cases.py`` built by Debian's dockerd (BuildKit)
and by wharfie from the same base image, compared as ``flatten`` sees them: the config
(times and layer digests aside) and the flattened file tree. A build that fails in both
counts as identical. Prints ``N of M identical to docker`` and each difference.

dockerd here is 20.10, and its BuildKit is the reference: the mount points of ``RUN
--mount`` stay in the layer, and EXPOSE and HEALTHCHECK history use its Go formats."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.conftest import dockerd_daemon, release_root
from tests.parity.cases import BASE, CASES, DIR, Case, File, Link, Tar
from tests.parity.flatten import config_view, differences, flatten

from wharfie.builder import BuildOptions, build
from wharfie.errors import WharfieError
from wharfie.images.imagestore import ImageStore
from wharfie.layers.compression import open_uncompressed
from wharfie.oci.reference import parse_reference
from wharfie.transports.importer import import_rootfs

pytestmark = pytest.mark.interop

DOCKER = "/usr/bin/docker"  # Debian's client (20.10), which builds with BuildKit
IDENTICAL_FLOOR = 188  # measured (188 of 188): raise it when a rule is fixed, never lower it


def _tar_bytes(spec: Tar) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for m in spec.members:
            info = tarfile.TarInfo(m.name)
            info.mode, info.uid, info.gid, info.mtime = m.mode, m.uid, m.gid, 1_600_000_000
            kind = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE,
                    "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[m.kind]
            info.type, info.linkname = kind, m.link
            info.size = len(m.data) if m.kind == "file" else 0
            t.addfile(info, io.BytesIO(m.data) if m.kind == "file" else None)
    data = raw.getvalue()
    return {"": bytes, "gz": gzip.compress, "bz2": bz2.compress,
            "xz": lzma.compress}[spec.compression](data)


def write_context(case: Case, d: Path) -> None:
    d.mkdir(parents=True)
    (d / "Dockerfile").write_text(case.dockerfile)
    for k, v in case.secrets.items():
        (d.parent / f"{case.name}.{k}.secret").write_text(v)
    for name, spec in case.context.items():
        path = d / name.rstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec == DIR:
            path.mkdir(exist_ok=True)
        elif isinstance(spec, Link) and spec.target.startswith("="):  # a hard link
            os.link(path.parent / spec.target[1:], path)
        elif isinstance(spec, Link):
            os.symlink(spec.target, path)
        elif isinstance(spec, Tar):
            path.write_bytes(_tar_bytes(spec))
        else:
            f = spec if isinstance(spec, File) else File(spec)
            path.write_bytes(f.data.encode() if isinstance(f.data, str) else f.data)
            os.chmod(path, f.mode)


def view_of(config: dict, layers) -> tuple[dict, dict]:
    return config_view(config), flatten(layers)


def docker_view(env: dict, case: Case, ctx: Path, out: Path) -> tuple | str:
    tag = f"parity/{case.name}:1"
    args = [DOCKER, "build", "-q", "--network", "none", "-t", tag]
    for k, v in case.build_args.items():
        args += ["--build-arg", f"{k}={v}"]
    for k in case.secrets:
        args += ["--secret", f"id={k},src={ctx.parent / f'{case.name}.{k}.secret'}"]
    if case.target:
        args += ["--target", case.target]
    res = subprocess.run([*args, str(ctx)], env={**env, "DOCKER_BUILDKIT": "1"},
                         capture_output=True, text=True)
    if res.returncode:
        return "failed"
    subprocess.run([DOCKER, "save", "-o", str(out), tag], env=env, check=True,
                   capture_output=True)
    with tarfile.open(out) as t:
        manifest = json.load(t.extractfile("manifest.json"))[0]
        config = json.load(t.extractfile(manifest["Config"]))
        layers = [io.BytesIO(t.extractfile(name).read()) for name in manifest["Layers"]]
    return view_of(config, layers)


def wharfie_view(store: ImageStore, case: Case, ctx: Path) -> tuple | str:
    try:
        result = build(store, BuildOptions(context=ctx, tags=[f"parity/{case.name}:1"],
                                           build_args=case.build_args, target=case.target,
                                           secrets=[f"id={k},src={ctx.parent}/{case.name}.{k}.secret"
                                                    for k in case.secrets],
                                           network="none"))
    except WharfieError:
        return "failed"
    image = store.get(result.manifest_digest)
    streams = []
    for layer in image.layers():
        with layer.open() as raw:
            streams.append(io.BytesIO(open_uncompressed(raw, layer.media_type).read()))
    return view_of(image.config.doc, streams)


@pytest.fixture(scope="module")
def wharfie_store(tmp_path_factory, busybox_rootfs_tar):
    root = tmp_path_factory.mktemp("parity") / "root"
    store = ImageStore(root)
    with open(busybox_rootfs_tar, "rb") as f:
        image = import_rootfs(f, store.content, config={"Cmd": ["sh"]})
    store.tag(parse_reference(BASE), store.put_image(image))
    yield store
    release_root(root)


@pytest.fixture(scope="module")
def docker_env(wharfie_store, tmp_path_factory):
    """A private dockerd with the same base image, loaded from a ``wharfie save``."""
    saved = tmp_path_factory.mktemp("parity-base") / "base.tar"
    subprocess.run([sys.executable, "-m", "wharfie", "--root", str(wharfie_store.root),
                    "save", "-o", str(saved), BASE], check=True, capture_output=True)
    with dockerd_daemon() as env:
        subprocess.run([DOCKER, "load", "-i", str(saved)], env=env, check=True,
                       capture_output=True)
        yield env


def compare(docker: tuple | str, mine: tuple | str) -> list[str]:
    if isinstance(docker, str) or isinstance(mine, str):
        return [] if docker == mine else [f"docker: {_state(docker)}, wharfie: {_state(mine)}"]
    return [f"config {d}" for d in differences(docker[0], mine[0])] + \
        [f"file {d}" for d in differences(docker[1], mine[1])]


def _state(view: tuple | str) -> str:
    return view if isinstance(view, str) else "built"


def test_builds_match_docker(docker_env, wharfie_store, tmp_path, capsys):
    for case in CASES:
        write_context(case, tmp_path / "ctx" / case.name)
    with ThreadPoolExecutor(6) as pool:
        theirs = {c.name: pool.submit(docker_view, docker_env, c, tmp_path / "ctx" / c.name,
                                      tmp_path / f"{c.name}.tar") for c in CASES}
        mine = {c.name: wharfie_view(wharfie_store, c, tmp_path / "ctx" / c.name)
                for c in CASES}
        diffs = {name: compare(theirs[name].result(), mine[name]) for name in mine}
    same = sum(not d for d in diffs.values())
    report = [f"{name}:\n    " + "\n    ".join(d) for name, d in diffs.items() if d]
    with capsys.disabled():
        print("\n" + "\n".join(report))
        print(f"\n{same} of {len(CASES)} identical to docker")
    assert same >= IDENTICAL_FLOOR, f"{same} of {len(CASES)} identical to docker"
