"""ADD <url>: download a file into a directory, as BuildKit does.

The file is named after the URL's last path segment (``__unnamed__`` if none),
gets mode 0600 and the server's Last-Modified time, and ``--checksum`` is
verified before anything is copied into the image.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from wharfie.builder.filecopy import CopyError
from wharfie.errors import DigestMismatch

CHUNK = 1 << 20


def fetch_url(url: str, dest_dir: Path, checksum: str | None = None) -> str:
    """Download ``url`` into ``dest_dir``; returns the file name used."""
    import urllib3  # here, not at the top: it and ssl cost every build ~0.15 s of start-up

    base = posixpath.basename(unquote(urlparse(url).path))
    name = base if base not in ("", ".", "/", "..") else "__unnamed__"
    path = dest_dir / name
    h = hashlib.new(checksum.partition(":")[0] if checksum else "sha256")
    http = urllib3.PoolManager(retries=urllib3.Retry(total=3, backoff_factor=0.5))
    try:
        resp = http.request("GET", url, preload_content=False, timeout=60)
    except urllib3.exceptions.HTTPError as e:
        raise CopyError(f"ADD {url}: {e}") from None
    try:
        if resp.status != 200:
            raise CopyError(f"ADD {url}: HTTP {resp.status}")
        with open(path, "wb") as f:
            for chunk in resp.stream(CHUNK):
                h.update(chunk)
                f.write(chunk)
    except urllib3.exceptions.HTTPError as e:
        raise CopyError(f"ADD {url}: download failed: {e}") from None
    finally:
        resp.release_conn()
    got = f"{h.name}:{h.hexdigest()}"
    if checksum and got != checksum:
        path.unlink()
        raise DigestMismatch(f"ADD {url}: checksum mismatch: expected {checksum}, got {got}")
    os.chmod(path, 0o600)
    modified = resp.headers.get("Last-Modified")
    if modified:
        try:
            ts = parsedate_to_datetime(modified).timestamp()
            os.utime(path, (ts, ts))
        except (TypeError, ValueError):
            pass  # an unparsable date: keep the download time, as BuildKit does
    return name
