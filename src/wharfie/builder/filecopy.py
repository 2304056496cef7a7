"""COPY and ADD: Docker's rules for sources, wildcards, destinations and ownership.

Sources are read from a source root (the filtered build context or another
stage's root filesystem) and written into the target root filesystem with
every path resolved inside it (``runtime.rootfs.resolve``).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from wharfie.builder.chmod import ModeSpec
from wharfie.builder.context.dockerignore import PatternMatcher
from wharfie.errors import InvalidInput, WharfieError
from wharfie.fs.inroot import MAX_SYMLINKS
from wharfie.fs.inroot import resolve as secure_join
from wharfie.layers.apply import extract_tar
from wharfie.layers.compression import decode_errors, decompress_stream, sniff
from wharfie.layers.diff import read_xattrs, sort_key
from wharfie.layers.writer import Planned
from wharfie.parallel import each

_WILDCARD = re.compile(r"[*?\[]")


COPY_THREADS = min(4, os.cpu_count() or 1)
PARALLEL_FROM = 64  # files in one COPY; fewer are copied in this thread
DEFAULT_ACL = "system.posix_acl_default"  # what a directory's new entries inherit

class CopyError(WharfieError):
    """A COPY or ADD that cannot be carried out as written."""


@dataclass
class CopyOptions:
    """The flags of one COPY or ADD, as the copy applies them."""

    chown: tuple[int, int] | None = None
    chmod: ModeSpec | None = None
    parents: bool = False
    excludes: list[str] = field(default_factory=list)
    ignore: PatternMatcher | None = None  # .dockerignore, for context sources only
    extract_archives: bool = False  # ADD
    replace_dirs: bool = False  # a file replaces a directory (ADD of an archive)
    keep_owners: bool = False  # a stage's or image's files keep theirs; the context is root's
    # files with several names already copied ((st_dev, st_ino) -> host path): hard links
    # stay hard links, as BuildKit's copier keeps them
    linked: dict[tuple[int, int], Path] = field(default_factory=dict, repr=False)
    link_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # directories made or checked by this copy (path in the image -> host path): a tree of
    # 20k files would otherwise resolve its parents component by component 20k times
    dirs_done: dict[str, Path] = field(default_factory=dict, repr=False)


def _component_regex(component: str) -> re.Pattern[str]:
    """Go's filepath.Match for one path component."""
    out, i = "", 0
    while i < len(component):
        c = component[i]
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = component.find("]", i + 2)
            if j == -1:
                raise CopyError(f"syntax error in pattern {component!r}")
            body = component[i + 1:j]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = j
        elif c == "\\" and i + 1 < len(component):
            i += 1
            out += re.escape(component[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z", re.DOTALL)


def expand_sources(src_root: Path, pattern: str, ignore: PatternMatcher | None) -> list[str]:
    """Relative paths under ``src_root`` that ``pattern`` names, after .dockerignore."""
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        parts = [p for p in os.path.normpath("/" + "/".join(parts)).split("/") if p]
    matches = [""]
    for part in parts:
        nxt: list[str] = []
        for base in matches:
            if _WILDCARD.search(part):
                rx = _component_regex(part)
                try:
                    names = sorted(os.listdir(secure_join(src_root, base)))
                except (NotADirectoryError, FileNotFoundError):
                    continue
                nxt.extend(f"{base}/{n}".lstrip("/") for n in names if rx.match(n))
            else:
                cand = f"{base}/{part}".lstrip("/")
                if _exists(src_root, cand):
                    nxt.append(cand)
        matches = nxt
    if ignore is not None:
        matches = [m for m in matches if m == "" or filtered_path(src_root, m, ignore)]
    return matches


def expand_all(src_root: Path, sources: list[str],
               ignore: PatternMatcher | None) -> list[tuple[str, list[str]]]:
    """Each source with what it names. A missing source fails; a wildcard may match
    nothing (BuildKit's AllowEmptyWildcard: docker builds ``COPY nomatch* /d/``)."""
    out = []
    for src in sources:
        found = expand_sources(src_root, src, ignore)
        if not found and not _WILDCARD.search(src):
            raise CopyError(f'"{src}": not found (not in the build context, or excluded '
                            f"by .dockerignore)")
        out.append((src, found))
    return out


def _exists(src_root: Path, rel: str) -> bool:
    """Whether ``rel`` names something; a path through a file names nothing (a wildcard
    that matched a file, then ``/sub``: that match is simply dropped)."""
    try:
        return os.path.lexists(secure_join(src_root, rel))
    except InvalidInput:
        return False


def filtered_path(src_root: Path, path: str, ignore: PatternMatcher | None) -> str | None:
    """Where ``path`` leads in the context after .dockerignore: the real path under
    ``src_root`` (relative, symlinks followed but clamped to the root), or None if it is
    not there. Ignored files are absent from the context before anything resolves, as in
    BuildKit, so neither a link on the way nor the file reached may be ignored."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        rel = "/".join(done + [name])
        try:
            st = os.lstat(src_root / rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISLNK(st.st_mode):
            done.append(name)
            continue
        if ignore is not None and ignore.hides(rel, False):
            return None
        links += 1
        if links > MAX_SYMLINKS:
            raise CopyError(f"{path}: too many levels of symbolic links")
        target = os.readlink(src_root / rel)
        if target.startswith("/"):
            done = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    real = "/".join(done) or "."
    if ignore is not None and ignore.hides(real, os.path.isdir(src_root / real)):
        return None
    return real


def copy_sources(src_root: Path, sources: list[str], rootfs: Path, dest: str, workdir: str,
                 opts: CopyOptions) -> None:
    """Carry out ``COPY sources dest`` from ``src_root`` into ``rootfs``."""
    dest = clean_dest(dest, workdir)
    dest_is_dir = dest.endswith("/")
    resolved = [(src, f) for src, found in expand_all(src_root, sources, opts.ignore)
                for f in found]
    excludes = PatternMatcher(opts.excludes) if opts.excludes else None
    for _pattern, rel in resolved:
        if excludes is not None and rel and excludes.excludes(rel):
            continue
        src = secure_join(src_root, rel)
        st = os.lstat(src)
        if opts.parents:
            target = dest.rstrip("/") + "/" + rel
            if stat.S_ISDIR(st.st_mode):
                _copy_tree(src, rootfs, target, rel, opts, excludes, src_root)
            else:
                _copy_entry(src, st, rootfs, target, opts)
            continue
        if stat.S_ISDIR(st.st_mode):
            _copy_tree(src, rootfs, dest, rel, opts, excludes, src_root)
        elif opts.extract_archives and stat.S_ISREG(st.st_mode) and _is_archive(src):
            extract_archive(src, rootfs, dest, opts)
        else:
            into_dir = dest_is_dir or secure_join(rootfs, dest).is_dir()
            target = dest.rstrip("/") + "/" + os.path.basename(rel) if into_dir else \
                _followed(rootfs, dest)
            _copy_entry(src, st, rootfs, target, opts)


def clean_dest(dest: str, workdir: str) -> str:
    """The destination as BuildKit's file op sees it: joined to the working directory and
    cleaned as text before any symlink is followed (``/link/../`` is ``/``). A trailing
    ``/``, or a destination of ``.``, says "a directory" and is kept; ``/n/.`` is ``/n``."""
    path = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
    clean = posixpath.normpath("/" + path.lstrip("/"))
    if clean != "/" and (dest.endswith("/") or dest in (".", "")):
        clean += "/"
    return clean


def _followed(rootfs: Path, dest: str) -> str:
    """``dest`` with its symlinks followed, the last one too (inside ``rootfs``): a file
    copied onto a link to a file, or a dangling one, is written where the link points."""
    rel = os.path.relpath(secure_join(rootfs, dest), rootfs)
    return "/" if rel == "." else "/" + rel


def _ensure_dir(rootfs: Path, path: str, opts: CopyOptions) -> Path:
    """Create ``path`` in ``rootfs`` as BuildKit does and return its host path."""
    done = opts.dirs_done.get(path)
    if done is None:
        done = opts.dirs_done[path] = make_dirs(rootfs, path, opts.chown)
    return done


def make_dirs(rootfs: Path, path: str, owner: tuple[int, int] | None) -> Path:
    """BuildKit's ``MkdirAll``: every missing directory on ``path`` made 0755 and owned by
    ``owner`` (the parents too, not just the last one; root without one); existing ones
    are left alone. The host path of ``path``."""
    cur = "/"
    for part in [p for p in posixpath.normpath("/" + path).split("/") if p]:
        cur = posixpath.normpath(f"{cur}/{part}")  # cleaned first: /a/../b makes no /a
        host = secure_join(rootfs, cur)
        if not os.path.lexists(host):
            os.makedirs(host, 0o755)  # a followed symlink may point into missing directories
            os.chmod(host, 0o755)
            if owner is not None:
                os.lchown(host, *owner)
        elif not host.is_dir():
            raise CopyError(f"cannot copy to {path}: {cur} is not a directory")
    return secure_join(rootfs, path)


def _copy_tree(src_dir: Path, rootfs: Path, dest: str, rel: str, opts: CopyOptions,
               excludes: PatternMatcher | None, src_root: Path) -> None:
    _ensure_dir(rootfs, dest, opts)  # an existing directory keeps its owner and mode
    files: list[tuple[Path, os.stat_result, str]] = []
    for dirpath, dirnames, filenames in os.walk(src_dir):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, src_dir)
        real_dir = os.path.relpath(dirpath, src_root)  # .dockerignore judges where it is
        keep = []
        for name in dirnames:
            sub_rel = os.path.normpath(os.path.join(rel, rel_dir, name))
            if _skip(sub_rel, _ignored(real_dir, name, opts.ignore, True), excludes):
                continue
            keep.append(name)
            p = Path(dirpath) / name
            target = dest.rstrip("/") + "/" + os.path.normpath(os.path.join(rel_dir, name))
            _copy_entry(p, os.lstat(p), rootfs, target, opts)
        dirnames[:] = [n for n in keep if not os.path.islink(Path(dirpath) / n)]
        for name in sorted(filenames):
            sub_rel = os.path.normpath(os.path.join(rel, rel_dir, name))
            if _skip(sub_rel, _ignored(real_dir, name, opts.ignore, False), excludes):
                continue
            p = Path(dirpath) / name
            target = dest.rstrip("/") + "/" + os.path.normpath(os.path.join(rel_dir, name))
            files.append((p, os.lstat(p), target))
    _copy_files(files, rootfs, opts)
    # Directories get their source mtimes after their content is written.
    for dirpath, dirnames, _ in os.walk(src_dir, topdown=False):
        for name in dirnames:
            p = Path(dirpath) / name
            rel_path = os.path.normpath(os.path.join(os.path.relpath(dirpath, src_dir), name))
            host = secure_join(rootfs, dest.rstrip("/") + "/" + rel_path, follow_last=False)
            if host.is_dir() and not host.is_symlink():
                st = os.lstat(p)
                os.utime(host, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_files(files: list[tuple[Path, os.stat_result, str]], rootfs: Path,
                opts: CopyOptions) -> None:
    """Copy non-directory entries whose directories exist, a directory per thread: creating
    a file is mostly kernel work that releases the GIL, but two threads creating files in
    one directory take turns on its lock."""
    by_dir: dict[str, list[tuple[Path, os.stat_result, str]]] = {}
    for entry in files:
        by_dir.setdefault(entry[2].rpartition("/")[0], []).append(entry)

    def copy_dir(entries: list[tuple[Path, os.stat_result, str]]) -> None:
        for src, st, target in entries:
            _copy_entry(src, st, rootfs, target, opts)

    if len(files) < PARALLEL_FROM or len(by_dir) < 2:
        copy_dir(files)
        return
    each(copy_dir, by_dir.values(), COPY_THREADS)  # the first error (or Ctrl-C) stops the rest


def _skip(rel: str, ignored: bool, excludes: PatternMatcher | None) -> bool:
    return ignored or bool(excludes and excludes.excludes(rel))


def _ignored(real_dir: str, name: str, ignore: PatternMatcher | None, is_dir: bool) -> bool:
    """Whether .dockerignore removes an entry: judged by where it really is in the context
    (``real_dir``), not by the path, perhaps through a symlink, that COPY named."""
    return bool(ignore and ignore.patterns and
                ignore.hides(name if real_dir == "." else f"{real_dir}/{name}", is_dir))


def _copy_entry(src: Path, st: os.stat_result, rootfs: Path, target: str,
                opts: CopyOptions) -> None:
    """Copy one non-recursive entry to ``target`` (a path inside ``rootfs``)."""
    parent, _, name = target.rstrip("/").rpartition("/")
    host_parent = _ensure_dir(rootfs, parent or "/", opts)
    host = host_parent / name
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if os.path.lexists(host) and (host.is_symlink() or not host.is_dir()):
            if not opts.replace_dirs:  # BuildKit's copier: never through a link, no merge
                raise CopyError(f"cannot copy to non-directory: {target}")
            os.unlink(host)  # docker's untar replaces it
        if not os.path.lexists(host):
            os.mkdir(host)
    else:
        if os.path.lexists(host):
            if not host.is_dir() or host.is_symlink():
                os.unlink(host)
            elif opts.replace_dirs:  # an unpacked archive replaces, as docker's untar
                shutil.rmtree(host)
            else:
                raise CopyError(f"cannot overwrite directory {target} with a file")
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), host)
        elif stat.S_ISREG(mode) and st.st_nlink > 1:
            _link_or_copy(src, st, host, opts)
            return
        elif stat.S_ISREG(mode):
            shutil.copyfile(src, host, follow_symlinks=False)
        else:
            raise CopyError(f"cannot copy {src.name}: not a regular file, directory or symlink")
    _set_metadata(host, st, opts)


def _link_or_copy(src: Path, st: os.stat_result, host: Path, opts: CopyOptions) -> None:
    """A file with several names: the first one copied, the others hard links to it."""
    with opts.link_lock:
        first = opts.linked.get((st.st_dev, st.st_ino))
        if first is None:
            shutil.copyfile(src, host, follow_symlinks=False)
            _set_metadata(host, st, opts)
            opts.linked[(st.st_dev, st.st_ino)] = host
            return
    os.link(first, host)


def _set_metadata(host: Path, st: os.stat_result, opts: CopyOptions) -> None:
    """Owner (``--chown``, else the source's when it is kept, else root), mode, times."""
    mode = st.st_mode
    if opts.chown:
        uid, gid = opts.chown
    else:
        uid, gid = (st.st_uid, st.st_gid) if opts.keep_owners else (0, 0)
    os.lchown(host, uid, gid)
    if not stat.S_ISLNK(mode):
        perm = opts.chmod.apply(mode) if opts.chmod else stat.S_IMODE(mode)
        os.chmod(host, perm)
    os.utime(host, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _is_archive(path: Path) -> bool:
    """A tar, possibly gzip/bzip2/xz/zstd compressed: what ADD unpacks."""
    with open(path, "rb") as f:
        head = f.read(512)
        kind = sniff(head)
        if kind != "none":
            f.seek(0)
            try:
                head = decompress_stream(f, kind).read(512)
            except decode_errors():
                return False  # compressed, but not something we can read: copy it as a file
    return len(head) >= 262 and head[257:262] == b"ustar"


def extract_archive(archive: Path, rootfs: Path, dest: str, opts: CopyOptions) -> None:
    """Unpack a local tar into ``dest``: first into a private directory by wharfie's own
    applier (every path and link, hard or symbolic, resolved inside it), then copied in
    with every path resolved inside the root."""
    with tempfile.TemporaryDirectory(dir=rootfs.parent) as tmp, open(archive, "rb") as raw:
        stream = decompress_stream(raw, sniff(raw.peek(6)[:6]))
        try:
            extract_tar(stream, tmp)
        except (WharfieError, *decode_errors()) as e:
            raise CopyError(f"ADD {archive.name}: cannot unpack: {e}") from None
        # docker's untar: the archive's owners and modes, whatever --chown and --chmod say;
        # only the directories made for ``dest`` get the --chown owner
        _ensure_dir(rootfs, dest, CopyOptions(chown=opts.chown))
        keep_owner = CopyOptions(keep_owners=True, replace_dirs=True)
        _copy_tree_preserving(Path(tmp), rootfs, dest, keep_owner)


def _copy_tree_preserving(src_dir: Path, rootfs: Path, dest: str, opts: CopyOptions) -> None:
    """Copy an unpacked archive keeping its owners unless ``--chown`` says otherwise."""
    _ensure_dir(rootfs, dest, opts)
    for dirpath, dirnames, filenames in os.walk(src_dir):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = os.path.relpath(p, src_dir)
            _copy_entry(p, st, rootfs, dest.rstrip("/") + "/" + rel, opts)
        dirnames[:] = [n for n in dirnames if not os.path.islink(Path(dirpath) / n)]


def plan_copy(walked: list[tuple[str, list[tuple[str, str, os.stat_result]]]], dest: str,
              workdir: str, opts: CopyOptions, parent_root: Path | None,
              now_ns: int) -> list[Planned] | None:
    """The layer ``copy_sources`` would make on top of ``parent_root`` (None: an empty
    root), as sorted entries planned from the context's checksum walk (``walked``: each
    source path found, with the entries under it, itself first): written straight into a
    layer, no file is created and no directory walked again. None when only a real copy
    can tell: something copied would replace what the parent has (or go through one of
    its symlinks), two sources meet on one path, ``--parents``,
    ``--chown``, an archive to unpack, a source that is not a file, directory or symlink,
    or a .dockerignore with ``!`` exceptions (its walk judges links to directories apart)."""
    if opts.parents or opts.chown or opts.extract_archives or opts.keep_owners or \
            (opts.ignore is not None and opts.ignore.has_exceptions):
        return None
    dest = clean_dest(dest, workdir)
    top = dest.rstrip("/").lstrip("/")
    existing = _existing_ancestor(parent_root, top)
    if existing is None:
        return None
    plan = _Plan(existing, now_ns)
    excludes = PatternMatcher(opts.excludes) if opts.excludes else None
    for rel, entries in walked:
        if excludes is not None and rel and excludes.excludes(rel):
            continue
        _, src, st = entries[0]
        if stat.S_ISDIR(st.st_mode):
            inside = "" if os.path.normpath(rel) == "." else os.path.normpath(rel) + "/"
            ok = plan.made_dir(top) and all(
                plan.add(path, est, _under(top, entry_rel.removeprefix(inside)), opts)
                for entry_rel, path, est in entries[1:])
        else:
            into_dir = dest.endswith("/") or plan.is_dir(top)
            ok = plan.add(src, st, _under(top, os.path.basename(rel)) if into_dir else top, opts)
        if not ok:
            return None
    return plan.entries(parent_root)


def _under(top: str, name: str) -> str:
    return f"{top}/{name}" if top else name


def _existing_ancestor(parent_root: Path | None, top: str) -> str | None:
    """The deepest directory on the way to ``top`` (``top`` itself included) that the
    parent has ("" for the root), if every one on the way is a real directory."""
    if parent_root is None or not top:
        return ""
    parts = top.split("/")
    for i in range(len(parts)):
        try:
            st = os.lstat(parent_root.joinpath(*parts[:i + 1]))
        except FileNotFoundError:
            return "/".join(parts[:i])
        if not stat.S_ISDIR(st.st_mode):
            return None
    return top


class _Plan:
    """Entries of a planned COPY layer by path: the directories ``make_dirs`` would make
    (0755, root's, made now), then what is copied, with its source's mode and mtime."""

    def __init__(self, existing: str, now_ns: int) -> None:
        self.existing, self.now_ns = existing, now_ns
        self.by_path: dict[str, Planned] = {}
        self.inodes: dict[str, tuple[int, int]] = {}  # files with several names

    def is_dir(self, path: str) -> bool:
        e = self.by_path.get(path)
        return path == self.existing or (e is not None and stat.S_ISDIR(e.mode))

    def made_dir(self, path: str) -> bool:
        """``make_dirs(path)`` below the existing ancestor; False on a non-directory."""
        if path == self.existing or not path:
            return True
        if path in self.by_path:
            return self.is_dir(path)
        if not self.made_dir(path.rpartition("/")[0]):
            return False
        self.by_path[path] = Planned(path, stat.S_IFDIR | 0o755, self.now_ns)
        return True

    def add(self, src: str, st: os.stat_result, target: str, opts: CopyOptions) -> bool:
        """Plan one copied entry; False where a real copy must decide."""
        kind = stat.S_IFMT(st.st_mode)
        if target in self.by_path or kind not in (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK):
            return False
        if not self.made_dir(target.rpartition("/")[0]):
            return False
        if kind == stat.S_IFLNK:
            mode = stat.S_IFLNK | 0o777
        else:
            perm = opts.chmod.apply(st.st_mode) if opts.chmod else stat.S_IMODE(st.st_mode)
            mode = kind | (perm & 0o7777)
        self.by_path[target] = Planned(target, mode, st.st_mtime_ns, src,
                                       st.st_size if kind == stat.S_IFREG else 0)
        if kind == stat.S_IFREG and st.st_nlink > 1:
            self.inodes[target] = (st.st_dev, st.st_ino)
        return True

    def entries(self, parent_root: Path | None) -> list[Planned] | None:
        """The layer's entries in layer order, if all of them are new (None if one would
        replace what the parent has there). The existing ancestor gets new children, so
        its new mtime puts it in the layer; a file copied under several names is a hard
        link after its first one, as ``_link_or_copy`` makes it."""
        if parent_root is not None:
            below = parent_root / self.existing
            names = {p.removeprefix(self.existing + "/" if self.existing else "").split("/")[0]
                     for p in self.by_path}
            if any(os.path.lexists(below / n) for n in names) or \
                    DEFAULT_ACL in read_xattrs(str(below)):  # new entries would inherit it
                return None
        if self.by_path and self.existing and parent_root is not None:
            host = parent_root / self.existing
            st = os.lstat(host)
            self.by_path[self.existing] = Planned(self.existing, st.st_mode, self.now_ns,
                                                  uid=st.st_uid, gid=st.st_gid,
                                                  xattrs=read_xattrs(str(host)))
        out, first = [], {}
        for path in sorted(self.by_path, key=sort_key):
            entry, inode = self.by_path[path], self.inodes.get(path)
            if inode is not None and inode in first:
                entry = dataclasses.replace(entry, link_to=first[inode])
            elif inode is not None:
                first[inode] = path
            out.append(entry)
        return out
