"""The S3 driver (boto3): every key an object in one bucket, so several servers on several
machines can serve the same registry. Credentials come from boto3's usual sources
(environment, shared config, instance role)."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from wharfie.errors import WharfieError
from wharfie.server.storage import Driver, Stat

TOUCHED = "_touched/"  # markers that stand for the mtime of objects too big to copy
LOCKS = "_locks/"  # lock objects, created with a conditional put
LOCK_STALE = 30.0  # a lock older than this was left by a dead holder


class _Counting:
    def __init__(self, inner: BinaryIO) -> None:
        self.inner, self.size = inner, 0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.size += len(data)
        return data


class S3Driver(Driver):
    blocking = True
    copy_limit = 5 << 30  # the largest object one CopyObject may copy

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, prefix: str = "",
                 spool: Path, region: str | None = None, redirect: bool = False) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise WharfieError("the S3 driver needs boto3: pip install 'wharfie[s3]'") from None
        from botocore.exceptions import ClientError

        self._ClientError = ClientError
        self.bucket = bucket
        self.redirect = redirect
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.s3 = boto3.client(
            "s3", endpoint_url=endpoint_url,
            region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            config=Config(max_pool_connections=32, retries={"max_attempts": 5,
                                                             "mode": "standard"}))
        self._spool = spool
        self._spool.mkdir(parents=True, exist_ok=True)
        try:
            self.s3.head_bucket(Bucket=bucket)
        except ClientError as e:
            if self._code(e) not in ("404", "NoSuchBucket"):
                raise WharfieError(f"cannot use bucket {bucket}: {e}") from None
            try:
                self.s3.create_bucket(Bucket=bucket)
            except ClientError as e2:  # another server may have created it meanwhile
                if self._code(e2) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise WharfieError(f"cannot create bucket {bucket}: {e2}") from None

    @staticmethod
    def _code(e) -> str:
        return str(e.response.get("Error", {}).get("Code", ""))

    def _missing(self, e) -> bool:
        return self._code(e) in ("404", "NoSuchKey", "NotFound")

    def _k(self, key: str) -> str:
        return self.prefix + key

    def read(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self._k(key))["Body"].read()
        except self._ClientError as e:
            if self._missing(e):
                return None
            raise

    def write(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._k(key), Body=data)

    def write_from(self, key: str, stream: BinaryIO) -> int:
        counting = _Counting(stream)
        self.s3.upload_fileobj(counting, self.bucket, self._k(key))
        return counting.size

    def _head(self, key: str) -> Stat | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self._k(key))
        except self._ClientError as e:
            if self._missing(e):
                return None
            raise
        return Stat(head["ContentLength"], head["LastModified"].timestamp())

    def stat(self, key: str) -> Stat | None:
        st = self._head(key)
        if st is not None and st.size > self.copy_limit:
            marker = self._head(TOUCHED + key)
            if marker is not None and marker.mtime > st.mtime:
                return Stat(st.size, marker.mtime)
        return st

    def touch(self, key: str) -> None:
        """S3 cannot change a modification time: copy the object onto itself, or, past the
        single-copy limit, write a marker object whose time ``stat`` reports instead."""
        st = self._head(key)
        if st is None:
            return
        if st.size > self.copy_limit:
            self.s3.put_object(Bucket=self.bucket, Key=self._k(TOUCHED + key), Body=b"")
            return
        try:
            self.s3.copy_object(Bucket=self.bucket, Key=self._k(key),
                                CopySource={"Bucket": self.bucket, "Key": self._k(key)},
                                Metadata={"touched": str(time.time())},
                                MetadataDirective="REPLACE")
        except self._ClientError as e:
            if not self._missing(e):
                raise

    def open(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        args = {"Bucket": self.bucket, "Key": self._k(key)}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            args["Range"] = f"bytes={offset}-{end}"
        try:
            return self.s3.get_object(**args)["Body"]
        except self._ClientError as e:
            if self._missing(e):
                raise FileNotFoundError(key) from None
            raise

    def delete(self, key: str) -> bool:
        st = self._head(key)
        if st is None:
            return False
        self.s3.delete_object(Bucket=self.bucket, Key=self._k(key))
        if st.size > self.copy_limit:
            self.s3.delete_object(Bucket=self.bucket, Key=self._k(TOUCHED + key))
        return True

    def list(self, prefix: str) -> list[str]:
        base = self._k(prefix.rstrip("/") + "/")
        names: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/"):
            names.update(p["Prefix"][len(base):].rstrip("/") for p in page.get("CommonPrefixes", []))
            names.update(o["Key"][len(base):] for o in page.get("Contents", []))
        return sorted(n for n in names if n)

    def walk(self, prefix: str) -> Iterator[tuple[str, Stat]]:
        base = self._k(prefix.rstrip("/") + "/")
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=base):
            for o in page.get("Contents", []):
                yield (o["Key"][len(self.prefix):],
                       Stat(o["Size"], o["LastModified"].timestamp()))

    def move(self, src: str, dst: str) -> None:
        if self._head(src) is None:
            raise FileNotFoundError(src)
        self.s3.copy({"Bucket": self.bucket, "Key": self._k(src)}, self.bucket, self._k(dst))
        self.s3.delete_object(Bucket=self.bucket, Key=self._k(src))

    def put_file(self, key: str, path: Path) -> None:
        try:
            self.s3.upload_file(str(path), self.bucket, self._k(key))
        finally:
            path.unlink(missing_ok=True)

    def spool_dir(self) -> Path:
        return self._spool

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A lock object created with ``If-None-Match: *`` (S3's conditional write), so it
        holds across servers on several machines; one older than LOCK_STALE is broken."""
        key = self._k(LOCKS + name)
        owner = secrets.token_hex(8).encode()
        deadline = time.monotonic() + 2 * LOCK_STALE
        while True:
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=owner, IfNoneMatch="*")
                break
            except self._ClientError as e:
                if self._code(e) not in ("PreconditionFailed", "412",
                                         "ConditionalRequestConflict", "409"):
                    raise
            st = self._head(LOCKS + name)
            if st is not None and time.time() - st.mtime > LOCK_STALE:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
            elif time.monotonic() > deadline:
                raise WharfieError(f"storage lock {name} stays taken")
            time.sleep(0.02)
        try:
            yield
        finally:
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    def redirect_url(self, key: str) -> str | None:
        """A presigned GET, valid 20 minutes: blob bytes then never pass through the server."""
        if not self.redirect:
            return None
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._k(key)}, ExpiresIn=1200)
