"""Typed, validated instructions built from parser nodes.

The build engine consumes these dataclasses; nothing here is expanded yet
(see :mod:`wharfie.dockerfile.stages` for ARG scoping and word expansion).
Flags are validated here: an unknown flag, a flag on the wrong instruction or
a malformed value is a :class:`DockerfileError` naming the line.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.parser import INSTRUCTIONS, Heredoc, Node, parse_heredoc


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean X?)`` for a likely typo of one of ``choices``, else ``""``."""
    low = word.lower()
    for c in choices:
        # transpositions like RNU/RUN score low on ratio; sorted letters catch them.
        if len(low) > 1 and sorted(low) == sorted(c.lower()) and low != c.lower():
            return f" (did you mean {c}?)"
    import difflib  # only a misspelt name needs it

    match = difflib.get_close_matches(low, [c.lower() for c in choices], n=1, cutoff=0.6)
    if match:
        orig = next(c for c in choices if c.lower() == match[0])
        return f" (did you mean {orig}?)"
    return ""


# --- flags -------------------------------------------------------------------------------

_BOOL, _STRING, _LIST = "bool", "string", "list"


def _parse_flags(node: Node, spec: dict[str, str]) -> dict[str, str | bool | list[str]]:
    """Validate ``node.flags`` against ``spec`` (flag name -> kind); return their values."""
    out: dict[str, str | bool | list[str]] = {}
    instr = node.value.upper()
    for raw in node.flags:
        if not raw.startswith("--"):
            raise DockerfileError(f"{instr}: arguments to flags must start with --: {raw}")
        name, eq, value = raw[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            hint = suggest(name, list(spec)) if spec else ""
            hint = hint.replace("did you mean ", "did you mean --")
            raise DockerfileError(f"unknown flag: --{name} for {instr}{hint}")
        if kind == _BOOL:
            if not eq:
                out[name] = True
            elif value.lower() in ("true", "false"):
                out[name] = value.lower() == "true"
            else:
                raise DockerfileError(f"expecting boolean value for flag --{name}, not: {value}")
            continue
        if not eq:
            raise DockerfileError(f"missing a value on flag: --{name}")
        if kind == _LIST:
            lst = out.setdefault(name, [])
            assert isinstance(lst, list)
            lst.append(value)
        elif name in out:
            raise DockerfileError(f"duplicate flag specified: --{name}")
        else:
            out[name] = value
    return out


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
          "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration (``1m30s``, ``500ms``) in seconds."""
    s = text
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise DockerfileError(f"time: invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION.match(s, pos)
        if not m:
            raise DockerfileError(f"time: invalid duration {text!r}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


_CHMOD_OCTAL = re.compile(r"^[0-7]{1,4}$")
_CHMOD_SYMBOLIC = re.compile(r"^[ugoa]*[-+=][rwxXst]*(?:[-+=][rwxXst]*)*"
                             r"(?:,[ugoa]*[-+=][rwxXst]*(?:[-+=][rwxXst]*)*)*$")
_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_MOUNT_KEYS = {
    "bind": {"target", "dst", "destination", "source", "src", "from", "rw", "readwrite", "ro",
             "readonly", "type"},
    "cache": {"target", "dst", "destination", "id", "sharing", "source", "src", "from", "mode",
              "uid", "gid", "ro", "readonly", "rw", "readwrite", "type"},
    "tmpfs": {"target", "dst", "destination", "size", "type"},
    "secret": {"id", "target", "dst", "destination", "required", "mode", "uid", "gid", "env",
               "type"},
    "ssh": {"id", "target", "dst", "destination", "required", "mode", "uid", "gid", "type"},
}


@dataclass
class Mount:
    """A ``RUN --mount`` spec, split into its type and key=value options."""

    type: str
    options: dict[str, str]

    @property
    def target(self) -> str | None:
        for k in ("target", "dst", "destination"):
            if k in self.options:
                return self.options[k]
        return None

    @property
    def source_stage(self) -> str | None:
        return self.options.get("from")


def parse_mount(spec: str) -> Mount:
    """Parse and validate one ``--mount`` value (``type=cache,target=/root/.cache``)."""
    opts: dict[str, str] = {}
    for part in spec.split(","):
        if not part:
            continue
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        opts[key] = value if eq else "true"
    mtype = opts.get("type", "bind")
    if mtype not in _MOUNT_TYPES:
        raise DockerfileError(f"unsupported mount type {mtype!r}{suggest(mtype, _MOUNT_TYPES)}")
    for key in opts:
        if key not in _MOUNT_KEYS[mtype]:
            raise DockerfileError(
                f"unexpected key {key!r} in --mount type={mtype}"
                f"{suggest(key, sorted(_MOUNT_KEYS[mtype]))}")
    if mtype in ("bind", "cache", "tmpfs") and Mount(mtype, opts).target is None:
        raise DockerfileError(f"--mount type={mtype} requires a target")
    if mtype == "cache" and opts.get("sharing", "shared") not in ("shared", "private", "locked"):
        raise DockerfileError(f"unsupported cache sharing mode {opts['sharing']!r}")
    return Mount(mtype, opts)


# --- instructions -------------------------------------------------------------------------


@dataclass
class Instruction:
    """Fields every instruction has: its name, source text and line range."""

    name: str
    line: int
    end_line: int
    original: str
    flags: list[str] = field(default_factory=list)


@dataclass
class From(Instruction):
    """FROM: the base image or stage, the new stage's name and ``--platform``."""

    base: str = ""
    stage_name: str | None = None
    as_keyword: str | None = None  # "AS" as written, for the casing lint
    stage_name_raw: str | None = None
    platform: str | None = None


@dataclass
class CommandLine(Instruction):
    """RUN, CMD and ENTRYPOINT: a command in exec form or a shell-form string."""

    command: list[str] = field(default_factory=list)
    shell_form: bool = True


@dataclass
class Run(CommandLine):
    """RUN: the command, its heredocs and ``--mount``/``--network``/``--security`` flags."""

    heredocs: list[Heredoc] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    network: str | None = None
    security: str | None = None


@dataclass
class Cmd(CommandLine):
    """CMD: the default command of the image."""


@dataclass
class Entrypoint(CommandLine):
    """ENTRYPOINT: the command the image always runs."""


@dataclass
class Shell(Instruction):
    """SHELL: the shell later shell-form commands run in."""

    shell: list[str] = field(default_factory=list)


@dataclass
class SourceContent:
    """An inline file given by a heredoc in COPY or ADD."""

    path: str
    data: str
    expand: bool


@dataclass
class Copy(Instruction):
    """COPY: sources (or heredoc contents) to a destination, with its flags."""

    sources: list[str] = field(default_factory=list)
    dest: str = ""
    contents: list[SourceContent] = field(default_factory=list)
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: list[str] = field(default_factory=list)


@dataclass
class Add(Copy):
    """ADD: COPY plus URLs, git, ``--checksum`` and archive unpacking."""

    checksum: str | None = None
    keep_git_dir: bool = False
    unpack: bool | None = None


@dataclass
class KeyValues(Instruction):
    """ENV and LABEL: ordered key/value pairs; ``legacy`` for the ``ENV k v`` form."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    legacy: bool = False


@dataclass
class Env(KeyValues):
    """ENV: variables of the image and of later steps."""


@dataclass
class Label(KeyValues):
    """LABEL: metadata of the image."""


@dataclass
class Arg(Instruction):
    """ARG: build arguments, each with its default if given."""

    args: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class Expose(Instruction):
    """EXPOSE: ports as written (``80``, ``53/udp``, ``8000-8010``)."""

    ports: list[str] = field(default_factory=list)


@dataclass
class Healthcheck(Instruction):
    """``test`` is ``["NONE"]``, ``["CMD", ...]`` or ``["CMD-SHELL", cmd]`` as in image config."""

    test: list[str] = field(default_factory=list)
    interval: float = 0.0
    timeout: float = 0.0
    start_period: float = 0.0
    start_interval: float = 0.0
    retries: int = 0


@dataclass
class Onbuild(Instruction):
    """ONBUILD: an instruction kept for images built on this one."""

    expression: str = ""
    trigger: Instruction | None = None


@dataclass
class Maintainer(Instruction):
    """MAINTAINER: the deprecated author field."""

    maintainer: str = ""


@dataclass
class Stopsignal(Instruction):
    """STOPSIGNAL: the signal that stops a container of the image."""

    signal: str = ""


@dataclass
class User(Instruction):
    """USER: ``user[:group]`` later steps and containers run as."""

    user: str = ""

    @property
    def group(self) -> str | None:
        return self.user.partition(":")[2] or None


@dataclass
class Volume(Instruction):
    """VOLUME: paths that are volumes in containers of the image."""

    paths: list[str] = field(default_factory=list)


@dataclass
class Workdir(Instruction):
    """WORKDIR: the working directory of later steps and containers."""

    path: str = ""


_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


def _base(node: Node) -> dict:
    return {"name": node.value.upper(), "line": node.start_line, "end_line": node.end_line,
            "original": node.original, "flags": list(node.flags)}


def _no_flags(node: Node) -> None:
    _parse_flags(node, {})


def _exactly_one(node: Node) -> str:
    if len(node.args) != 1:
        raise DockerfileError(f"{node.value.upper()} requires exactly one argument")
    return node.args[0]


def _at_least_one(node: Node) -> None:
    if not node.args:
        raise DockerfileError(f"{node.value.upper()} requires at least one argument")


def _parse_from(node: Node) -> From:
    fl = _parse_flags(node, {"platform": _STRING})
    args = node.args
    stage = raw = as_kw = None
    if len(args) == 3 and args[1].lower() == "as":
        raw, as_kw = args[2], args[1]
        stage = raw.lower()
        if not _STAGE_NAME.match(stage):
            raise DockerfileError(f"invalid name for build stage: {raw!r}, name can't start "
                                  "with a number or contain symbols")
    elif len(args) != 1:
        raise DockerfileError("FROM requires either one or three arguments")
    return From(**_base(node), base=args[0], stage_name=stage, stage_name_raw=raw,
                as_keyword=as_kw, platform=fl.get("platform"))  # type: ignore[arg-type]


def _command(node: Node) -> tuple[list[str], bool]:
    return list(node.args), not node.json


def _parse_run(node: Node) -> Run:
    fl = _parse_flags(node, {"mount": _LIST, "network": _STRING, "security": _STRING})
    network = fl.get("network")
    if network is not None and network not in ("default", "none", "host"):
        raise DockerfileError(f"unsupported network mode {network!r} (use default, none or host)"
                              + suggest(str(network), ("default", "none", "host")))
    security = fl.get("security")
    if security is not None and security not in ("sandbox", "insecure"):
        raise DockerfileError(f"unsupported security mode {security!r} (use sandbox or insecure)")
    mounts = [parse_mount(m) for m in fl.get("mount", [])]  # type: ignore[union-attr]
    cmd, shell = _command(node)
    if not cmd and not node.heredocs:
        raise DockerfileError("RUN requires at least one argument")
    return Run(**_base(node), command=cmd, shell_form=shell, heredocs=list(node.heredocs),
               mounts=mounts, network=network, security=security)  # type: ignore[arg-type]


def _command_parser(cls: type[Cmd] | type[Entrypoint]):
    """CMD and ENTRYPOINT: no flags, exec or shell form."""

    def parse(node: Node) -> Instruction:
        _no_flags(node)
        cmd, shell = _command(node)
        return cls(**_base(node), command=cmd, shell_form=shell)

    return parse


_parse_cmd = _command_parser(Cmd)
_parse_entrypoint = _command_parser(Entrypoint)


def _parse_shell(node: Node) -> Shell:
    _no_flags(node)
    if not node.json:
        raise DockerfileError("SHELL requires the arguments to be in JSON form")
    if not node.args:
        raise DockerfileError("SHELL requires at least one argument")
    return Shell(**_base(node), shell=list(node.args))


def _sources_and_dest(node: Node) -> tuple[list[str], str, list[SourceContent]]:
    if len(node.args) < 2:
        raise DockerfileError(f"{node.value.upper()} requires at least two arguments, "
                              "but only one was provided. Destination could not be determined")
    *srcs, dest = node.args
    if parse_heredoc(dest) is not None:
        raise DockerfileError(f"{node.value.upper()} cannot accept a heredoc as a destination")
    docs = {h.name: h for h in node.heredocs}
    paths: list[str] = []
    contents: list[SourceContent] = []
    for s in srcs:
        h = parse_heredoc(s) if not node.json else None
        if h is not None:
            doc = docs.get(h.name, h)
            contents.append(SourceContent(path=h.name, data=doc.body(), expand=h.expand))
        else:
            paths.append(s)
    return paths, dest, contents


def _validate_chmod(value: object) -> None:
    if isinstance(value, str) and "$" not in value and not (
            _CHMOD_OCTAL.match(value) or _CHMOD_SYMBOLIC.match(value)):
        raise DockerfileError(f"invalid chmod parameter {value!r}: use an octal mode like 0755"
                              " or a symbolic one like u+x")


def _parse_copy(node: Node) -> Copy:
    fl = _parse_flags(node, {"from": _STRING, "chown": _STRING, "chmod": _STRING,
                             "link": _BOOL, "parents": _BOOL, "exclude": _LIST})
    _validate_chmod(fl.get("chmod"))
    srcs, dest, contents = _sources_and_dest(node)
    return Copy(**_base(node), sources=srcs, dest=dest, contents=contents,
                from_=fl.get("from"), chown=fl.get("chown"), chmod=fl.get("chmod"),
                link=bool(fl.get("link", False)), parents=bool(fl.get("parents", False)),
                exclude=list(fl.get("exclude", [])))  # type: ignore[arg-type]


# a digest for a URL; a commit ID (SHA-1 or SHA-256 git) for a git repository
_CHECKSUM = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128}"
                       r"|[0-9a-f]{40}|[0-9a-f]{64})$")


def _parse_add(node: Node) -> Add:
    fl = _parse_flags(node, {"chown": _STRING, "chmod": _STRING, "link": _BOOL,
                             "checksum": _STRING, "keep-git-dir": _BOOL, "exclude": _LIST,
                             "unpack": _BOOL})
    _validate_chmod(fl.get("chmod"))
    checksum = fl.get("checksum")
    if isinstance(checksum, str) and "$" not in checksum and not _CHECKSUM.match(checksum):
        raise DockerfileError(f"invalid checksum {checksum!r}: expected sha256:<64 hex digits> (or a git commit ID)")
    srcs, dest, contents = _sources_and_dest(node)
    return Add(**_base(node), sources=srcs, dest=dest, contents=contents,
               chown=fl.get("chown"), chmod=fl.get("chmod"), link=bool(fl.get("link", False)),
               checksum=checksum, keep_git_dir=bool(fl.get("keep-git-dir", False)),
               exclude=list(fl.get("exclude", [])), unpack=fl.get("unpack"))  # type: ignore


def _kvps(node: Node) -> tuple[list[tuple[str, str]], bool]:
    instr = node.value.upper()
    if not node.args:
        raise DockerfileError(f"{instr} requires at least one argument")
    pairs = []
    legacy = False
    for i in range(0, len(node.args) - 2, 3):
        k, v, sep = node.args[i:i + 3]
        if not k:
            raise DockerfileError(f"{instr} names can not be blank")
        legacy = legacy or sep == ""
        pairs.append((k, v))
    return pairs, legacy


def _pairs_parser(cls: type[Env] | type[Label]):
    """ENV and LABEL: no flags, ``k=v`` pairs or the legacy ``k v``."""

    def parse(node: Node) -> Instruction:
        _no_flags(node)
        pairs, legacy = _kvps(node)
        return cls(**_base(node), pairs=pairs, legacy=legacy)

    return parse


_parse_env = _pairs_parser(Env)
_parse_label = _pairs_parser(Label)


def _parse_arg(node: Node) -> Arg:
    _no_flags(node)
    _at_least_one(node)
    args: list[tuple[str, str | None]] = []
    for word in node.args:
        name, eq, value = word.partition("=")
        if not name:
            raise DockerfileError("ARG names can not be blank")
        args.append((name, value if eq else None))
    return Arg(**_base(node), args=args)


_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


def validate_port(spec: str) -> None:
    """Check an expanded EXPOSE value: ``80``, ``80/udp``, ``8000-8010/tcp``."""
    m = _PORT.match(spec)
    if not m:
        raise DockerfileError(f"invalid port {spec!r}: expected PORT[-PORT][/tcp|/udp|/sctp]")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if not (0 < lo <= 65535 and 0 < hi <= 65535) or hi < lo:
        raise DockerfileError(f"invalid port range {spec!r}")


def _parse_expose(node: Node) -> Expose:
    _no_flags(node)
    _at_least_one(node)
    for p in node.args:
        if "$" not in p:
            validate_port(p)
    return Expose(**_base(node), ports=list(node.args))


def _duration_flag(fl: dict, name: str) -> float:
    value = fl.get(name)
    if value is None or value == "":
        return 0.0
    d = parse_duration(str(value))
    if d != 0 and d < 0.001:
        raise DockerfileError(f"Interval {name!r} cannot be less than 1ms")
    return d


def _parse_healthcheck(node: Node) -> Healthcheck:
    if not node.args:
        raise DockerfileError("HEALTHCHECK requires at least one argument")
    typ = node.args[0].upper()
    rest = node.args[1:]
    if typ == "NONE":
        if rest:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments")
        _no_flags(node)
        return Healthcheck(**_base(node), test=["NONE"])
    fl = _parse_flags(node, {"interval": _STRING, "timeout": _STRING, "start-period": _STRING,
                             "start-interval": _STRING, "retries": _STRING})
    if typ != "CMD":
        raise DockerfileError(f"Unknown type {typ!r} in HEALTHCHECK (try CMD)"
                              + suggest(typ, ("CMD", "NONE")))
    if not rest:
        raise DockerfileError("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *rest] if node.json else ["CMD-SHELL", *rest]
    retries = 0
    if (r := fl.get("retries")) is not None:
        try:
            retries = int(str(r))
        except ValueError:
            raise DockerfileError(f"--retries must be an integer, not {r!r}") from None
        if retries < 0:
            raise DockerfileError(f"--retries cannot be negative ({retries})")
    return Healthcheck(**_base(node), test=test, interval=_duration_flag(fl, "interval"),
                       timeout=_duration_flag(fl, "timeout"),
                       start_period=_duration_flag(fl, "start-period"),
                       start_interval=_duration_flag(fl, "start-interval"), retries=retries)


def _parse_onbuild(node: Node) -> Onbuild:
    _no_flags(node)
    if node.sub is None:
        raise DockerfileError("ONBUILD requires at least one argument")
    trig = node.sub.value.upper()
    if trig == "ONBUILD":
        raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trig in ("MAINTAINER", "FROM"):
        raise DockerfileError(f"{trig} isn't allowed as an ONBUILD trigger")
    trigger = parse_instruction(node.sub)
    expr = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for h in node.heredocs:
        expr += "\n" + h.content + h.name
    return Onbuild(**_base(node), expression=expr, trigger=trigger)


def _parse_maintainer(node: Node) -> Maintainer:
    _no_flags(node)
    return Maintainer(**_base(node), maintainer=_exactly_one(node))


def validate_signal(sig: str) -> None:
    """Check an expanded STOPSIGNAL: a number, or a name like SIGTERM / TERM / SIGRTMIN+3."""
    if sig.isdigit() and 0 < int(sig) < 65:
        return
    name = sig.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    m = re.fullmatch(r"SIGRTM(IN|AX)([+-]\d+)?", name)
    if m or isinstance(getattr(signal.Signals, name, None), signal.Signals):
        return
    raise DockerfileError(f"invalid signal: {sig}")


def _parse_stopsignal(node: Node) -> Stopsignal:
    _no_flags(node)
    sig = _exactly_one(node)
    if "$" not in sig:
        validate_signal(sig)
    return Stopsignal(**_base(node), signal=sig)


def _parse_user(node: Node) -> User:
    _no_flags(node)
    return User(**_base(node), user=_exactly_one(node))


def _parse_volume(node: Node) -> Volume:
    _no_flags(node)
    _at_least_one(node)
    for p in node.args:
        if not p.strip():
            raise DockerfileError("VOLUME specified can not be an empty string")
    return Volume(**_base(node), paths=list(node.args))


def _parse_workdir(node: Node) -> Workdir:
    _no_flags(node)
    return Workdir(**_base(node), path=_exactly_one(node))


_PARSERS = {
    "add": _parse_add, "arg": _parse_arg, "cmd": _parse_cmd, "copy": _parse_copy,
    "entrypoint": _parse_entrypoint, "env": _parse_env, "expose": _parse_expose,
    "from": _parse_from, "healthcheck": _parse_healthcheck, "label": _parse_label,
    "maintainer": _parse_maintainer, "onbuild": _parse_onbuild, "run": _parse_run,
    "shell": _parse_shell, "stopsignal": _parse_stopsignal, "user": _parse_user,
    "volume": _parse_volume, "workdir": _parse_workdir,
}
assert set(_PARSERS) == set(INSTRUCTIONS)


def parse_instruction(node: Node) -> Instruction:
    """Type and validate one node; errors carry the node's line."""
    fn = _PARSERS.get(node.name)
    try:
        if fn is None:
            names = [n.upper() for n in INSTRUCTIONS]
            raise DockerfileError(f"unknown instruction: {node.value}{suggest(node.value, names)}")
        return fn(node)
    except DockerfileError as e:
        raise e.located(None, node.start_line, node.end_line) from None
