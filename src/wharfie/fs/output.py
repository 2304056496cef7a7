"""Output paths a user names (``-o``, ``dest=``, ``--iidfile``): written without harming the host.

wharfie runs as root, so replacing whatever sits at the path is not harmless: an
``os.replace`` over ``-o /dev/null`` once turned the host's ``/dev/null`` into a regular
file. ``open_output`` owns the rule for files, as ``docker save -o`` behaves:

- a new path or an existing regular file: a temp file beside it, fsync, rename. Readers
  see the old file or the new one; on error the temp goes and the old file stays as it was;
- a symlink, device, FIFO or socket: opened and written through (no ``O_CREAT``), never
  unlinked or replaced, so ``-o /dev/stdout`` and ``-o /dev/null`` work (a regular file
  behind a symlink is truncated and written in place, as docker does);
- a directory: refused.

``output_dir`` owns the rule for directories (``--cache-to type=local,dest=DIR``): the
directory itself must not be a symlink, and it is pinned by a file descriptor opened with
``O_NOFOLLOW``, so swapping a symlink in for it halfway through cannot redirect the writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from wharfie.errors import Conflict, InvalidInput, NotFound, WharfieError
from wharfie.fs.atomic import fsync_dir


@contextlib.contextmanager
def open_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, by the rule in this module's docstring."""
    path = Path(path)
    st = _lstat(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{path} is a directory: name a file to write")
    if _replaceable(st):
        with _replacing(path, st) as f:
            yield f
    else:
        with _writing_through(path) as f:
            yield f


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise WharfieError(f"cannot write {path}: {e.strerror}") from None


def _replaceable(st: os.stat_result | None) -> bool:
    """Only a new path or a regular file (not a symlink to one) may be renamed over."""
    return st is None or stat.S_ISREG(st.st_mode)


@contextlib.contextmanager
def _replacing(path: Path, st: os.stat_result | None) -> Iterator[BinaryIO]:
    """Temp file beside ``path``, fsync, rename; the temp file is removed on any error."""
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    try:  # 0o666 less the umask for a new file, as open() gives; an old file keeps its own
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileNotFoundError:
        raise NotFound(f"cannot write {path}: directory {path.parent} does not exist") from None
    except OSError as e:
        raise WharfieError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if st is not None:  # as docker's in-place write would, keep the old file's mode
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                if os.geteuid() == 0:
                    os.fchown(fd, st.st_uid, st.st_gid)
            yield f
            f.flush()
            os.fsync(f.fileno())
        if not _replaceable(_lstat(path)):  # something else appeared there meanwhile
            raise Conflict(f"{path} was replaced by a non-regular file while writing it")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def _writing_through(path: Path) -> Iterator[BinaryIO]:
    """Open what is there for writing; without O_CREAT a dangling symlink creates nothing."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY)
    except FileNotFoundError:
        raise NotFound(f"cannot write {path}: it is a symlink to a missing file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory: name a file to write") from None
    except OSError as e:
        sock = e.errno == errno.ENXIO and stat.S_ISSOCK(os.stat(path).st_mode)
        raise WharfieError(f"cannot write {path}: {'a socket' if sock else e.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        yield f
        f.flush()
        if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            os.fsync(f.fileno())


@contextlib.contextmanager
def output_dir(path: str | os.PathLike) -> Iterator[Path]:
    """``path`` as a directory to write into, created if new, yielded as a pinned path.

    A symlink there is refused (someone may have put it there to aim root's writes
    elsewhere). The yielded ``/proc/self/fd/N`` path reaches the directory opened here, so
    writes land in it even if the name is swapped for a symlink meanwhile.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            what = "a symlink: name the directory itself" if path.is_symlink() else "not a directory"
            raise InvalidInput(f"{path} is {what}") from None
        raise WharfieError(f"cannot write to {path}: {e.strerror}") from None
    try:
        yield Path(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` by ``open_output``'s rule (``--iidfile``, ``--metadata-file``)."""
    with open_output(path) as f:
        f.write(data)
