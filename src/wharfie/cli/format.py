"""Output as the Docker CLI renders it: tables, ``--format`` Go templates, sizes and ages.

Generic on purpose: a command builds one dict per row (Docker's field names as
keys) and calls ``write_rows``; ``--format`` may then be ``table [TEMPLATE]``,
``json`` or any template. The template language is the subset of Go's
text/template that Docker users write: ``{{.Field.Sub}}``, functions (``json``,
``join``, ``index``, ``len``, ``upper``, ``lower``, ``title``, ``split``,
``truncate``, ``pad``, ``println``, ``print``, ``printf``, ``eq``, ``ne``,
``not``, ``and``, ``or``), pipes, ``range`` / ``if`` / ``with`` with ``else``,
and ``{{-``/``-}}`` trimming. Values print as Go's ``%v`` does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from wharfie.errors import WharfieError

# --- sizes, ages, truncation ---------------------------------------------------------------

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, ``precision`` significant digits."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{_DECIMAL_UNITS[i]}"


_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, four significant digits (``316KiB``, ``23.47GiB``)."""
    i = 0
    while size >= 1024.0 and i < len(_BINARY_UNITS) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{_BINARY_UNITS[i]}"


def prune_report(sections: list[tuple[str, list[str]]], reclaimed: int,
                 precision: int = 3) -> str:
    """docker's prune output: each non-empty ``Deleted X:`` block, then the space."""
    text = "".join(f"{title}:\n" + "".join(f"{line}\n" for line in lines) + "\n"
                   for title, lines in sections if lines)
    return text + f"Total reclaimed space: {human_size(reclaimed, precision)}\n"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: ``Less than a second``, ``About an hour``, ``3 weeks``..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)  # Go rounds to the nearest hour here
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def since(ts: float | None, now: float | None = None) -> str:
    """Docker's CREATED column: ``2 hours ago``, or ``N/A`` for an unknown time."""
    if ts is None or ts <= 0:
        return "N/A"
    return human_duration((now if now is not None else time.time()) - ts) + " ago"


def go_time(ts: float | None) -> str:
    """A time as Go's ``Time.String`` prints it in the local zone (Docker's CreatedAt)."""
    if ts is None:
        return ""
    try:
        dt = datetime.fromtimestamp(int(ts)).astimezone()
    except (ValueError, OverflowError, OSError):  # Go's zero time (cosign's .sig configs)
        dt = datetime.fromtimestamp(int(ts), UTC)
    return f"{dt.year:04d}" + dt.strftime("-%m-%d %H:%M:%S %z ") + (dt.tzname() or "")


def go_rfc3339(ts: float | None) -> str:
    """``time.Unix(ts, 0).Format(time.RFC3339)`` in the local zone (``Z`` for UTC)."""
    if ts is None:
        return ""
    text = datetime.fromtimestamp(int(ts)).astimezone().isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def ellipsis(text: str, width: int) -> str:
    """Shorten to ``width`` characters, the last one ``…`` (Docker's Ellipsis)."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…" if width > 0 else ""


def go_json(obj: Any, *, indent: int | None = None) -> str:
    """JSON as Go's encoding/json writes it: HTML characters escaped, no spaces (or indented)."""
    if indent is None:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(obj, indent=indent, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- tables --------------------------------------------------------------------------------


def tabwrite(lines: Iterable[str], *, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated cells like Go's tabwriter as Docker configures it (10, 1, 3, ' ').

    A cell is text ended by a tab; the text after a line's last tab is not aligned.
    """
    rows = [line.split("\t") for line in lines]
    widths: list[int] = []
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            if i == len(widths):
                widths.append(0)
            widths[i] = max(widths[i], len(cell))
    widths = [max(w + padding, minwidth) for w in widths]
    out = []
    for cells in rows:
        out.append("".join(c.ljust(widths[i]) for i, c in enumerate(cells[:-1])) + cells[-1])
    return "".join(line + "\n" for line in out)


def write_rows(spec: str | None, rows: list[Mapping[str, Any]], *, default: str,
               headers: Mapping[str, str], echo: Callable[[str], None],
               extra: Iterable[str] = ()) -> None:
    """Render ``rows`` per ``--format`` (None: the ``default`` table) and hand text to ``echo``.

    ``headers`` maps each field to its column title; ``json`` prints one object per row.
    ``extra`` fields are wharfie's own: a template may name them, JSON leaves them out.
    """
    spec = spec if spec else default
    fields = [Fields(row, extra) for row in rows]
    if spec.strip() == "json":
        echo("".join(go_json(f.docker()) + "\n" for f in fields))
        return
    table = spec.startswith("table")
    text = _unescape(spec[len("table"):] if table else spec).strip(" ")
    if table and not text:
        text = _unescape(default[len("table"):]).strip(" ")
    tmpl = Template(text)
    if table:
        lines = [tmpl.render(_Header(headers))]
        lines += [tmpl.render(f) for f in fields]
        echo(tabwrite("\n".join(lines).split("\n")))
    else:
        echo("".join(tmpl.render(f) + "\n" for f in fields))


def _unescape(text: str) -> str:
    return text.replace("\\t", "\t").replace("\\n", "\n")


class Fields(dict):
    """A row of a typed context (Docker's imageContext...): an unknown field is an error."""

    def __init__(self, row: Mapping[str, Any], extra: Iterable[str] = ()) -> None:
        super().__init__(row)
        self.extra = frozenset(extra)

    def docker(self) -> dict[str, Any]:
        """The row as Docker's ``{{json .}}`` marshals it: its own fields, keys sorted."""
        return {k: v for k, v in sorted(self.items()) if k not in self.extra}


class _Header(dict):
    """The context a table header renders with: every field is its own column title."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(headers)

    def __missing__(self, key: str) -> str:
        return key.upper()


# --- Go templates --------------------------------------------------------------------------


class TemplateError(WharfieError):
    """A ``--format`` template that does not parse or does not apply."""


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)'
                    r"|(?P<pipe>\|)|(?P<lp>\()|(?P<rp>\))"
                    r"|(?P<field>(?:\$\w*)?(?:\.[A-Za-z_]\w*)+|\.|\$\w*)|(?P<ident>[A-Za-z_]\w*))")


class _Missing:
    """A key a map does not have: Go prints ``<no value>``."""

    def __str__(self) -> str:
        return "<no value>"


MISSING = _Missing()


def go_str(v: Any) -> str:
    """A value as Go's ``%v`` prints it."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e21 else f"{v:g}"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{go_str(k)}:{_map_value(x)}" for k, x in sorted(v.items())) \
            + "]"
    return str(v)


def _map_value(v: Any) -> str:
    """A map's value: an empty object there is Go's ``struct{}`` (ExposedPorts, Volumes)."""
    return "{}" if isinstance(v, Mapping) and not v else go_str(v)


def _truthy(v: Any) -> bool:
    return not (v is None or v is MISSING or v is False or v == 0 or v == "" or
                (isinstance(v, list | tuple | Mapping) and len(v) == 0))


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        try:
            v = v[int(k)] if isinstance(v, list | tuple) else v[k]
        except (KeyError, IndexError, TypeError, ValueError):
            if isinstance(v, Mapping):
                return MISSING
            raise TemplateError(f"template: error calling index: index {k} out of range") from None
    return v


def _join(v: Any, sep: Any) -> str:
    """docker's ``join LIST SEP`` (strings.Join), with Go's complaint about wrong types."""
    if not isinstance(sep, str) or isinstance(v, str):
        raise TemplateError("template: error calling join: wrong type for value; "
                            "expected []string; got string")
    return sep.join(go_str(x) for x in (v or []))


def _printf(fmt: str, *args: Any) -> str:
    conv = re.sub(r"%v", "%s", fmt)
    return conv % tuple(go_str(a) if isinstance(a, list | tuple | Mapping | bool) else a
                        for a in args)


FUNCS: dict[str, Callable[..., Any]] = {
    "json": lambda v: go_json(None if v is MISSING else v.docker() if isinstance(v, Fields)
                              else v),
    "join": lambda v, sep: _join(v, sep),
    "split": lambda s, sep: s.split(sep),
    "index": _index,
    "len": lambda v: len(v),
    "upper": lambda s: go_str(s).upper(),
    "lower": lambda s: go_str(s).lower(),
    "title": lambda s: go_str(s).title(),
    "truncate": lambda s, n: go_str(s)[: int(n)],
    "pad": lambda s, left, right: " " * int(left) + go_str(s) + " " * int(right),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "print": lambda *a: "".join(go_str(x) for x in a),
    "printf": _printf,
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "not": lambda v: not _truthy(v),
    "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1]),
}


class Template:
    """A parsed Go template; ``render(data)`` executes it against dicts and objects."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._pieces = self._lex(text)
        self._pos = 0
        self.nodes, end = self._parse_list(())
        if end is not None:
            raise TemplateError(f"template parsing error: unexpected {{{{{end}}}}}")
        self._fields = self._plain_fields(self.nodes)

    @staticmethod
    def _plain_fields(nodes: list) -> list[tuple[bool, str]] | None:
        """For templates of text and ``{{.Field}}`` only (table rows): (is_field, text) parts."""
        parts = []
        for node in nodes:
            if node[0] == "text":
                parts.append((False, node[1]))
            elif node[0] == "action" and len(node[1]) == 1 and len(node[1][0]) == 1 \
                    and node[1][0][0][0] == "field" and re.fullmatch(r"\.\w+", node[1][0][0][1]):
                parts.append((True, node[1][0][0][1][1:]))
            else:
                return None
        return parts

    def render(self, data: Any) -> str:
        if self._fields is not None and type(data) is Fields:
            try:  # the fast path for rows; a missing field takes the slow path to its error
                return "".join(
                    (v if type(v := data[t]) is str else go_str(v)) if f else t
                    for f, t in self._fields)
            except KeyError:
                pass
        out: list[str] = []
        self._exec(self.nodes, data, {"$": data}, out)
        return "".join(out)

    # parsing: pieces are ("text", str) or ("action", str)

    @staticmethod
    def _lex(text: str) -> list[tuple[str, str]]:
        pieces: list[tuple[str, str]] = []
        pos = 0
        for m in _ACTION.finditer(text):
            literal = text[pos:m.start()]
            if m.group(1):
                literal = literal.rstrip()
            pieces.append(("text", literal))
            pieces.append(("action", m.group(2).strip()))
            pos = m.end()
            if m.group(3):
                rest = text[pos:]
                pos += len(rest) - len(rest.lstrip())
        if "{{" in text[pos:]:
            raise TemplateError("template parsing error: unclosed action")
        pieces.append(("text", text[pos:]))
        return pieces

    def _parse_list(self, stops: tuple[str, ...]) -> tuple[list, str | None]:
        nodes: list = []
        while self._pos < len(self._pieces):
            kind, body = self._pieces[self._pos]
            self._pos += 1
            if kind == "text":
                if body:
                    nodes.append(("text", body))
                continue
            if body.startswith("/*"):
                continue
            word = body.split(None, 1)[0] if body else ""
            if word in stops:
                return nodes, body
            if word in ("end", "else"):
                raise TemplateError(f"template parsing error: unexpected {{{{{word}}}}}")
            if word in ("range", "if", "with"):
                nodes.append(self._parse_block(word, body[len(word):]))
            else:
                nodes.append(("action", self._parse_pipeline(body)))
        return nodes, None

    def _parse_block(self, word: str, rest: str) -> tuple:
        """``range``/``if``/``with`` up to its ``end``; ``else if`` shares the outer ``end``."""
        pipe = self._parse_pipeline(rest)
        inner, stop = self._parse_list(("end", "else"))
        other: list = []
        if stop is not None and stop.startswith("else"):
            tail = stop[4:].strip()
            if tail.startswith("if ") or tail.startswith("with "):
                kind = tail.split(None, 1)[0]
                return (word, pipe, inner, [self._parse_block(kind, tail[len(kind):])])
            other, stop = self._parse_list(("end",))
        if stop is None:
            raise TemplateError(f"template parsing error: unexpected EOF in {{{{{word}}}}}")
        return (word, pipe, inner, other)

    def _parse_pipeline(self, text: str) -> list:
        tokens = self._tokenize(text)
        pos = 0

        def command() -> list:
            nonlocal pos
            args = []
            while pos < len(tokens) and tokens[pos][0] not in ("pipe", "rp"):
                kind, val = tokens[pos]
                pos += 1
                if kind == "lp":
                    args.append(("pipeline", pipeline()))
                    if pos >= len(tokens) or tokens[pos][0] != "rp":
                        raise TemplateError(f"template parsing error: unclosed ( in {text!r}")
                    pos += 1
                else:
                    args.append((kind, val))
            if not args:
                raise TemplateError(f"template parsing error: missing value in {text!r}")
            return args

        def pipeline() -> list:
            nonlocal pos
            cmds = [command()]
            while pos < len(tokens) and tokens[pos][0] == "pipe":
                pos += 1
                cmds.append(command())
            return cmds

        result = pipeline()
        if pos != len(tokens):
            raise TemplateError(f"template parsing error: unexpected ) in {text!r}")
        return result

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise TemplateError(f"template parsing error: bad syntax at {text[pos:]!r}")
            kind = m.lastgroup
            assert kind is not None
            val = m.group(kind)
            if kind == "ident" and val not in FUNCS and val not in ("true", "false", "nil"):
                raise TemplateError(f'template parsing error: function "{val}" not defined')
            tokens.append((kind, val))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        return tokens

    # execution

    def _exec(self, nodes: list, dot: Any, vars: dict, out: list[str]) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                v = self._pipeline(node[1], dot, vars)
                out.append(go_str(v))
            else:
                _, pipe, inner, other = node
                v = self._pipeline(pipe, dot, vars)
                if kind == "if":
                    self._exec(inner if _truthy(v) else other, dot, vars, out)
                elif kind == "with":
                    if _truthy(v):
                        self._exec(inner, v, vars, out)
                    else:
                        self._exec(other, dot, vars, out)
                else:  # range
                    items = list(v.values()) if isinstance(v, Mapping) else (
                        [] if v is None or v is MISSING else v)
                    if not isinstance(items, list | tuple):
                        raise TemplateError(f"template: range can't iterate over {go_str(v)}")
                    for item in items:
                        self._exec(inner, item, vars, out)
                    if not items:
                        self._exec(other, dot, vars, out)

    def _pipeline(self, cmds: list, dot: Any, vars: dict) -> Any:
        value: Any = None
        for i, cmd in enumerate(cmds):
            extra = [value] if i else []
            value = self._command(cmd, dot, vars, extra)
        return value

    def _command(self, cmd: list, dot: Any, vars: dict, extra: list) -> Any:
        head_kind, head = cmd[0]
        if head_kind == "ident" and head in FUNCS:
            args = [self._arg(a, dot, vars) for a in cmd[1:]] + extra
            try:
                return FUNCS[head](*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
                raise TemplateError(f"template: error calling {head}: {e}") from None
        if len(cmd) > 1 or extra:
            raise TemplateError(f"template: can't give argument to non-function {head}")
        return self._arg(cmd[0], dot, vars)

    def _arg(self, arg: tuple, dot: Any, vars: dict) -> Any:
        kind, val = arg
        if kind == "str":
            return json.loads(val) if val.startswith('"') else val[1:-1]
        if kind == "num":
            return float(val) if "." in val else int(val)
        if kind == "pipeline":
            return self._pipeline(val, dot, vars)
        if kind == "ident":
            if val in ("true", "false"):
                return val == "true"
            if val == "nil":
                return None
            return FUNCS[val]()
        # a field chain: ., .A.B, $, $.A
        base, path = dot, val
        if val.startswith("$"):
            name, _, path = val.partition(".")
            base = vars.get(name if name != "$" else "$", vars["$"])
            path = "." + path if path else ""
        if path in ("", "."):
            return base
        for name in path.lstrip(".").split("."):
            base = self._field(base, name)
        return base

    @staticmethod
    def _field(obj: Any, name: str) -> Any:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
            if isinstance(obj, Fields):
                raise TemplateError(f"template: can't evaluate field {name}")
            try:
                return obj[name]  # __missing__ (table headers)
            except KeyError:
                return MISSING
        if obj is None or obj is MISSING:
            raise TemplateError(f"template: nil pointer evaluating .{name}")
        try:
            return getattr(obj, name)
        except AttributeError:
            raise TemplateError(f"template: can't evaluate field {name}") from None
