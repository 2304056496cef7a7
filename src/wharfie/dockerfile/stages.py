"""Stages, ARG scoping and word expansion: what a build of one target will actually run.

``parse_dockerfile`` types every instruction and groups them into stages.
``resolve`` then applies BuildKit's scoping rules for a target: global ARGs
are visible to FROM lines only (unless a stage redeclares them), build args
override defaults, ENV beats ARG, the platform ARGs are predefined, and words
are expanded only where Docker expands them. Unused stages are pruned and a
``--build-arg`` nobody declares comes back as a warning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.instructions import (
    Add,
    Arg,
    Copy,
    Env,
    Expose,
    From,
    Instruction,
    KeyValues,
    Mount,
    Run,
    SourceContent,
    Stopsignal,
    User,
    Volume,
    Workdir,
    parse_instruction,
    suggest,
    validate_port,
    validate_signal,
)
from wharfie.dockerfile.lexer.shell import ShellError, ShellLex
from wharfie.dockerfile.parser import ParseResult, parse
from wharfie.oci.platform import Platform, host_platform, parse_platform

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
PLATFORM_ARGS = ("TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
                 "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT")


@dataclass
class Stage:
    """One ``FROM`` and the instructions after it."""

    index: int
    name: str | None
    from_: From
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or str(self.index)


@dataclass
class Dockerfile:
    """A parsed, typed Dockerfile: global ARGs plus stages, nothing expanded yet."""

    filename: str
    ast: ParseResult
    meta_args: list[Arg]
    stages: list[Stage]

    @property
    def escape(self) -> str:
        return self.ast.escape

    def stage(self, ref: str | int) -> Stage:
        """A stage by name (case-insensitive) or index; unknown ones are an error."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            i = int(ref)
            if 0 <= i < len(self.stages):
                return self.stages[i]
            raise DockerfileError(f"stage index {i} out of range (have {len(self.stages)})",
                                  filename=self.filename)
        for s in self.stages:
            if s.name == ref.lower():
                return s
        names = [s.name for s in self.stages if s.name]
        raise DockerfileError(f"target stage {ref!r} could not be found{suggest(ref, names)}",
                              filename=self.filename)


def parse_dockerfile(source: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    """Parse and type a Dockerfile; every error names ``filename`` and the line."""
    ast = parse(source, filename)
    meta: list[Arg] = []
    stages: list[Stage] = []
    names: set[str] = set()
    for node in ast.nodes:
        try:
            ins = parse_instruction(node)
        except DockerfileError as e:
            raise e.located(filename) from None
        if isinstance(ins, From):
            if ins.stage_name in names:
                raise DockerfileError(f"duplicate stage name {ins.stage_name!r}",
                                      filename=filename, line=ins.line)
            if ins.stage_name:
                names.add(ins.stage_name)
            stages.append(Stage(len(stages), ins.stage_name, ins))
        elif not stages:
            if not isinstance(ins, Arg):
                raise DockerfileError(f"{ins.name} before the first FROM: only ARG may come "
                                      "before FROM", filename=filename, line=ins.line)
            meta.append(ins)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileError("no build stage: the Dockerfile has no FROM", filename=filename)
    return Dockerfile(filename, ast, meta, stages)


# --- resolution ---------------------------------------------------------------------------


@dataclass
class Step:
    """An instruction with its words expanded and the variables it runs with."""

    instruction: Instruction
    env: dict[str, str]   # ENV in effect (image config env)
    # ARGs declared in the stage so far, in order, with their values (RUN sees them as
    # environment too); None for one with no value: BuildKit shows it as ``N=`` in RUN's
    # history, but sets no variable
    args: dict[str, str | None]


@dataclass
class ResolvedStage:
    """A stage with its FROM expanded and its steps' arguments bound."""

    index: int
    name: str | None
    base: str                     # expanded FROM image, or the stage name it builds on
    base_stage: int | None        # index of the stage it builds on, if any
    platform: str | None
    steps: list[Step]
    env: dict[str, str]           # final ENV of the stage
    depends_on: set[int]
    # ARG values a FROM <stage> child inherits (BuildKit keeps them in the LLB state's
    # environment, not in the image config): those of the base stage, then this one's
    inherited_args: dict[str, str] = field(default_factory=dict)
    arg_env: dict[str, str] = field(default_factory=dict)


@dataclass
class UndefinedVar:
    """A variable used in an expanded word but defined nowhere (for the lint)."""

    name: str
    line: int
    instruction: str


@dataclass
class ResolvedBuild:
    """Everything the build engine needs for one target, in dependency order."""

    target: int
    stages: list[ResolvedStage]
    meta_args: dict[str, str]
    proxy_env: dict[str, str]     # predefined proxy ARGs given as build args: RUN sees them
    unused_build_args: list[str]
    warnings: list[str]
    undefined: list[UndefinedVar]


def platform_args(target: Platform | str | None = None,
                  build: Platform | str | None = None) -> dict[str, str]:
    """The predefined TARGET* and BUILD* ARG values."""
    b = parse_platform(build) if isinstance(build, str) else (build or host_platform())
    t = parse_platform(target) if isinstance(target, str) else (target or b)
    return {
        "TARGETPLATFORM": str(t), "TARGETOS": t.os, "TARGETARCH": t.architecture,
        "TARGETVARIANT": t.variant or "", "BUILDPLATFORM": str(b), "BUILDOS": b.os,
        "BUILDARCH": b.architecture, "BUILDVARIANT": b.variant or "",
    }


class _Expander:
    """Expands words against one environment, recording variables it could not find."""

    def __init__(self, escape: str, env: Mapping[str, str], declared: set[str],
                 filename: str, undefined: list[UndefinedVar], ins: Instruction) -> None:
        self.lex = ShellLex(escape)
        self.env = env
        self.declared = declared
        self.filename = filename
        self.undefined = undefined
        self.ins = ins

    def word(self, text: str) -> str:
        try:
            res = self.lex.process(text, self.env)
        except ShellError as e:
            raise DockerfileError(e.problem, filename=self.filename, line=self.ins.line) from None
        for name in sorted(res.unmatched):
            if name not in self.declared and _is_var_name(name):
                self.undefined.append(UndefinedVar(name, self.ins.line, self.ins.name))
        return res.result

    def opt(self, text: str | None) -> str | None:
        return None if text is None else self.word(text)

    def heredoc(self, text: str) -> str:
        lex = ShellLex(self.lex.escape, skip_process_quotes=True)
        try:
            return lex.process_word(text, self.env)
        except ShellError as e:
            raise DockerfileError(e.problem, filename=self.filename, line=self.ins.line) from None


def _is_var_name(name: str) -> bool:
    return bool(name) and not name[0].isdigit() and name not in "@*#?-$!0"


def _expand(ins: Instruction, x: _Expander) -> Instruction:
    """A copy of ``ins`` with words expanded where Docker expands them."""
    rep = dataclasses.replace
    if isinstance(ins, KeyValues):
        return rep(ins, pairs=[(x.word(k), x.word(v)) for k, v in ins.pairs])
    if isinstance(ins, Copy):
        contents = [SourceContent(c.path, x.heredoc(c.data) if c.expand else c.data, c.expand)
                    for c in ins.contents]
        fields = dict(sources=[x.word(s) for s in ins.sources], dest=x.word(ins.dest),
                      contents=contents, from_=x.opt(ins.from_), chown=x.opt(ins.chown),
                      chmod=x.opt(ins.chmod), exclude=[x.word(e) for e in ins.exclude])
        if isinstance(ins, Add):
            fields["checksum"] = x.opt(ins.checksum)
        return rep(ins, **fields)
    if isinstance(ins, Expose):
        ports = [p for raw in ins.ports for p in x.word(raw).split()]
        for p in ports:
            validate_port(p)
        return rep(ins, ports=ports)
    if isinstance(ins, Stopsignal):
        signal = x.word(ins.signal)
        validate_signal(signal)
        return rep(ins, signal=signal)
    if isinstance(ins, User):
        return rep(ins, user=x.word(ins.user))
    if isinstance(ins, Workdir):
        return rep(ins, path=x.word(ins.path))
    if isinstance(ins, Volume):
        return rep(ins, paths=[x.word(p) for p in ins.paths])
    if isinstance(ins, Run) and ins.mounts:
        mounts = [Mount(m.type, {k: x.word(v) for k, v in m.options.items()}) for m in ins.mounts]
        return rep(ins, mounts=mounts)
    return ins


def expand_instruction(ins: Instruction, env: Mapping[str, str], escape: str = "\\",
                       filename: str = "Dockerfile") -> Instruction:
    """A copy of ``ins`` with its words expanded against ``env``, where Docker expands them.

    For instructions the engine meets outside :func:`resolve`, such as the ONBUILD
    triggers of a base image (see :func:`parse_triggers`).
    """
    x = _Expander(escape, env, set(env), filename, [], ins)
    try:
        return _expand(ins, x)
    except DockerfileError as e:
        raise e.located(filename, ins.line, ins.end_line) from None


def parse_triggers(triggers: list[str], image: str = "base image") -> list[Instruction]:
    """The ONBUILD triggers of a base image's config, typed, in order.

    Each trigger is one instruction (heredoc bodies included) as ``ONBUILD`` stored it.
    """
    out: list[Instruction] = []
    for text in triggers:
        name = f"ONBUILD trigger of {image}"
        ast = parse(text, name)
        if len(ast.nodes) != 1:
            raise DockerfileError(f"{name}: expected one instruction, got {len(ast.nodes)}")
        trigger = ast.nodes[0].value.upper()
        if trigger in ("ONBUILD", "FROM", "MAINTAINER"):
            raise DockerfileError(f"{name}: {trigger} isn't allowed as an ONBUILD trigger")
        try:
            out.append(parse_instruction(ast.nodes[0]))
        except DockerfileError as e:
            raise e.located(name) from None
    return out


def _stage_refs(df: Dockerfile, meta_env: Mapping[str, str], shadowed: Collection[str] = ()
                ) -> dict[int, tuple[str, int | None]]:
    """For each stage: its expanded base and the earlier stage it builds on, if any (not
    when a named build context of that name shadows the stage)."""
    out: dict[int, tuple[str, int | None]] = {}
    lex = ShellLex(df.escape)
    for s in df.stages:
        try:
            base = lex.process_word(s.from_.base, meta_env)
        except ShellError as e:
            raise DockerfileError(e.problem, filename=df.filename, line=s.from_.line) from None
        if not base:
            raise DockerfileError(f"base name ({s.from_.base}) should not be blank",
                                  filename=df.filename, line=s.from_.line)
        ref = None if base.lower() in shadowed else \
            next((p.index for p in df.stages[:s.index] if p.name == base.lower()), None)
        out[s.index] = (base, ref)
    return out


def _copy_sources(ins: Instruction) -> list[str]:
    if isinstance(ins, Copy) and not isinstance(ins, Add) and ins.from_:
        return [ins.from_]
    if isinstance(ins, Run):
        return [m.source_stage for m in ins.mounts if m.source_stage]
    return []


def _find_stage(df: Dockerfile, ref: str) -> int | None:
    if ref.isdigit():
        i = int(ref)
        if i >= len(df.stages):
            raise DockerfileError(f"stage index {i} out of range (have {len(df.stages)})",
                                  filename=df.filename)
        return i
    return next((s.index for s in df.stages if s.name == ref.lower()), None)


def resolve(df: Dockerfile, target: str | int | None = None, *,
            build_args: Mapping[str, str] | None = None,
            platform: Platform | str | None = None,
            build_platform: Platform | str | None = None,
            base_env: Callable[[str], Mapping[str, str]] | None = None,
            all_stages: bool = False, named_contexts: Collection[str] = ()) -> ResolvedBuild:
    """Expand and scope everything a build of ``target`` (default: last stage) needs.

    ``base_env(image)`` may supply the ENV of an external base image, so that
    words referring to it (``$PATH``) expand as in ``docker build``.
    ``named_contexts`` (``--build-context`` names, lowercase) shadow stages of the same
    name in FROM and ``--from``, as in BuildKit.
    ``all_stages`` resolves unused stages too (for lint), instead of pruning them.
    """
    build_args = dict(build_args or {})
    predefined = platform_args(platform, build_platform)
    undefined: list[UndefinedVar] = []
    consumed: set[str] = set()

    # Global scope: ARGs before the first FROM, seen only by FROM lines.
    meta_env: dict[str, str] = dict(predefined)
    meta_declared = set(predefined)
    for a in df.meta_args:
        x = _Expander(df.escape, meta_env, meta_declared, df.filename, undefined, a)
        for name, default in a.args:
            consumed.add(name)
            meta_declared.add(name)
            if name in build_args:
                meta_env[name] = build_args[name]
            elif default is not None:
                meta_env[name] = x.word(default)

    refs = _stage_refs(df, meta_env, named_contexts)
    tgt = df.stage(target).index if target is not None else len(df.stages) - 1

    resolved: dict[int, ResolvedStage] = {}
    visiting: list[int] = []

    def visit(i: int) -> ResolvedStage:
        if i in resolved:
            return resolved[i]
        if i in visiting:
            cycle = " -> ".join(df.stages[j].label for j in [*visiting[visiting.index(i):], i])
            raise DockerfileError(f"circular dependency detected on stage {df.stages[i].label}: "
                                  f"{cycle}", filename=df.filename, line=df.stages[i].from_.line)
        visiting.append(i)
        stage = df.stages[i]
        base, base_stage = refs[i]
        deps: set[int] = set()
        inherited: dict[str, str] = {}
        if base_stage is not None:
            parent = visit(base_stage)
            env = dict(parent.env)
            inherited = dict(parent.arg_env)
            deps.add(base_stage)
        else:
            env = dict(base_env(base)) if base_env and base.lower() != "scratch" else {}
        fx = _Expander(df.escape, meta_env, meta_declared, df.filename, undefined, stage.from_)
        plat = fx.opt(stage.from_.platform)
        args: dict[str, str] = {}
        shown: dict[str, str | None] = {}
        declared: set[str] = set(env) | set(inherited)
        steps: list[Step] = []
        for ins in stage.instructions:
            scope = {**inherited, **args, **env}
            x = _Expander(df.escape, scope, declared | set(scope), df.filename, undefined, ins)
            if isinstance(ins, Arg):
                written = []  # the defaults expanded: BuildKit's history shows these
                for name, default in ins.args:
                    consumed.add(name)
                    declared.add(name)
                    value = None if default is None else x.word(default)
                    written.append((name, value))
                    if name in build_args:
                        args[name] = build_args[name]
                    elif value is not None:
                        args[name] = value
                    elif name in meta_env:
                        args[name] = meta_env[name]
                    shown[name] = args.get(name)
                expanded: Instruction = dataclasses.replace(ins, args=written)
            else:
                try:
                    expanded = _expand(ins, x)
                except DockerfileError as e:
                    raise e.located(df.filename, ins.line, ins.end_line) from None
            if isinstance(expanded, Env):
                for k, v in expanded.pairs:
                    env[k] = v
                    declared.add(k)
            for ref in _copy_sources(expanded):
                j = None if ref.lower() in named_contexts else _find_stage(df, ref)
                if j is not None:
                    visit(j)
                    deps.add(j)
            steps.append(Step(expanded, dict(env), dict(shown)))
        visiting.pop()
        rs = ResolvedStage(i, stage.name, base, base_stage, plat, steps, env, deps,
                           inherited, {**inherited, **args})
        resolved[i] = rs
        return rs

    for i in range(len(df.stages)) if all_stages else [tgt]:
        visit(i)
    allowed = set(PROXY_ARGS) | set(PLATFORM_ARGS) | {"SOURCE_DATE_EPOCH"}
    unused = sorted(k for k in build_args if k not in consumed and k not in allowed
                    and not k.startswith("BUILDKIT_"))
    warnings = []
    if unused:
        warnings.append(f"One or more build-args [{' '.join(unused)}] were not consumed")
    meta_names = [n for a in df.meta_args for n, _ in a.args]
    return ResolvedBuild(target=tgt, stages=[resolved[k] for k in sorted(resolved)],
                         meta_args={k: meta_env[k] for k in meta_names if k in meta_env},
                         proxy_env={k: build_args[k] for k in PROXY_ARGS if k in build_args},
                         unused_build_args=unused, warnings=warnings, undefined=undefined)


def needed_stages(df: Dockerfile, target: str | int | None = None,
                  build_args: Mapping[str, str] | None = None) -> list[int]:
    """Indexes of the stages ``target`` needs (itself included), in build order."""
    return [s.index for s in resolve(df, target, build_args=build_args).stages]
