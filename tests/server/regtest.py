"""Helpers for the registry server tests: a plain HTTP client, OCI layouts, skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import urllib3
from tests.conftest import free_port, wait_for_port  # noqa: F401 - re-exported to the suite

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Http:
    """A thin urllib3 wrapper that keeps the registry's base URL and optional auth."""

    def __init__(self, base: str, auth: tuple[str, str] | None = None, **pool) -> None:
        self.base = base
        self.pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=120), **pool)
        self.headers = urllib3.make_headers(basic_auth=":".join(auth)) if auth else {}

    def __call__(self, method: str, path: str, body=None, headers: dict | None = None,
                 **kw) -> urllib3.BaseHTTPResponse:
        url = path if path.startswith("http") else self.base + path
        return self.pool.request(method, url, body=body, headers={**self.headers,
                                                                  **(headers or {})}, **kw)

    def push_blob(self, repo: str, data: bytes, skip_existing: bool = False) -> str:
        """Upload ``data`` monolithically; with ``skip_existing`` first ask (HEAD) as docker
        does, and upload nothing if the repository already has it."""
        d = sha(data)
        if skip_existing and self("HEAD", f"/v2/{repo}/blobs/{d}").status == 200:
            return d
        r = self("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", body=data,
                 headers={"Content-Type": "application/octet-stream"})
        assert r.status == 201, r.data
        return d

    def push_manifest(self, repo: str, ref: str, raw: bytes, media_type: str = OCI_MANIFEST):
        return self("PUT", f"/v2/{repo}/manifests/{ref}", body=raw,
                    headers={"Content-Type": media_type})

    def push_image(self, repo: str, tag: str | None, layers: list[bytes] | None = None,
                   config: bytes | None = None, extra: dict | None = None,
                   skip_existing: bool = False) -> tuple[str, bytes]:
        """Push blobs and a manifest; returns (manifest digest, manifest bytes)."""
        layers = layers if layers is not None else [os.urandom(1000)]
        config = config or json.dumps({"architecture": "amd64", "os": "linux",
                                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "digest": self.push_blob(repo, config),
                          "size": len(config)},
               "layers": [{"mediaType": OCI_LAYER,
                           "digest": self.push_blob(repo, b, skip_existing),
                           "size": len(b)} for b in layers]}
        doc.update(extra or {})
        raw = json.dumps(doc).encode()
        r = self.push_manifest(repo, tag or sha(raw), raw)
        assert r.status == 201, r.data
        return sha(raw), raw


def errors_of(resp) -> list[str]:
    return [e["code"] for e in json.loads(resp.data)["errors"]]


def make_layout(path: Path, tag: str = "v1", layer_sizes: tuple[int, ...] = (200_000,),
                seed: bytes = b"") -> str:
    """Write an OCI image layout with gzip tar layers of random files; returns the
    manifest digest."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> dict:
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    layers, diff_ids = [], []
    for i, size in enumerate(layer_sizes):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            content = hashlib.sha256(seed + bytes([i])).digest() + os.urandom(size)
            info = tarfile.TarInfo(f"file{i}.bin")
            info.size = len(content)
            t.addfile(info, io.BytesIO(content))
        diff_ids.append(sha(buf.getvalue()))
        layers.append({"mediaType": OCI_LAYER, **put(gzip.compress(buf.getvalue(), 1, mtime=0))})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, **put(config)},
                           "layers": layers}).encode()
    desc = {"mediaType": OCI_MANIFEST, **put(manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag}}
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return desc["digest"]


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True,
                         timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed:\n{res.stderr}")
    return res
