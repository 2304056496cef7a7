"""The S3 driver (boto3): every key an object in one bucket, so several servers on several
machines can serve the same registry. Credentials come from boto3's usual sources
(environment, shared config, instance role); the region from ``region``, ``AWS_REGION`` or
``AWS_DEFAULT_REGION``. Only plain S3 calls are used (PutObject, CopyObject and explicit
multipart uploads, never boto3's managed transfers), so S3-compatible stores such as
Swift's s3api work as AWS does."""

from __future__ import annotations

import contextlib
import os
import random
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
PART = 16 << 20  # multipart part size; smaller objects are one PutObject
TOUCH_COPY_MAX = 1 << 20  # objects up to this size are touched by a copy onto themselves
CONNECT_TIMEOUT, READ_TIMEOUT, ATTEMPTS = 5.0, 60.0, 3


def _read_full(stream: BinaryIO, n: int) -> bytes:
    """Exactly ``n`` bytes, fewer only at the end of the stream."""
    out = bytearray()
    while len(out) < n:
        data = stream.read(n - len(out))
        if not data:
            break
        out += data
    return bytes(out)


def _ask_newest(request, **_) -> None:
    request.headers["X-Newest"] = "true"


class S3Driver(Driver):
    blocking = True
    copy_limit = 5 << 30  # the largest object one CopyObject may copy

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, prefix: str = "",
                 spool: Path, region: str | None = None, redirect: bool = False,
                 addressing_style: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise WharfieError("the S3 driver needs boto3: pip install 'wharfie[s3]'") from None
        from botocore.exceptions import BotoCoreError, ClientError

        self._ClientError = ClientError
        self.bucket = bucket
        self.redirect = redirect
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.region = (region or os.environ.get("AWS_REGION")
                       or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
        style = (addressing_style or os.environ.get("WHARFIE_S3_ADDRESSING_STYLE")
                 or ("path" if endpoint_url else "auto"))
        if style not in ("path", "virtual", "auto"):
            raise WharfieError(f"S3 addressing style {style!r}: use path, virtual or auto")
        # Bounded: against a dead store a call fails after ATTEMPTS connect timeouts. A
        # session of its own: boto3's default one keeps the first credentials it resolved,
        # so a driver made later with other credentials in the environment would use them.
        self.s3 = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=self.region,
            config=Config(max_pool_connections=32, connect_timeout=CONNECT_TIMEOUT,
                          read_timeout=READ_TIMEOUT, s3={"addressing_style": style},
                          retries={"total_max_attempts": ATTEMPTS, "mode": "standard"}))
        # Swift answers a read from any one replica, which may have missed the last write
        # while its node was down; X-Newest asks for the newest copy, so an object written
        # again (an index, an upload's info) is never read stale. Others ignore it. Added
        # after signing: presigned URLs stay as they were.
        for op in ("GetObject", "HeadObject"):
            self.s3.meta.events.register(f"before-send.s3.{op}", _ask_newest)
        self._spool = spool
        self._spool.mkdir(parents=True, exist_ok=True)
        self._conditional_puts = True  # False once the store refuses If-None-Match
        self._where = f"bucket {bucket} at {endpoint_url or 'AWS'} (region {self.region})"
        try:
            self.s3.head_bucket(Bucket=bucket)
        except BotoCoreError as e:
            raise WharfieError(f"cannot reach {self._where}: {e}") from None
        except ClientError as e:
            if self._code(e) in ("400", "301", "AuthorizationHeaderMalformed",
                                 "PermanentRedirect"):
                headers = e.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                served = headers.get("x-amz-bucket-region")
                raise WharfieError(
                    f"cannot use {self._where}: wrong region "
                    f"({'the store says ' + served if served else 'the store refused it'}); "
                    "set AWS_REGION to the store's location") from None
            if self._code(e) not in ("404", "NoSuchBucket"):
                raise WharfieError(f"cannot use {self._where}: {e}") from None
            self._create_bucket()

    def _create_bucket(self) -> None:
        args: dict = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.s3.create_bucket(**args)
        except self._ClientError as e:  # another server may have created it meanwhile
            code = self._code(e)
            if code in ("InvalidLocationConstraint", "IllegalLocationConstraintException"):
                raise WharfieError(f"cannot create {self._where}: wrong region ({code}); "
                                   "set AWS_REGION to the store's location") from None
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise WharfieError(f"cannot create {self._where}: {e}") from None

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
        """One PutObject when the stream fits in a part, else an explicit multipart upload:
        no managed transfer, whose defaults (checksums, copy preconditions) change between
        boto3 versions and which S3-compatible stores do not all accept."""
        data = _read_full(stream, PART)
        if len(data) < PART:
            self.write(key, data)
            return len(data)
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket,
                                                    Key=self._k(key))["UploadId"]
        parts, size = [], 0
        try:
            while data:
                n = len(parts) + 1
                etag = self.s3.upload_part(Bucket=self.bucket, Key=self._k(key),
                                           UploadId=upload_id, PartNumber=n, Body=data)["ETag"]
                parts.append({"PartNumber": n, "ETag": etag})
                size += len(data)
                data = _read_full(stream, PART)
            self._complete(key, upload_id, parts)
        except BaseException:
            self._abort(key, upload_id)
            raise
        return size

    def _complete(self, key: str, upload_id: str, parts: list[dict]) -> None:
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self._k(key),
                                          UploadId=upload_id, MultipartUpload={"Parts": parts})

    def _abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):  # best effort: the original error is raised
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self._k(key),
                                           UploadId=upload_id)

    def _head(self, key: str) -> Stat | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self._k(key))
        except self._ClientError as e:
            if self._missing(e):
                return None
            raise
        return Stat(head["ContentLength"], head["LastModified"].timestamp())

    def _marked(self, size: int) -> bool:
        """Whether an object this big is touched by a marker rather than a copy."""
        return size > min(self.copy_limit, TOUCH_COPY_MAX)

    def stat(self, key: str) -> Stat | None:
        st = self._head(key)
        if st is not None and self._marked(st.size):
            marker = self._head(TOUCHED + key)
            if marker is not None and marker.mtime > st.mtime:
                return Stat(st.size, marker.mtime)
        return st

    def touch(self, key: str) -> None:
        """S3 cannot change a modification time: copy a small object (a link, a revision)
        onto itself, and for a bigger one write a marker whose time ``stat`` reports
        instead: a copy would rewrite it (and on Swift leak its multipart segments)."""
        st = self._head(key)
        if st is None:
            return
        if self._marked(st.size):
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
        if self._marked(st.size):
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
        """A server-side copy, then delete: one CopyObject up to its limit, else an explicit
        multipart of UploadPartCopy ranges. Never with copy-source preconditions: stores
        give multipart ETags in different forms (Swift answers them with 412)."""
        st = self._head(src)
        if st is None:
            raise FileNotFoundError(src)
        source = {"Bucket": self.bucket, "Key": self._k(src)}
        try:
            if st.size <= self.copy_limit:
                self.s3.copy_object(Bucket=self.bucket, Key=self._k(dst), CopySource=source)
            else:
                self._copy_parts(source, dst, st.size)
        except self._ClientError as e:
            if self._missing(e):
                raise FileNotFoundError(src) from None
            raise
        self.s3.delete_object(Bucket=self.bucket, Key=self._k(src))

    def _copy_parts(self, source: dict, dst: str, size: int) -> None:
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket,
                                                    Key=self._k(dst))["UploadId"]
        parts = []
        try:
            for n, start in enumerate(range(0, size, self.copy_limit), 1):
                end = min(start + self.copy_limit, size) - 1
                result = self.s3.upload_part_copy(
                    Bucket=self.bucket, Key=self._k(dst), UploadId=upload_id, PartNumber=n,
                    CopySource=source, CopySourceRange=f"bytes={start}-{end}")
                parts.append({"PartNumber": n, "ETag": result["CopyPartResult"]["ETag"]})
            self._complete(dst, upload_id, parts)
        except BaseException:
            self._abort(dst, upload_id)
            raise

    def put_file(self, key: str, path: Path) -> None:
        try:
            with open(path, "rb") as f:
                self.write_from(key, f)
        finally:
            path.unlink(missing_ok=True)

    def spool_dir(self) -> Path:
        return self._spool

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A lock object created with ``If-None-Match: *`` (S3's conditional write), so it
        holds across servers on several machines; one older than LOCK_STALE is broken.
        Stores without conditional writes (Swift's s3api) get ``_candidate_lock``."""
        deadline = time.monotonic() + 2 * LOCK_STALE
        take = self._conditional_lock if self._conditional_puts else self._candidate_lock
        key = take(name, deadline)
        if key is None:  # the store refused the conditional put
            key = self._candidate_lock(name, deadline)
        try:
            yield
        finally:
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    def _conditional_lock(self, name: str, deadline: float) -> str | None:
        key = self._k(LOCKS + name)
        owner = secrets.token_hex(8).encode()
        while True:
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=owner, IfNoneMatch="*")
                return key
            except self._ClientError as e:
                if self._code(e) in ("NotImplemented", "501"):
                    self._conditional_puts = False
                    return None
                if self._code(e) not in ("PreconditionFailed", "412",
                                         "ConditionalRequestConflict", "409"):
                    raise
            self._break_if_stale(LOCKS + name, name, deadline)

    def _candidate_lock(self, name: str, deadline: float) -> str:
        """Without conditional writes: put a candidate object, then list the candidates; it
        holds only if it is the only live one, else withdraw and retry after a random
        pause. Two writers both see each other (read-after-write listings) and both back
        off; neither can miss the other."""
        base = f"{LOCKS}{name}.candidates"
        mine = f"{base}/{secrets.token_hex(8)}"
        while True:
            self.write(mine, b"")
            others = [k for k, _ in self.walk(base) if k != mine]
            if not others:
                return self._k(mine)
            self.s3.delete_object(Bucket=self.bucket, Key=self._k(mine))
            for other in others:
                self._break_if_stale(other, name, deadline)
            time.sleep(random.uniform(0.01, 0.1))

    def _break_if_stale(self, key: str, name: str, deadline: float) -> None:
        st = self._head(key)
        if st is not None and time.time() - st.mtime > LOCK_STALE:
            self.s3.delete_object(Bucket=self.bucket, Key=self._k(key))
        elif time.monotonic() > deadline:
            raise WharfieError(f"storage lock {name} stays taken")
        else:
            time.sleep(0.02)

    def redirect_url(self, key: str) -> str | None:
        """A presigned GET, valid 20 minutes: blob bytes then never pass through the server."""
        if not self.redirect:
            return None
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._k(key)}, ExpiresIn=1200)
