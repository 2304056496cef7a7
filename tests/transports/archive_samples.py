"""Archives made by hand for the archive tests: legacy docker save, and broken ones."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

from wharfie.content.blobstore import ContentStore
from wharfie.errors import DigestMismatch, InvalidInput, NotFound
from wharfie.oci.image import Image
from wharfie.oci.reference import parse_reference
from wharfie.transports.archive import write_archive
from wharfie.transports.importer import import_rootfs


# Fixture bodies live here, not in a conftest.py (a second conftest module shadows the
# top-level one for suites that ``from conftest import``); test modules wrap them with
# ``content = pytest.fixture(archive_samples.content)``.
def content(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "content").ensure()


def busybox_image(busybox_rootfs_tar, content) -> Image:
    """The busybox rootfs imported as a one-layer image, as ``wharfie import`` makes it."""
    with open(busybox_rootfs_tar, "rb") as f:
        return import_rootfs(f, content, config={"Cmd": ["sh"]})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tar(entries: list[tuple[str, bytes | str | None]]) -> bytes:
    """A tar of (name, data) entries; data None is a directory, a str is a symlink target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def saved(image, *tags: str) -> bytes:
    out = io.BytesIO()
    write_archive(out, [(image, [parse_reference(t) for t in tags])])
    return out.getvalue()


def old_docker_save(layer_tars: list[bytes], tags: list[str]) -> tuple[bytes, bytes]:
    """A pre-25 ``docker save``: <v1id>/layer.tar per layer, <config>.json, manifest.json."""
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha(t)}" for t in layer_tars]},
    }).encode()
    entries: list[tuple[str, bytes | str | None]] = [(f"{sha(config)}.json", config)]
    layer_paths = []
    for i, t in enumerate(layer_tars):
        v1 = sha(b"v1-%d" % i)
        entries += [(v1, None), (f"{v1}/VERSION", b"1.0"), (f"{v1}/json", b"{}"),
                    (f"{v1}/layer.tar", t)]
        layer_paths.append(f"{v1}/layer.tar")
    manifest = [{"Config": f"{sha(config)}.json", "RepoTags": tags, "Layers": layer_paths}]
    entries += [("manifest.json", json.dumps(manifest).encode()),
                ("repositories", json.dumps({t.split(":")[0]: {t.split(":")[1]: sha(b"v1-0")}
                                             for t in tags}).encode())]
    return make_tar(entries), config


def _swap(data: bytes, name: str, new: bytes | None) -> bytes:
    entries = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            body = tf.extractfile(m).read() if m.isreg() else None
            if m.name == name:
                if new is None:
                    continue
                body = new
            entries.append((m.name, body))
    return make_tar(entries)


def bad_archives(image) -> dict[str, tuple[bytes, type, str]]:
    good = saved(image, "busybox:latest")
    (layer,) = image.layers()
    blob_name = f"blobs/sha256/{layer.digest.hex}"
    with tarfile.open(fileobj=io.BytesIO(good)) as tf:
        blob = tf.extractfile(blob_name).read()
        manifest = json.loads(tf.extractfile("manifest.json").read())
    corrupt = bytearray(blob)
    corrupt[len(corrupt) // 2] ^= 0xFF
    bad_tag = json.loads(json.dumps(manifest))
    bad_tag[0]["RepoTags"] = ["BusyBox:latest"]
    zipped = gzip.compress(good, mtime=0)
    corrupt_gzip = bytearray(zipped)
    corrupt_gzip[len(zipped) // 3: len(zipped) // 3 + 64] = b"\x5a" * 64
    corrupt_gzip = bytes(corrupt_gzip)
    return {
        "truncated": (good[: len(good) // 2], InvalidInput, "unexpected end of data"),
        "missing blob": (_swap(good, blob_name, None), NotFound, "not in the archive"),
        "digest mismatch": (_swap(good, blob_name, bytes(corrupt)), DigestMismatch,
                            "does not match its digest"),
        "bad RepoTags": (_swap(good, "manifest.json", json.dumps(bad_tag).encode()),
                         InvalidInput, "invalid reference 'BusyBox:latest' in manifest.json: repository name"),
        "bad repositories": (_swap(good, "repositories", b'{"busybox": {"bad tag!": "x"}}'),
                             InvalidInput, "invalid reference 'busybox:bad tag!' in repositories"),
        "dot-dot entry": (make_tar([("../x", b"evil")]) + good, InvalidInput,
                          "escapes the archive"),
        "absolute entry": (make_tar([("/etc/x", b"evil"), ("manifest.json", b"[]")]),
                           InvalidInput, "absolute path"),
        "escaping link": (make_tar([("layer.tar", "../../etc/passwd")]), InvalidInput,
                          "points outside the archive"),
        "not a tar": (b"hello, this is not an archive" * 100, InvalidInput, "invalid archive"),
        "no manifest": (make_tar([("hello.txt", b"hi")]), InvalidInput, "no manifest.json"),
        "corrupt gzip": (corrupt_gzip, InvalidInput, "invalid archive: "),
        "truncated gzip": (zipped[: len(zipped) // 2], InvalidInput, "unexpected end of data"),
    }


BAD_CASES = ["truncated", "missing blob", "digest mismatch", "bad RepoTags", "bad repositories",
             "dot-dot entry", "absolute entry", "escaping link", "not a tar", "no manifest",
             "corrupt gzip", "truncated gzip"]


