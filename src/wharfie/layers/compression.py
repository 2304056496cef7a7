"""Streaming compression codecs for layers: gzip through isal, zstd, or none.

Compressed output is deterministic: gzip headers carry mtime 0 and no name. Each codec's
module loads when a stream needs it: a plain tar (a ``load``) loads none.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, BinaryIO

from wharfie.errors import InvalidInput
from wharfie.oci.mediatypes import compression_of

if TYPE_CHECKING:
    from wharfie.oci.image import Layer

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

# isal level 1, chosen by bench/bench_compress.py on the layer tar of a Debian minbase rootfs
# (170 MB; one thread; this 2-core host, shared, so best of 3 runs, over 3 runs of the bench):
#   level 0: 204-397 MB/s, ratio 2.24     level 2: 183-276 MB/s, ratio 2.54
#   level 1: 267-351 MB/s, ratio 2.51     level 3: 102-183 MB/s, ratio 2.59
#   stdlib zlib 6 (gzip's and Docker's default): 14-17 MB/s, ratio 2.82
# Level 0 is no faster within the noise but its blobs are 12% bigger; levels 2 and 3 cost
# 20-45% of the speed for 1-3% smaller blobs. Level 1 runs ~20x zlib's speed for 11% bigger
# blobs: pushing and building are bound by compression long before the network. When size
# matters more, zstd 3 (140-205 MB/s, ratio 3.38) is the better trade.
DEFAULT_GZIP_LEVEL = 1
DEFAULT_ZSTD_LEVEL = 3
GZIP_THREADS = min(4, os.cpu_count() or 1)


def sniff(head: bytes) -> str:
    """Compression of a stream judged by its first bytes: gzip, zstd, bzip2, xz or none."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return "none"


def decompress_stream(stream: BinaryIO, compression: str, *,
                      read_ahead: bool = False) -> BinaryIO:
    """Wrap ``stream`` so that reading it yields the uncompressed bytes. ``read_ahead``:
    gzip is read and inflated in a thread while the caller works (a one-pass walk of a
    380 MB layer: 1.32 -> 0.69 s)."""
    if compression == "gzip" and read_ahead:
        from isal import igzip_threaded  # each codec loads for the streams that need it

        return igzip_threaded.open(stream, "rb", threads=1)  # type: ignore[return-value]
    if compression == "gzip":
        from isal import igzip

        return igzip.IGzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    if compression == "bzip2":
        import bz2
        return bz2.BZ2File(stream)  # type: ignore[return-value]
    if compression == "xz":
        import lzma
        return lzma.LZMAFile(stream)  # type: ignore[return-value]
    if compression == "none":
        return stream
    raise InvalidInput(f"unsupported compression {compression!r}")


def open_uncompressed(stream: BinaryIO, media_type: str) -> BinaryIO:
    return decompress_stream(stream, compression_of(media_type))


def open_layer(layer: Layer) -> BinaryIO:
    """An image layer's tar itself (what its diffID is the hash of)."""
    return open_uncompressed(layer.open(), layer.media_type)


def auto_decompress(stream: BinaryIO, *, read_ahead: bool = False) -> BinaryIO:
    """Decompress by sniffing magic bytes (for tars of unknown provenance)."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)  # type: ignore[arg-type]
    return decompress_stream(buffered, sniff(buffered.peek(6)[:6]), read_ahead=read_ahead)


class _Flushable:
    """A write-only sink with the ``flush`` isal's threaded writer calls."""

    def __init__(self, sink: BinaryIO) -> None:
        self.write = sink.write

    def flush(self) -> None:
        pass


class Compressor:
    """Incremental compressor: ``write`` chunks, ``finish`` once; output goes to ``sink``."""

    def __init__(self, sink: BinaryIO, compression: str, level: int | None = None) -> None:
        self.compression = compression
        self._sink = sink
        if compression == "gzip":
            # isal's threaded writer compresses 1 MiB blocks on GZIP_THREADS workers: 1.45x
            # the single-threaded speed on 2 cores (369 -> 556 MB/s on /usr data). Its output
            # is the same for any thread count (header mtime 0, no name), so layers stay
            # reproducible. It keeps each chunk until a worker takes it: write() copies.
            from isal import igzip_threaded

            self._f = igzip_threaded.open(
                _Flushable(sink), "wb", compresslevel=DEFAULT_GZIP_LEVEL if level is None else level,
                threads=GZIP_THREADS)
        elif compression == "zstd":
            # threads=-1: one worker per core. zstd's streaming multi-threaded output is the
            # same for any number of workers (facebook/zstd#2238), so layers stay reproducible
            # across machines, and the big-file bench goes from 45 to ~130 MB/s on 2 cores.
            import zstandard

            cctx = zstandard.ZstdCompressor(level=DEFAULT_ZSTD_LEVEL if level is None else level,
                                            threads=-1)
            self._f = cctx.stream_writer(sink, closefd=False)
        elif compression == "none":
            self._f = None
        else:
            raise InvalidInput(f"unsupported compression {compression!r}")

    def write(self, data: bytes | memoryview) -> None:
        if self._f is None:
            self._sink.write(data)
        elif self.compression == "gzip":
            self._f.write(bytes(data))  # the caller may reuse its buffer at once
        else:
            self._f.write(data)

    def finish(self) -> None:
        if self._f is not None:
            if self.compression == "zstd":
                import zstandard

                self._f.flush(zstandard.FLUSH_FRAME)
            self._f.close()
            self._f = None


@cache
def decode_errors() -> tuple[type[BaseException], ...]:
    """What reading a corrupt tar or compressed stream raises (beside the system's own
    OSErrors). A function: an ``except`` clause evaluates it only when something was raised,
    so the codecs' modules load only for the work that uses them."""
    import lzma
    import tarfile
    import zlib

    import zstandard
    from isal import isal_zlib

    return (tarfile.TarError, EOFError, ValueError, OSError, zlib.error, isal_zlib.error,
            zstandard.ZstdError, lzma.LZMAError)


@contextlib.contextmanager
def corrupt_input_as(what: str) -> Iterator[None]:
    """A corrupt tar or compressed stream read inside becomes one ``InvalidInput``
    (``<what>: <reason>``); a system error (disk full, EIO, permissions) passes as it is."""
    try:
        yield
    except decode_errors() as e:
        if not _is_corrupt(e):
            raise
        raise InvalidInput(f"{what}: {_reason(e)}") from None


def _is_corrupt(e: BaseException) -> bool:
    """True for a decoding failure; False for a system error."""
    if isinstance(e, OSError):
        return e.errno is None  # BadGzipFile and friends carry no errno
    return isinstance(e, decode_errors())


def _reason(e: BaseException) -> str:
    """A one-line reason for a corrupt input."""
    text = str(e) or type(e).__name__
    if isinstance(e, EOFError) or "unexpected end" in text or "ended before" in text:
        return "unexpected end of data (truncated?)"
    return text
