"""Dockerfile text -> a list of instruction nodes, read exactly as BuildKit's parser reads it.

This is the syntactic layer: directives, continuations, comments, flags,
JSON vs shell form, heredoc bodies and line ranges. It knows nothing about
what an instruction means; :mod:`wharfie.dockerfile.instructions` types and
validates the nodes. ``Node.dump()`` prints BuildKit's AST dump format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.gostr import quote, quote_list
from wharfie.dockerfile.lexer.shell import ShellError, ShellLex, go_isspace

_RE_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_RE_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z", re.ASCII)
_RE_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)\Z", re.ASCII)
_VALID_DIRECTIVES = ("syntax", "escape", "check")
_BOM = "\ufeff"

_HEREDOC_INSTRUCTIONS = frozenset({"add", "copy", "run"})


@dataclass
class Heredoc:
    """A here-document attached to RUN, COPY or ADD (``<<EOF`` ... ``EOF``)."""

    name: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0
    content: str = ""

    def body(self) -> str:
        """The content as the build uses it: leading tabs stripped for ``<<-``."""
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content


@dataclass
class Node:
    """One instruction as written: name, flags, arguments and where it sits in the file."""

    value: str
    args: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    json: bool = False
    original: str = ""
    start_line: int = 0
    end_line: int = 0
    heredocs: list[Heredoc] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    sub: Node | None = None  # the trigger of an ONBUILD

    @property
    def name(self) -> str:
        """The lower-case instruction name (``run``, ``copy``...)."""
        return self.value.lower()

    def dump(self) -> str:
        """This node in BuildKit's s-expression format, without the outer parentheses."""
        parts = [self.name]
        if self.flags:
            parts.append(quote_list(self.flags))
        if self.sub is not None:
            parts.append("(" + self.sub.dump() + ")")
        parts.extend(quote(a) for a in self.args)
        return " ".join(p for p in parts if p).strip()


@dataclass
class Directive:
    """A parser directive from the top of the file (``# escape=`` ...)."""

    name: str
    value: str
    line: int


@dataclass
class ParseResult:
    """The nodes of a Dockerfile plus what the parser learned on the way."""

    nodes: list[Node]
    escape: str = "\\"
    directives: list[Directive] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    filename: str = "Dockerfile"
    empty_continuations: list[int] = field(default_factory=list)  # instruction start lines

    def directive(self, name: str) -> str | None:
        for d in self.directives:
            if d.name == name:
                return d.value
        return None

    def dump(self) -> str:
        """The whole file in BuildKit's dump format (one line per instruction)."""
        return "".join("(" + n.dump() + ")\n" for n in self.nodes)


class _Directives:
    """Parser-directive state: the escape token and whether directives may still appear."""

    def __init__(self) -> None:
        self.escape = "\\"
        self.done = False
        self.seen: list[Directive] = []
        self.line = 0
        self._set_escape("\\")

    def _set_escape(self, token: str) -> None:
        if token not in ("`", "\\"):
            raise DockerfileError(f"invalid escape token '{token}' does not match ` or \\")
        self.escape = token
        e = re.escape(token)
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def check(self, line: str, lineno: int) -> None:
        if self.done:
            return
        m = _RE_DIRECTIVE.match(line)
        if not m:
            self.done = True
            return
        key = m.group(1).lower()
        if key not in _VALID_DIRECTIVES:
            self.done = True
            return
        if any(d.name == key for d in self.seen):
            raise DockerfileError(f"only one {key} parser directive can be used")
        self.seen.append(Directive(key, m.group(2), lineno))
        if key == "escape":
            self._set_escape(m.group(2))


def _lstrip(s: str) -> str:
    i = 0
    while i < len(s) and go_isspace(s[i]):
        i += 1
    return s[i:]


def _strip(s: str) -> str:
    j = len(s)
    while j > 0 and go_isspace(s[j - 1]):
        j -= 1
    return _lstrip(s[:j])


def _trim_newline(s: str) -> str:
    return s.rstrip("\r\n")


def _is_comment(raw: str) -> bool:
    return _lstrip(_trim_newline(raw)).startswith("#")


def _split_lines(text: str) -> list[str]:
    """Lines with their endings kept, split on ``\\n`` only (as bufio with ScanLines)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def parse(source: str | bytes, filename: str = "Dockerfile") -> ParseResult:
    """Parse Dockerfile text into nodes; raise :class:`DockerfileError` naming file and line."""
    if isinstance(source, bytes):
        source = source.decode("utf-8", errors="replace")
    lines = _split_lines(source)
    d = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    empty_continuations: list[int] = []
    current = 0
    i = 0
    n = len(lines)

    def fail(e: DockerfileError, start: int, end: int | None = None) -> DockerfileError:
        return e.located(filename, start, end)

    while i < n:
        raw = lines[i]
        i += 1
        if current == 0 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        if _is_comment(raw):
            comments.append(_strip(_lstrip(_trim_newline(raw))[1:]))
        token = _lstrip(_trim_newline(raw))
        try:
            d.check(token, current + 1)
        except DockerfileError as e:
            raise fail(e, current + 1) from None
        current += 1
        if token.startswith("#"):
            token = ""
        start = current
        line, end_of_line = _trim_continuation(token, d)
        if end_of_line and line == "":
            continue

        has_empty = False
        while not end_of_line and i < n:
            raw = lines[i]
            i += 1
            token = _trim_newline(raw)
            try:
                d.check(token, current + 1)
            except DockerfileError as e:
                raise fail(e, current + 1) from None
            current += 1
            if _is_comment(raw):
                continue
            if not _lstrip(token):
                has_empty = True
                continue
            if token.startswith("#"):
                token = ""
            cont, end_of_line = _trim_continuation(token, d)
            line += cont

        if has_empty:
            warnings.append(f"{filename}:{start}: empty continuation line")
            empty_continuations.append(start)

        try:
            node = _node_from_line(line, d, comments)
        except DockerfileError as e:
            raise fail(e, start, current) from None

        if _can_contain_heredoc(node):
            try:
                docs = _heredocs_from_line(line)
            except DockerfileError as e:
                raise fail(e, start, current) from None
            for doc in docs:
                terminated = False
                body: list[str] = []
                while i < n:
                    raw = lines[i]
                    i += 1
                    current += 1
                    candidate = _trim_newline(raw)
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    body.append(raw)
                if not terminated:
                    raise DockerfileError("unterminated heredoc", filename=filename,
                                          line=start, end_line=current)
                doc.content = "".join(body)
                node.heredocs.append(doc)

        node.start_line, node.end_line = start, current
        if node.sub is not None:
            node.sub.start_line, node.sub.end_line = start, current
            node.sub.heredocs = node.heredocs
        nodes.append(node)
        comments = []

    if not nodes:
        raise DockerfileError("file with no instructions", filename=filename,
                              line=current or None)
    return ParseResult(nodes=nodes, escape=d.escape, directives=d.seen,
                       warnings=warnings, filename=filename,
                       empty_continuations=empty_continuations)


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    if d.continuation.search(line):
        return d.continuation.sub(r"\1", line), False
    return line, True


def _split_command(line: str) -> tuple[str, list[str], str]:
    parts = _RE_WHITESPACE.split(_strip(line), maxsplit=1)
    cmd = parts[0]
    flags: list[str] = []
    args = ""
    if len(parts) == 2:
        args, flags = _extract_flags(parts[1])
    return cmd, flags, _strip(args)


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--flag[=value]`` words; the rest of the line is returned untouched.

    BuildKit walks bytes here, which mangles non-ASCII flag values (``é`` -> ``Ã©``);
    this walks characters, deliberately keeping them intact.
    """
    in_spaces, in_word, in_quote = 0, 1, 2
    words: list[str] = []
    phase = in_spaces
    word: list[str] = []
    quote_ch = ""
    blank_ok = False
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if go_isspace(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            w = "".join(word)
            if w != "--" and (blank_ok or w):
                words.append(w)
            break
        if phase == in_word:
            if go_isspace(ch):
                phase = in_spaces
                w = "".join(word)
                if w == "--":
                    return line[pos:], words
                if blank_ok or w:
                    words.append(w)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote_ch = ch
                blank_ok = True
                phase = in_quote
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote_ch:
            phase = in_word
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", words


def _node_from_line(line: str, d: _Directives, comments: list[str]) -> Node:
    cmd, flags, rest = _split_command(line)
    node = Node(value=cmd, flags=flags, original=line, comments=list(comments))
    name = cmd.lower()
    if name == "onbuild":
        if rest:
            node.sub = _node_from_line(rest, d, [])
        return node
    parser = _DISPATCH.get(name)
    if parser is None:
        node.args = [""]  # BuildKit keeps unknown instructions with one empty argument
        return node
    node.args, node.json = parser(rest, d)
    return node


def _can_contain_heredoc(node: Node) -> bool:
    target = node.sub if node.name == "onbuild" and node.sub is not None else node
    return target.name in _HEREDOC_INSTRUCTIONS and not target.json


# --- line parsers: rest of line -> (args, is_json) ----------------------------------


def _parse_words(rest: str, d: _Directives) -> list[str]:
    """Split on whitespace outside quotes; quotes and escapes are kept in the words."""
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word: list[str] = []
    quote_ch = ""
    blank_ok = False
    esc = d.escape
    pos, n = 0, len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if go_isspace(ch):
                pos += 1
                continue
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == in_word:
            if go_isspace(ch):
                phase = in_spaces
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote_ch = ch
                blank_ok = True
                phase = in_quote
            if ch == esc:
                if pos + 1 == n:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote_ch:
            phase = in_word
        if ch == esc and quote_ch != "'":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            word.append(ch)
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


def _parse_name_val(rest: str, key: str, d: _Directives) -> list[str]:
    words = _parse_words(rest, d)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    out: list[str] = []
    for w in words:
        if "=" not in w:
            raise DockerfileError(
                f"Syntax error - can't find = in {quote(w)}. Must be of the form: name=value")
        k, v = w.split("=", 1)
        out += [k, v, "="]
    return out


def _parse_env(rest: str, d: _Directives) -> tuple[list[str], bool]:
    return _parse_name_val(rest, "ENV", d), False


def _parse_label(rest: str, d: _Directives) -> tuple[list[str], bool]:
    return _parse_name_val(rest, "LABEL", d), False


def _parse_name_or_name_val(rest: str, d: _Directives) -> tuple[list[str], bool]:
    return _parse_words(rest, d), False


def _parse_whitespace_delimited(rest: str, d: _Directives) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    return _RE_WHITESPACE.split(rest), False


def _parse_string(rest: str, d: _Directives) -> tuple[list[str], bool]:
    return ([rest] if rest else []), False


class _NotStringArray(DockerfileError):
    def __init__(self) -> None:
        super().__init__("when using JSON array syntax, arrays must be comprised of strings only")


def _reject_constant(name: str) -> float:
    raise ValueError(name)


def _finite_float(s: str) -> float:
    v = float(s)
    if v in (float("inf"), float("-inf")):
        raise ValueError(s)
    return v


_JSON = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _parse_json(rest: str) -> list[str] | None:
    """The JSON array at the start of ``rest``; None if it is not JSON (shell form)."""
    rest = _lstrip(rest)
    if not rest.startswith("["):
        return None
    try:
        value, _ = _JSON.raw_decode(rest)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _NotStringArray()
    # Go decodes lone surrogate escapes to U+FFFD.
    return [v.encode("utf-16", "surrogatepass").decode("utf-16", "replace") for v in value]


def _parse_maybe_json(rest: str, d: _Directives) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    arr = _parse_json(rest)
    if arr is not None:
        return arr, True
    return [rest], False


def _parse_maybe_json_to_list(rest: str, d: _Directives) -> tuple[list[str], bool]:
    arr = _parse_json(rest)
    if arr is not None:
        return arr, True
    return _parse_whitespace_delimited(rest, d)


def _parse_health(rest: str, d: _Directives) -> tuple[list[str], bool]:
    sep = 0
    while sep < len(rest) and not go_isspace(rest[sep]):
        sep += 1
    if sep == 0:
        return [], False
    nxt = sep
    while nxt < len(rest) and go_isspace(rest[nxt]):
        nxt += 1
    cmd, is_json = _parse_maybe_json(rest[nxt:], d)
    return [rest[:sep], *cmd], is_json


_DISPATCH = {
    "add": _parse_maybe_json_to_list,
    "arg": _parse_name_or_name_val,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_to_list,
    "entrypoint": _parse_maybe_json,
    "env": _parse_env,
    "expose": _parse_whitespace_delimited,
    "from": _parse_whitespace_delimited,
    "healthcheck": _parse_health,
    "label": _parse_label,
    "maintainer": _parse_string,
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_to_list,
    "workdir": _parse_string,
}

INSTRUCTIONS = tuple(sorted([*_DISPATCH, "onbuild"]))


# --- heredocs ---------------------------------------------------------------------------


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word like ``<<EOF``, ``<<-"EOF"`` or ``3<<EOF`` opens, if any."""
    m = _RE_HEREDOC.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    try:
        words = ShellLex("\\", skip_unset_env=True).process_words(rest, {})
        if len(words) != 1:
            return None
        raw_words = ShellLex("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, {})
    except ShellError as e:
        raise DockerfileError(f"invalid heredoc delimiter {rest!r}: {e.problem}") from None
    if len(raw_words) != 1:
        raise DockerfileError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name, raw = words[0], raw_words[0]
    expand = (name.count("'") + name.count('"')) == (raw.count("'") + raw.count('"'))
    return Heredoc(name=name, expand=expand, chomp=m.group(2) == "-",
                   fd=int(m.group(1)) if m.group(1) else 0)


def _heredocs_from_line(line: str) -> list[Heredoc]:
    if "<<" not in line:  # words keep their raw text here, so a heredoc needs a literal <<
        return []
    lex = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, {})
    except ShellError:
        words = []
    return [h for w in words if (h := parse_heredoc(w)) is not None]
