"""The image config a build writes: each instruction's effect and history line, as BuildKit.

``docker history`` and ``docker inspect`` of a wharfie image read like those of a
``docker build`` image, so the strings here follow BuildKit's dockerfile2llb
(``RUN /bin/sh -c ... # buildkit``, ``CMD ["sh"]``, ``EXPOSE map[...]`` ...).
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass

from wharfie.dockerfile import instructions as ins
from wharfie.dockerfile.gostr import quote_list
from wharfie.errors import InvalidInput
from wharfie.oci.empty import DEFAULT_PATH

DEFAULT_SHELL = ["/bin/sh", "-c"]
# What BuildKit's image struct (dockerfile2llb's Image, ImageConfig) holds: the rest of a
# base image's config does not reach an image built on it.
IMAGE_FIELDS = ("created", "author", "architecture", "os", "os.version", "os.features",
                "variant", "config", "rootfs", "history")
CONFIG_FIELDS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir",
                 "Labels", "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild",
                 "StopTimeout", "Shell")
HISTORY_COMMENT = "buildkit.dockerfile.v0"


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String for a number of seconds (``1m30s``, ``500ms``, ``0s``)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                value = ns / size
                text = f"{value:.9f}".rstrip("0").rstrip(".")
                return f"{sign}{text}{unit}"
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    s = f"{rem / 1e9:.9f}".rstrip("0").rstrip(".")
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: like ``posixpath.normpath``, but ``//x`` is ``/x``."""
    clean = posixpath.normpath(path)
    return "/" + clean.lstrip("/") if clean.startswith("//") else clean


def go_list(items: list[str]) -> str:
    """A string slice as Go's ``%v`` prints it: ``[a b]``."""
    return "[" + " ".join(items) + "]"


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v", "\\": "\\\\"}


def go_quote(text: str, quote: str = '"') -> str:
    """Go's ``strconv.Quote`` (or ``QuoteRune`` with ``quote="'"``): what ``%q`` prints."""
    out = []
    for ch in text:
        if ch == quote or ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES.get(ch, "\\" + ch))
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return quote + "".join(out) + quote


def _go_rune(n: int) -> str:
    """The rune Go's ``%q`` shows for an integer: U+FFFD for what is not a code point."""
    return chr(n) if 0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF else "\ufffd"


def expand_ports(ports: list[str]) -> list[str]:
    """``80 8000-8002/udp`` -> ``80/tcp 8000/udp 8001/udp 8002/udp``: BuildKit records each
    port of a range, and refuses what Docker's nat.ParsePortSpec refuses."""
    out = []
    for p in ports:
        port, _, proto = p.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidInput(f"invalid proto: {proto}")
        lo, dash, hi = port.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise InvalidInput(f"invalid containerPort: {port}")
        for n in range(int(lo), int(hi or lo) + 1):
            if not 0 < n < 65536:
                raise InvalidInput(f"invalid containerPort: {n}")
            out.append(f"{n}/{proto}")
    return out


@dataclass
class StageImage:
    """The image a stage is building: config document plus bookkeeping for the rules
    that depend on what this Dockerfile (not the base image) set."""

    doc: dict
    cmd_set: bool = False
    created: str | None = None

    @classmethod
    def from_base(cls, base_doc: dict, created: str | None) -> StageImage:
        """A stage on ``base_doc``, as BuildKit reads a base image: into its own image
        struct, so what that struct lacks (``comment``, ``container_config``, docker's
        ``Hostname``...) or leaves empty is gone; ``OnBuild`` is always there (null: the
        triggers run once, in the child build); a missing ``PATH`` gets the default."""
        doc = {k: copy.deepcopy(v) for k, v in base_doc.items()
               if k in IMAGE_FIELDS and (v or k in ("architecture", "os"))}
        config = {k: copy.deepcopy(v) for k, v in (base_doc.get("config") or {}).items()
                  if k in CONFIG_FIELDS and v}
        config["OnBuild"] = None
        if not any(e.partition("=")[0] == "PATH" for e in config.get("Env") or []):
            config["Env"] = [*(config.get("Env") or []), f"PATH={DEFAULT_PATH}"]
        doc["config"] = config
        doc.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        doc.setdefault("history", [])
        return cls(doc, created=created)

    @property
    def config(self) -> dict:
        return self.doc["config"]

    @property
    def env(self) -> list[str]:
        return list(self.config.get("Env") or [])

    def env_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    @property
    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return self.config.get("WorkingDir") or "/"

    @property
    def user(self) -> str:
        return self.config.get("User") or ""

    def history(self, created_by: str, *, layer: bool) -> None:
        entry: dict = {}
        if self.created:
            entry["created"] = self.created
        entry["created_by"] = created_by
        entry["comment"] = HISTORY_COMMENT
        if not layer:
            entry["empty_layer"] = True
        self.doc["history"].append(entry)

    def add_layer(self, diff_id: str) -> None:
        self.doc["rootfs"]["diff_ids"].append(diff_id)

    # --- one method per metadata instruction -----------------------------------------

    def apply(self, i: ins.Instruction) -> bool:
        """Apply a metadata-only instruction; False for RUN, COPY, WORKDIR, ARG and FROM,
        whose effect needs more than the config."""
        if isinstance(i, ins.Env):
            self.set_env(i.pairs)
        elif isinstance(i, ins.Label):
            self.set_labels(i.pairs)
        elif isinstance(i, ins.Expose):
            self.add_ports(expand_ports(i.ports))
        elif isinstance(i, ins.Volume):
            self.add_volumes(i.paths)
        elif isinstance(i, ins.User):
            self.set_user(i.user)
        elif isinstance(i, ins.Stopsignal):
            self.set_stopsignal(i.signal)
        elif isinstance(i, ins.Shell):
            self.set_shell(i.shell)
        elif isinstance(i, ins.Maintainer):
            self.set_maintainer(i.maintainer)
        elif isinstance(i, ins.Cmd):
            self.set_cmd(i.command, i.shell_form)
        elif isinstance(i, ins.Entrypoint):
            self.set_entrypoint(i.command, i.shell_form)
        elif isinstance(i, ins.Healthcheck):
            self.set_healthcheck(i.test, i.interval, i.timeout, i.start_period,
                                 i.start_interval, i.retries)
        elif isinstance(i, ins.Onbuild):
            self.add_onbuild(i.expression)
        else:
            return False
        return True

    def set_env(self, pairs: list[tuple[str, str]]) -> None:
        env = self.env
        for key, value in pairs:
            for i, item in enumerate(env):
                if item.partition("=")[0] == key:
                    env[i] = f"{key}={value}"
                    break
            else:
                env.append(f"{key}={value}")
        self.config["Env"] = env
        self.history("ENV " + " ".join(f"{k}={v}" for k, v in pairs), layer=False)

    def set_labels(self, pairs: list[tuple[str, str]]) -> None:
        labels = dict(self.config.get("Labels") or {})
        labels.update(pairs)
        self.config["Labels"] = labels
        self.history("LABEL " + " ".join(f"{k}={v}" for k, v in pairs), layer=False)

    def set_cmd(self, args: list[str], shell_form: bool) -> None:
        if shell_form:
            args = self.shell + [" ".join(args)]
        self.config["Cmd"] = args
        self.config["ArgsEscaped"] = True
        self.cmd_set = True
        self.history("CMD " + quote_list(args), layer=False)

    def set_entrypoint(self, args: list[str], shell_form: bool) -> None:
        if shell_form:
            args = self.shell + [" ".join(args)]
        self.config["Entrypoint"] = args
        if not self.cmd_set:
            self.config.pop("Cmd", None)
        self.history("ENTRYPOINT " + quote_list(args), layer=False)

    def set_user(self, user: str) -> None:
        self.config["User"] = user
        self.history(f"USER {user}", layer=False)

    def set_workdir(self, path: str) -> str:
        """Returns the new working directory: an absolute path as written (``/tmp/`` keeps
        its slash, as in BuildKit), a relative one joined to the old one and cleaned."""
        wd = path if path.startswith("/") else go_clean(posixpath.join("/", self.workdir, path))
        self.config["WorkingDir"] = wd
        return wd

    def add_volumes(self, paths: list[str]) -> None:
        vols = dict(self.config.get("Volumes") or {})
        for p in paths:
            vols[p] = {}
        self.config["Volumes"] = vols
        self.history(f"VOLUME {go_list(paths)}", layer=False)

    def add_ports(self, ports: list[str]) -> None:
        exposed = dict(self.config.get("ExposedPorts") or {})
        for p in ports:
            exposed[p] = {}
        self.config["ExposedPorts"] = exposed
        # dockerd 20.10's BuildKit prints this instruction's ports as Go prints a map
        shown = " ".join(f"{p}:{{}}" for p in sorted(set(ports)))
        self.history(f"EXPOSE map[{shown}]", layer=False)

    def set_stopsignal(self, signal: str) -> None:
        self.config["StopSignal"] = signal
        self.history(f"STOPSIGNAL {signal}", layer=False)

    def set_shell(self, shell: list[str]) -> None:
        self.config["Shell"] = shell
        self.history(f"SHELL {go_list(shell)}", layer=False)

    def set_maintainer(self, who: str) -> None:
        self.doc["author"] = who
        self.history(f"MAINTAINER {who}", layer=False)

    def set_healthcheck(self, test: list[str], interval: float, timeout: float,
                        start_period: float, start_interval: float, retries: int) -> None:
        hc: dict = {"Test": test}
        for key, value in (("Interval", interval), ("Timeout", timeout),
                           ("StartPeriod", start_period), ("StartInterval", start_interval)):
            if value:
                hc[key] = round(value * 1e9)
        if retries:
            hc["Retries"] = retries
        self.config["Healthcheck"] = hc
        # dockerd 20.10's BuildKit: ``%q`` of its five-field HealthConfig
        fields = [go_quote(go_duration(d)) for d in (interval, timeout, start_period)]
        self.history(f"HEALTHCHECK &{{[{' '.join(map(go_quote, test))}] {' '.join(fields)} "
                     f"{go_quote(_go_rune(retries), quote=chr(39))}}}", layer=False)

    def add_onbuild(self, expression: str) -> None:
        self.config["OnBuild"] = list(self.config.get("OnBuild") or []) + [expression]

    def add_arg_history(self, items: list[tuple[str, str | None]]) -> None:
        self.history("ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in items),
                     layer=False)
