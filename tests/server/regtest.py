"""Helpers for the registry server tests: a plain HTTP client, OCI layouts, skopeo."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import urllib3
from tests.conftest import free_port, wait_for_port  # noqa: F401 - re-exported to the suite

from wharfie.testing import random

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


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
                   extra: dict | None = None, skip_existing: bool = False) -> tuple[str, bytes]:
        """Push a made-up image (one random 1000-byte layer unless ``layers`` are given;
        ``extra`` fields go into its manifest); returns (manifest digest, manifest bytes)."""
        image = random.image(1000, raw=True, contents=layers, manifest_fields=extra)
        for desc, data in image.push_order():
            self.push_blob(repo, data, skip_existing and desc != image.manifest.config)
        raw = image.manifest.raw
        r = self.push_manifest(repo, tag or sha(raw), raw)
        assert r.status == 201, r.data
        return sha(raw), raw


def errors_of(resp) -> list[str]:
    return [e["code"] for e in json.loads(resp.data)["errors"]]


def make_layout(path: Path, tag: str = "v1", layer_sizes: tuple[int, ...] = (200_000,)) -> str:
    """Write an OCI image layout of one made-up image, a gzip tar layer of random bytes per
    size; returns the manifest digest."""
    image = random.image(files=[{f"file{i}.bin": random.random_bytes(size)}
                                for i, size in enumerate(layer_sizes)], compression="gzip")
    return str(random.write_layout(path, image, tag))


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True,
                         timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed:\n{res.stderr}")
    return res
