"""Shell-word expansion with the semantics of BuildKit's ``shell.Lex``.

Dockerfile words are not run through a real shell: BuildKit expands ``$v``,
``${v}`` and a fixed set of ``${v<op>w}`` forms, strips quotes and escapes, and
(for some instructions) splits the result into words. This module mirrors that
lexer so ``ENV``, ``COPY`` and friends see exactly what ``docker build`` sees.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.gostr import quote

# Go's unicode.IsSpace (the White_Space property), which differs from str.isspace.
_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                      + "".join(chr(c) for c in range(0x2000, 0x200B)))
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_EOF = ""


def go_isspace(ch: str) -> bool:
    """Go's ``unicode.IsSpace`` for one character."""
    return ch in _GO_SPACE


def _is_digit(ch: str) -> bool:
    return ch.isdigit() and unicodedata.category(ch) == "Nd"


def _is_name_char(ch: str) -> bool:
    return ch.isalpha() or _is_digit(ch) or ch == "_"


class ShellError(DockerfileError):
    """A word that cannot be expanded (bad substitution, unmatched quote, ``${v?}``)."""


@dataclass
class WordResult:
    """The expansion of one word: the joined result, the split words and the names used."""

    result: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


class _Words:
    """Accumulates split words the way BuildKit's wordsStruct does."""

    __slots__ = ("buf", "words", "in_word")

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if go_isspace(ch):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf.append(ch)
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        if s:  # keep ``buf`` truthy only when it holds text, like Go's buf.Len() != 0
            self.buf.append(s)
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class ShellLex:
    """BuildKit's lexer: ``process_word`` expands one word, ``process_words`` also splits.

    Options mirror BuildKit's: ``raw_quotes`` keeps quote characters,
    ``raw_escapes`` keeps escape characters, ``skip_unset_env`` leaves
    references to unset variables as written, ``skip_process_quotes``
    treats quotes as ordinary characters.
    """

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False,
                 raw_escapes: bool = False, skip_unset_env: bool = False,
                 skip_process_quotes: bool = False) -> None:
        if escape not in ("\\", "`"):
            raise DockerfileError(f"invalid escape token {escape!r} does not match ` or \\")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self.skip_process_quotes = skip_process_quotes

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand ``word`` as one word: quotes removed, whitespace kept."""
        return self.process(word, env).result

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand ``word`` and split it on unquoted whitespace."""
        return self.process(word, env).words

    def process(self, word: str, env: Mapping[str, str]) -> WordResult:
        """Expand ``word``; the result also records which variables were (not) found."""
        sw = _ShellWord(self, word, env)
        try:
            result, words = sw.process_stop_on(_EOF, self.raw_escapes)
        except ShellError as e:
            raise ShellError(f"failed to process {quote(word)}: {e.problem}") from None
        return WordResult(result, words, sw.matched, sw.unmatched)


class _ShellWord:
    """One expansion in progress: a cursor over the input plus the environment."""

    def __init__(self, lex: ShellLex, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    # -- cursor -------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            return ch
        return _EOF

    # -- grammar ------------------------------------------------------
    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            quotes = not self.lex.skip_process_quotes
            esc = self.lex.escape
            while (ch := self.peek()) != _EOF:
                if stop and ch == stop:
                    self.next()
                    return "".join(result), words.get_words()
                if ch == "$":
                    tmp = self.process_dollar()
                    result.append(tmp)
                    words.add_string(tmp)
                elif quotes and ch == "'":
                    tmp = self.process_single_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                elif quotes and ch == '"':
                    tmp = self.process_double_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                else:
                    ch = self.next()
                    if ch == esc:
                        if self.raw_escapes:
                            words.add_raw_char(ch)
                            result.append(ch)
                        ch = self.next()
                        if ch == _EOF:
                            break
                        words.add_raw_char(ch)
                    else:
                        words.add_char(ch)
                    result.append(ch)
            if stop:
                raise ShellError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get_words()
        finally:
            self.raw_escapes = saved

    def process_single_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ShellError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def process_double_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        esc = self.lex.escape
        while True:
            p = self.peek()
            if p == _EOF:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            if p == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if p == "$":
                out.append(self.process_dollar())
                continue
            ch = self.next()
            if ch == esc:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt == _EOF:
                    continue
                if nxt in ('"', "$", esc):
                    ch = self.next()
            out.append(ch)

    def process_dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.process_name()
            if not name:
                return "$"
            value = self.get_env(name)
            if value is None:
                return "$" + name if self.lex.skip_unset_env else ""
            return value
        self.next()
        p = self.peek()
        if p == _EOF:
            raise ShellError("syntax error: missing '}'")
        if p in "{}:":
            raise ShellError("syntax error: bad substitution")
        name = self.process_name()
        ch = self.next()
        chs = ch
        null_is_unset = False
        if ch == "}":
            value = self.get_env(name)
            if value is None:
                return "${" + name + "}" if self.lex.skip_unset_env else ""
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch
        if ch == _EOF:
            raise ShellError("syntax error: missing '}'")
        if null_is_unset or ch in "+-?#%":
            raw = ch in ("#", "%") and ch != _EOF
            if null_is_unset and raw:
                raise ShellError(f"unsupported modifier ({chs}) in substitution")
            try:
                word, _ = self.process_stop_on("}", raw)
            except ShellError:
                if self.peek() == _EOF:
                    raise ShellError("syntax error: missing '}'") from None
                raise
            value = self.get_env(name, record_unset=False)
            is_set = value is not None
            if self.lex.skip_unset_env and not is_set:
                return "${" + name + chs + word + "}"
            value = value or ""
            if ch == "-":
                return word if (not is_set or (null_is_unset and value == "")) else value
            if ch == "+":
                return "" if (not is_set or (null_is_unset and value == "")) else word
            if ch == "?":
                if not is_set:
                    raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            if ch not in ("#", "%") or ch == _EOF:
                raise ShellError(f"unsupported modifier ({chs}) in substitution")
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        if ch == "/":
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            try:
                pattern, _ = self.process_stop_on("/", True)
            except ShellError:
                if self.peek() == _EOF:
                    raise ShellError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self.process_stop_on("}", True)
            except ShellError:
                if self.peek() == _EOF:
                    raise ShellError("syntax error: missing '}'") from None
                raise
            value = self.get_env(name)
            if self.lex.skip_unset_env and value is None:
                return "${" + name + "/" + pattern + "/" + replacement + "}"
            return _Glob(pattern).replace(value or "", replacement, replace_all)
        raise ShellError(f"unsupported modifier ({chs}) in substitution")

    def process_name(self) -> str:
        name: list[str] = []
        while (ch := self.peek()) != _EOF:
            if not name and _is_digit(ch):
                while (d := self.peek()) != _EOF and _is_digit(d):
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self.next()
            if not _is_name_char(ch):
                break
            name.append(self.next())
        return "".join(name)

    def get_env(self, name: str, record_unset: bool = True) -> str | None:
        """The value of ``name``; unset ones are recorded unless a modifier supplies a fallback."""
        value = self.env.get(name)
        if value is None:
            if record_unset:
                self.unmatched.add(name)
        else:
            self.matched.add(name)
        return value


class _Glob:
    """A ``${v#pattern}`` pattern (``*``, ``?``, ``\\`` escapes, no brackets).

    BuildKit turns these into Go (RE2) regexes, which never backtrack. Python's
    ``re`` would, exponentially on patterns like ``*a*a*a*b``, so this matcher
    simulates the pattern over a bitset of positions: linear in the pattern per
    start position, whatever the input.
    """

    def __init__(self, pattern: str) -> None:
        self.kinds: list[int] = []          # 0 literal, 1 any character, 2 star
        self.tokens: list[str | None] = []  # the literal character for kind 0
        i, n = 0, len(pattern)
        while i < n:
            tok = pattern[i]
            i += 1
            if tok == "*":
                if not self.kinds or self.kinds[-1] != 2:  # ** == *
                    self.kinds.append(2)
                    self.tokens.append(None)
            elif tok == "?":
                self.kinds.append(1)
                self.tokens.append(None)
            elif tok == "\\":
                if i < n and pattern[i] in "}/":
                    continue
                nxt = pattern[i] if i < n else ""
                i += 1
                if nxt not in ("*", "?", "\\"):
                    raise ShellError(f"invalid pattern ({pattern}) in substitution: "
                                     f"invalid escape '\\{nxt}'")
                self.kinds.append(0)
                self.tokens.append(nxt)
            else:
                self.kinds.append(0)
                self.tokens.append(tok)

    def _ends(self, value: str, start: int, masks: dict[str, int]) -> int:
        """Bitset of end positions of matches of the whole pattern starting at ``start``."""
        n = len(value)
        below_n = (1 << n) - 1
        states = 1 << start
        for kind, tok in zip(self.kinds, self.tokens, strict=True):
            if not states:
                return 0
            if kind == 0:
                states = (states & masks.get(tok, 0)) << 1  # type: ignore[arg-type]
            elif kind == 1:
                states = (states & below_n) << 1
            else:
                lowest = states & -states
                states = (1 << (n + 1)) - lowest
        return states

    @staticmethod
    def _masks(value: str) -> dict[str, int]:
        masks: dict[str, int] = {}
        for pos, ch in enumerate(value):
            masks[ch] = masks.get(ch, 0) | (1 << pos)
        return masks

    def match_prefix(self, value: str, greedy: bool) -> int | None:
        """End of the shortest (or longest) match anchored at the start, if any."""
        ends = self._ends(value, 0, self._masks(value))
        if not ends:
            return None
        return ends.bit_length() - 1 if greedy else (ends & -ends).bit_length() - 1

    def find(self, value: str, start: int, masks: dict[str, int]) -> tuple[int, int] | None:
        """The leftmost match at or after ``start``, longest at that position."""
        for i in range(start, len(value) + 1):
            ends = self._ends(value, i, masks)
            if ends:
                return i, ends.bit_length() - 1
        return None

    def replace(self, value: str, repl: str, replace_all: bool) -> str:
        """Go's ReplaceAllString (or the first match only), empty-match rules included."""
        masks = self._masks(value)
        if not replace_all:
            m = self.find(value, 0, masks)
            return value if m is None else value[:m[0]] + repl + value[m[1]:]
        out: list[str] = []
        last_end = search = 0
        n = len(value)
        while search <= n:
            m = self.find(value, search, masks)
            if m is None:
                break
            a0, a1 = m
            out.append(value[last_end:a0])
            if a1 > last_end or a0 == 0:
                out.append(repl)
            last_end = a1
            search = search + 1 if search + 1 > a1 else a1
        out.append(value[last_end:])
        return "".join(out)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    end = _Glob(pattern).match_prefix(value, greedy)
    return value if end is None else value[end:]


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern without reversing its escapes (``a\\*c`` -> ``c\\*a``)."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # Find the shortest rightmost match as a leftmost one: reverse pattern and value.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]
