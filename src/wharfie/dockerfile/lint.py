"""Best-practice lint for Dockerfiles: small rules over typed instructions.

Rule IDs follow BuildKit's check names where BuildKit has the rule (so the
``# check=skip=...;error=true`` directive means the same thing here), and
the same style otherwise. Each finding has a severity, a line and a one-line
fix hint; ``HADOLINT`` records which hadolint rule says the same thing.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Run,
    User,
    Workdir,
    suggest,
)
from wharfie.dockerfile.lexer.shell import ShellLex
from wharfie.dockerfile.stages import (
    PLATFORM_ARGS,
    Dockerfile,
    Stage,
    parse_dockerfile,
    resolve,
)

ERROR, WARNING, INFO = "error", "warning", "info"


@dataclass(frozen=True)
class Rule:
    """A lint rule: its ID, severity and what it checks."""

    id: str
    severity: str
    description: str
    hint: str


@dataclass
class Finding:
    """One rule broken on one line."""

    rule: str
    severity: str
    line: int
    message: str
    hint: str
    filename: str = "Dockerfile"

    def to_dict(self) -> dict:
        return asdict(self)


RULES: dict[str, Rule] = {r.id: r for r in [
    Rule("UntaggedBaseImage", WARNING, "Base image has no tag or digest",
         "pin a tag or digest, e.g. FROM debian:12"),
    Rule("LatestTag", WARNING, "Base image uses the 'latest' tag",
         "pin a specific version instead of latest"),
    Rule("ConsecutiveRun", INFO, "Consecutive RUN instructions could be combined",
         "join them with && in one RUN to save layers"),
    Rule("AptCacheNotCleaned", WARNING, "apt-get update without removing /var/lib/apt/lists",
         "end the same RUN with: rm -rf /var/lib/apt/lists/*"),
    Rule("ApkNoCache", WARNING, "apk add without --no-cache",
         "use apk add --no-cache"),
    Rule("AptNoInstallRecommends", WARNING, "apt-get install without --no-install-recommends",
         "add --no-install-recommends to apt-get install"),
    Rule("AddInsteadOfCopy", WARNING, "ADD used for local files",
         "use COPY for files and directories; keep ADD for URLs and archives"),
    Rule("FinalUserRoot", WARNING, "The final USER is root",
         "switch to an unprivileged USER at the end of the final stage"),
    Rule("CdInRun", WARNING, "cd used in RUN to change directory",
         "use WORKDIR instead of cd"),
    Rule("JSONArgsRecommended", WARNING, "CMD or ENTRYPOINT in shell form",
         'use the JSON form, e.g. CMD ["executable", "arg"], so signals reach the process'),
    Rule("MultipleInstructionsDisallowed", WARNING, "More than one CMD, ENTRYPOINT or "
         "HEALTHCHECK in a stage", "keep only the last one: earlier ones have no effect"),
    Rule("MaintainerDeprecated", WARNING, "MAINTAINER is deprecated",
         'use LABEL org.opencontainers.image.authors="name"'),
    Rule("SecretsUsedInArgOrEnv", WARNING, "A secret-looking name in ARG or ENV",
         "pass secrets with RUN --mount=type=secret; ARG and ENV persist in the image"),
    Rule("UndefinedVar", WARNING, "A variable is used but never defined",
         "declare it with ARG or ENV, or give a default: ${VAR:-default}"),
    Rule("StageNameCasing", WARNING, "Stage name is not lower case",
         "use a lower-case stage name"),
    Rule("FromAsCasing", WARNING, "'as' and 'FROM' casing do not match",
         "write FROM ... AS name (or from ... as name) consistently"),
    Rule("CopyBeforeInstall", WARNING, "Whole context copied before dependencies are installed",
         "copy the dependency manifests first, install, then COPY the rest"),
    Rule("ReservedStageName", WARNING, "A stage is named 'scratch' or 'context'",
         "pick another stage name: these words mean something else to FROM and COPY"),
    Rule("LegacyKeyValueFormat", WARNING, "ENV or LABEL in the legacy 'key value' form",
         "write key=value"),
    Rule("ConsistentInstructionCasing", WARNING, "Instruction casing differs from the rest",
         "write every instruction in the same case (upper case is usual)"),
    Rule("NoEmptyContinuation", WARNING, "Empty line inside a continued instruction",
         "remove the blank line or the trailing escape before it"),
    Rule("WorkdirRelativePath", WARNING, "Relative WORKDIR before any absolute one",
         "use an absolute path: the base image decides what it is relative to"),
    Rule("UndefinedArgInFrom", WARNING, "FROM uses an ARG not declared before the first FROM",
         "declare it with ARG before the first FROM, with a default"),
    Rule("MissingDockerignore", WARNING, "No .dockerignore beside a large build context",
         "add a .dockerignore to keep .git, build output and caches out of the context"),
]}

# wharfie rule -> hadolint rule(s) that flag the same thing.
HADOLINT: dict[str, tuple[str, ...]] = {
    "UntaggedBaseImage": ("DL3006",),
    "LatestTag": ("DL3007",),
    "ConsecutiveRun": ("DL3059",),
    "AptCacheNotCleaned": ("DL3009",),
    "ApkNoCache": ("DL3019",),
    "AptNoInstallRecommends": ("DL3015",),
    "AddInsteadOfCopy": ("DL3020",),
    "FinalUserRoot": ("DL3002",),
    "CdInRun": ("DL3003",),
    "JSONArgsRecommended": ("DL3025",),
    "MultipleInstructionsDisallowed": ("DL4003", "DL4004"),
    "MaintainerDeprecated": ("DL4000",),
}

_SECRET = re.compile(r"(?i)(?:^|_)(?:api_?key|access_?key|auth|credentials?|passw(?:or)?d|pass"
                     r"|private_?key|secret|token)(?:$|_)")
_ARCHIVE = re.compile(r"(?i)\.(tar|tgz|tbz2?|txz|tar\.(gz|bz2|xz|zst|lz4)|gz|bz2|xz|zst)$")
_INSTALL_SEGMENTS = [
    ("apt-get", "install"), ("apt", "install"), ("apk", "add"), ("npm", "install"),
    ("npm", "ci"), ("yarn", "install"), ("pip", "install"), ("pip3", "install"),
    ("go", "mod"), ("bundle", "install"), ("composer", "install"), ("cargo", "fetch"),
    ("poetry", "install"), ("pnpm", "install"), ("mvn", "dependency:go-offline"),
]
_KNOWN_ENV = frozenset({"PATH", "HOME", "HOSTNAME", "TERM", "PWD", "SHELL", "USER", "LANG"})
LARGE_CONTEXT_FILES = 1000
LARGE_CONTEXT_BYTES = 50 * 1024 * 1024


def _commands(run: Run) -> list[list[str]]:
    """The simple commands of a RUN (split on && || ; | and newlines), each as words."""
    text = " ".join(run.command) if run.shell_form else shlex.join(run.command)
    text += "".join("\n" + h.body() for h in run.heredocs)
    out = []
    for seg in re.split(r"&&|\|\||;|\||\n", text.replace("\\\n", " ")):
        try:
            words = shlex.split(seg, comments=True)
        except ValueError:
            words = seg.split()
        # drop leading env assignments and sudo
        while words and (("=" in words[0] and not words[0].startswith("-"))
                         or words[0] == "sudo"):
            words = words[1:]
        if words:
            out.append(words)
    return out


def _is(words: list[str], tool: str, sub: str) -> bool:
    return bool(words) and os.path.basename(words[0]) == tool and sub in words[1:]


def _cache_mounted(run: Run, path: str) -> bool:
    return any(m.type == "cache" and (m.target or "").rstrip("/").startswith(path)
               for m in run.mounts)


Check = Callable[[Dockerfile, Path | None], Iterator[tuple[str, int, str]]]
_CHECKS: list[Check] = []


def _check(fn: Check) -> Check:
    _CHECKS.append(fn)
    return fn


def _runs(df: Dockerfile) -> Iterator[Run]:
    for s in df.stages:
        for ins in s.instructions:
            if isinstance(ins, Run):
                yield ins


@_check
def _base_image_tags(df: Dockerfile, _ctx: Path | None):
    names: set[str] = set()
    for s in df.stages:
        base = s.from_.base
        # stage references, scratch, digests and variables are not tags to pin
        if not (base.lower() in names or base == "scratch" or "$" in base or "@" in base):
            last = base.rsplit("/", 1)[-1]
            if ":" not in last:
                yield "UntaggedBaseImage", s.from_.line, f"FROM {base}: no tag or digest"
            elif last.rsplit(":", 1)[1] == "latest":
                yield "LatestTag", s.from_.line, f"FROM {base}: 'latest' changes under you"
        if s.name:
            names.add(s.name)


@_check
def _consecutive_runs(df: Dockerfile, _ctx: Path | None):
    # Like hadolint DL3059: RUNs already chaining more than two commands were split on purpose.
    for s in df.stages:
        prev: tuple[list[str], int] | None = None
        for ins in s.instructions:
            if not isinstance(ins, Run):
                prev = None
                continue
            count = len(_commands(ins))
            if prev is not None and prev[0] == ins.flags and count <= 2 and prev[1] <= 2:
                yield "ConsecutiveRun", ins.line, "this RUN follows another RUN; " \
                    "each one adds a layer"
            else:
                prev = (ins.flags, count)


def _shipped_stages(df: Dockerfile) -> list[Stage]:
    """The final stage and stages later ones build FROM: their files end up in an image."""
    bases = {st.from_.base.lower() for st in df.stages}
    return [st for st in df.stages
            if st.index == len(df.stages) - 1 or (st.name and st.name in bases)]


@_check
def _package_managers(df: Dockerfile, _ctx: Path | None):
    shipped = {st.index for st in _shipped_stages(df)}
    for st in df.stages:
        triggers = [i.trigger for i in st.instructions if isinstance(i, Onbuild)]
        for run in (i for i in [*st.instructions, *triggers] if isinstance(i, Run)):
            cmds = _commands(run)
            for c in cmds:
                if (_is(c, "apt-get", "install") or _is(c, "apt", "install")) \
                        and "--no-install-recommends" not in c \
                        and not any("Install-Recommends=false" in w for w in c):
                    yield "AptNoInstallRecommends", run.line, "apt-get install pulls in " \
                        "recommended packages"
                    break
            updates = any(_is(c, "apt-get", "update") or _is(c, "apt", "update") for c in cmds)
            cleaned = any(os.path.basename(c[0]) == "rm" and any(
                w.startswith("/var/lib/apt/lists") for w in c) for c in cmds)
            if updates and not cleaned and st.index in shipped \
                    and not _cache_mounted(run, "/var/lib/apt"):
                yield "AptCacheNotCleaned", run.line, "the apt lists stay in the layer"
            for c in cmds:
                if _is(c, "apk", "add") and "--no-cache" not in c \
                        and not _cache_mounted(run, "/var/cache/apk"):
                    yield "ApkNoCache", run.line, "apk add keeps its index in the layer"
                    break


@_check
def _add_for_local_files(df: Dockerfile, _ctx: Path | None):
    for s in df.stages:
        for ins in s.instructions:
            if isinstance(ins, Add) and ins.sources and not any(
                    "://" in src or src.startswith("git@") or _ARCHIVE.search(src)
                    for src in ins.sources):
                yield "AddInsteadOfCopy", ins.line, "ADD of local files; COPY is explicit"


@_check
def _final_user_root(df: Dockerfile, _ctx: Path | None):
    users = [i for i in df.stages[-1].instructions if isinstance(i, User)]
    if users and users[-1].user.split(":")[0] in ("root", "0"):
        yield "FinalUserRoot", users[-1].line, "the image runs as root"


@_check
def _cd_in_run(df: Dockerfile, _ctx: Path | None):
    for run in _runs(df):
        if any(c[0] == "cd" for c in _commands(run)):
            yield "CdInRun", run.line, "cd in RUN does not persist and hides the working dir"


@_check
def _cmd_forms(df: Dockerfile, _ctx: Path | None):
    for s in df.stages:
        seen: dict[str, int] = {}
        for ins in s.instructions:
            if isinstance(ins, Cmd | Entrypoint) and ins.shell_form and ins.command:
                yield "JSONArgsRecommended", ins.line, f"{ins.name} in shell form runs under " \
                    "/bin/sh -c, which does not forward signals"
            if ins.name in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
                if ins.name in seen:
                    yield "MultipleInstructionsDisallowed", ins.line, f"another {ins.name} " \
                        f"after line {seen[ins.name]}: only the last one counts"
                seen[ins.name] = ins.line


@_check
def _maintainer(df: Dockerfile, _ctx: Path | None):
    for s in df.stages:
        for ins in s.instructions:
            if isinstance(ins, Maintainer):
                yield "MaintainerDeprecated", ins.line, "MAINTAINER is deprecated"


@_check
def _secrets(df: Dockerfile, _ctx: Path | None):
    instrs: list[Instruction] = [*df.meta_args]
    for s in df.stages:
        instrs += s.instructions
    for ins in instrs:
        names = [n for n, _ in ins.args] if isinstance(ins, Arg) else \
            [k for k, _ in ins.pairs] if isinstance(ins, Env) else []
        for name in names:
            if _SECRET.search(name):
                yield "SecretsUsedInArgOrEnv", ins.line, f"{ins.name} {name!r} looks like a " \
                    "secret and will be stored in the image"


@_check
def _undefined_vars(df: Dockerfile, _ctx: Path | None):
    seen: set[tuple[str, int]] = set()
    for u in resolve(df, all_stages=True).undefined:
        if u.name not in _KNOWN_ENV and (u.name, u.line) not in seen:
            seen.add((u.name, u.line))
            yield "UndefinedVar", u.line, f"${u.name} is not defined in {u.instruction}"


@_check
def _casing(df: Dockerfile, _ctx: Path | None):
    for s in df.stages:
        f = s.from_
        if f.stage_name_raw and f.stage_name_raw != f.stage_name_raw.lower():
            yield "StageNameCasing", f.line, f"stage name {f.stage_name_raw!r} should be " \
                "lower case"
        if f.as_keyword:
            kw = f.original.split(None, 1)[0]
            if (kw.isupper() and not f.as_keyword.isupper()) or (
                    kw.islower() and not f.as_keyword.islower()):
                yield "FromAsCasing", f.line, f"'{f.as_keyword}' does not match '{kw}'"


@_check
def _buildkit_style(df: Dockerfile, _ctx: Path | None):
    for s in df.stages:
        if s.name in ("scratch", "context"):
            yield "ReservedStageName", s.from_.line, f"stage name {s.name!r} is reserved"
        relative_ok = False
        for ins in s.instructions:
            if isinstance(ins, Env | Label) and ins.legacy:
                yield "LegacyKeyValueFormat", ins.line, f"{ins.name} key value: write key=value"
            if isinstance(ins, Workdir):
                if ins.path.startswith(("/", "$")) or re.match(r"^[A-Za-z]:[\\/]", ins.path):
                    relative_ok = True
                elif not relative_ok:
                    yield "WorkdirRelativePath", ins.line, f"WORKDIR {ins.path} is relative " \
                        "to whatever the base image set"
    nodes = df.ast.nodes
    words = [n.value for n in nodes] + [n.sub.value for n in nodes if n.sub is not None]
    upper = sum(w.isupper() for w in words)
    lower = sum(w.islower() for w in words)
    want_upper = upper >= lower
    for n in nodes:
        for w in [n.value] + ([n.sub.value] if n.sub is not None else []):
            if (want_upper and not w.isupper()) or (not want_upper and not w.islower()):
                yield "ConsistentInstructionCasing", n.start_line, f"{w!r} should be " \
                    f"{'upper' if want_upper else 'lower'} case like the other instructions"
    for line in df.ast.empty_continuations:
        yield "NoEmptyContinuation", line, "an empty line continues this instruction"


@_check
def _undefined_arg_in_from(df: Dockerfile, _ctx: Path | None):
    declared = set(PLATFORM_ARGS) | {n for a in df.meta_args for n, _ in a.args}
    lex = ShellLex(df.escape)
    env = {k: "x" for k in declared}
    for s in df.stages:
        for word in filter(None, (s.from_.base, s.from_.platform)):
            try:
                unmatched = lex.process(word, env).unmatched
            except DockerfileError:
                continue  # resolve() reports the expansion error itself
            for name in sorted(unmatched):
                yield "UndefinedArgInFrom", s.from_.line, f"FROM uses ${name}, which no ARG " \
                    "before the first FROM declares"


def _whole_context(ins: Copy) -> bool:
    return not ins.from_ and any(src in (".", "./", "*", "./*") for src in ins.sources)


@_check
def _copy_before_install(df: Dockerfile, _ctx: Path | None):
    for s in df.stages:
        copied: Copy | None = None
        for ins in s.instructions:
            if isinstance(ins, Copy) and not isinstance(ins, Add) and _whole_context(ins) \
                    and copied is None:
                copied = ins
            elif isinstance(ins, Run) and copied is not None and any(
                    _is(c, tool, sub) for c in _commands(ins) for tool, sub in _INSTALL_SEGMENTS):
                yield "CopyBeforeInstall", copied.line, "the whole context is copied " \
                    f"before the install on line {ins.line}: any change busts its cache"
                break


def context_is_large(context: Path) -> bool:
    """True if ``context`` holds more than LARGE_CONTEXT_FILES files or LARGE_CONTEXT_BYTES."""
    files = size = 0
    for root, _dirs, names in os.walk(context):
        for n in names:
            files += 1
            try:
                size += os.lstat(os.path.join(root, n)).st_size
            except OSError:
                continue
            if files > LARGE_CONTEXT_FILES or size > LARGE_CONTEXT_BYTES:
                return True
    return False


@_check
def _dockerignore(df: Dockerfile, ctx: Path | None):
    if ctx is None or (ctx / ".dockerignore").exists():
        return
    own = Path(df.filename)  # <Dockerfile>.dockerignore beside the Dockerfile also counts
    if own.with_name(own.name + ".dockerignore").exists():
        return
    if context_is_large(ctx):
        yield "MissingDockerignore", 1, f"context {ctx} is large and has no .dockerignore"


# --- driver ---------------------------------------------------------------------------------


def _check_directive(value: str | None) -> tuple[set[str], bool]:
    """``# check=skip=A,B;error=true`` -> (skipped rule IDs or {'all'}, warnings-are-errors)."""
    skip: set[str] = set()
    error = False
    if not value:
        return skip, error
    for part in value.split(";"):
        key, _, v = part.strip().partition("=")
        key = key.strip().lower()
        if key == "skip":
            skip |= {x.strip() for x in v.split(",") if x.strip()}
        elif key == "error":
            error = v.strip().lower() == "true"
        elif key == "experimental":
            continue  # BuildKit's opt-in for experimental rules; wharfie has none
        elif key:
            raise DockerfileError(f"invalid check directive key {key!r} (use skip= or error=)")
    for rule in skip - {"all"}:
        if rule not in RULES:
            raise DockerfileError(f"unknown rule {rule!r} in # check=skip")
    return skip, error


def lint(source: str | bytes, filename: str = "Dockerfile", *, context: Path | None = None,
         ignore: tuple[str, ...] | list[str] = ()) -> list[Finding]:
    """Lint Dockerfile text; findings sorted by line. Unparsable input raises DockerfileError."""
    for rule in ignore:
        if rule not in RULES:
            raise DockerfileError(f"unknown rule {rule!r}{suggest(rule, list(RULES))}")
    df = parse_dockerfile(source, filename)
    findings, _ = _findings(df, filename, context, RULES.keys() - set(ignore),
                            df.ast.directive("check"))
    return findings


def _findings(df: Dockerfile, filename: str, context: Path | None, rules: Collection[str],
              directive: str | None) -> tuple[list[Finding], bool]:
    """What ``rules`` find, less what ``directive`` (``skip=...;error=true``) skips; and
    whether the directive makes warnings errors."""
    skip, as_error = _check_directive(directive)
    findings = []
    for check in _CHECKS:
        for rule_id, line, message in check(df, context):
            if rule_id not in rules or rule_id in skip or "all" in skip:
                continue
            rule = RULES[rule_id]
            severity = ERROR if as_error and rule.severity == WARNING else rule.severity
            findings.append(Finding(rule_id, severity, line, message, rule.hint, filename))
    findings.sort(key=lambda f: (f.line, f.rule))
    return findings, as_error


# The rules that are also BuildKit's build checks: ``wharfie build`` runs these (and only
# these) on every build, reports them as warnings and, with ``check=error=true``, fails.
BUILD_CHECKS = frozenset({
    "StageNameCasing", "FromAsCasing", "NoEmptyContinuation", "ConsistentInstructionCasing",
    "ReservedStageName", "JSONArgsRecommended", "MaintainerDeprecated", "UndefinedArgInFrom",
    "WorkdirRelativePath", "UndefinedVar", "MultipleInstructionsDisallowed",
    "LegacyKeyValueFormat", "SecretsUsedInArgOrEnv",
})


def build_checks(source: str | bytes, filename: str = "Dockerfile",
                 build_arg: str | None = None) -> tuple[list[Finding], bool]:
    """BuildKit's build checks of a Dockerfile: the findings, and whether they must fail
    the build. ``build_arg`` is ``BUILDKIT_DOCKERFILE_CHECK`` (``skip=...;error=true``),
    which replaces the ``# check=`` directive as in BuildKit."""
    df = parse_dockerfile(source, filename)
    findings, as_error = _findings(df, filename, None, BUILD_CHECKS, build_arg
                                   if build_arg is not None else df.ast.directive("check"))
    for f in findings:
        f.severity = ERROR if as_error else WARNING
    return findings, as_error and bool(findings)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == ERROR for f in findings)


def sarif(findings: list[Finding]) -> dict:
    """Findings as a SARIF 2.1.0 log, for code-scanning dashboards."""
    level = {ERROR: "error", WARNING: "warning", INFO: "note"}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "wharfie-lint",
                "rules": [{"id": r.id, "shortDescription": {"text": r.description},
                           "help": {"text": r.hint},
                           "defaultConfiguration": {"level": level[r.severity]}}
                          for r in RULES.values()],
            }},
            "results": [{
                "ruleId": f.rule, "level": level[f.severity],
                "message": {"text": f"{f.message}. {f.hint}"},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.filename},
                    "region": {"startLine": f.line}}}],
            } for f in findings],
        }],
    }
