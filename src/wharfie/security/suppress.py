"""Suppressions: Trivy's ignore file (``.trivyignore``: one ID a line, ``exp:YYYY-MM-DD``
to stop suppressing after that day) and OpenVEX documents (``not_affected`` and
``fixed`` statements suppress; ``affected`` and ``under_investigation`` do not).

A line or statement names a finding by its ID or by any of its aliases (a GHSA finding by
its CVE, and the other way round), as Trivy and grype match them.

A suppressed finding is kept with the reason, for ``--show-suppressed``.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from wharfie.errors import InvalidInput, NotFound

VEX_SUPPRESSING = ("not_affected", "fixed")


@dataclass(frozen=True)
class Ignore:
    """One ignore-file line: the finding ID (a CVE, a secret rule, a misconfig check)."""

    id: str
    expires: datetime.date | None
    line: int


@dataclass(frozen=True)
class VexStatement:
    vuln: frozenset[str]  # the name and its aliases
    products: tuple[str, ...]  # product and subcomponent @ids; empty: every product
    status: str
    justification: str


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: cannot read: {e}") from None


def parse_ignorefile(text: str, name: str = ".trivyignore") -> list[Ignore]:
    """``CVE-2023-4911``, ``CVE-2023-4911 exp:2025-01-31``, ``# comments``."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        expires = None
        for word in words[1:]:
            if not word.startswith("exp:"):
                raise InvalidInput(f"{name}:{n}: unknown field {word!r} (only exp:YYYY-MM-DD)")
            try:
                expires = datetime.date.fromisoformat(word[4:])
            except ValueError:
                raise InvalidInput(f"{name}:{n}: bad date {word[4:]!r}: use YYYY-MM-DD") \
                    from None
        out.append(Ignore(words[0], expires, n))
    return out


def load_ignorefile(path: Path) -> list[Ignore]:
    return parse_ignorefile(_read(path), str(path))


def parse_openvex(doc: object, name: str = "VEX") -> list[VexStatement]:
    """OpenVEX 0.2 (``vulnerability: {name, aliases}``, ``products: [{@id, subcomponents}]``)
    and the older 0.0.x form (``vulnerability: "CVE-..."``, ``products: ["purl"]``)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("statements"), list) or \
            "openvex" not in str(doc.get("@context", "")):
        raise InvalidInput(f"{name}: not an OpenVEX document (no openvex @context and statements)")
    out = []
    for st in doc["statements"]:
        vuln = st.get("vulnerability")
        names = {vuln} if isinstance(vuln, str) else \
            {(vuln or {}).get("name"), (vuln or {}).get("@id"), *((vuln or {}).get("aliases") or [])}
        products: list[str] = []
        for p in st.get("products") or []:
            if isinstance(p, str):
                products.append(p)
                continue
            subs = [s.get("@id", "") for s in p.get("subcomponents") or []]
            products += subs or [p.get("@id", "")]
        status = st.get("status", "")
        if status not in (*VEX_SUPPRESSING, "affected", "under_investigation"):
            raise InvalidInput(f"{name}: unknown VEX status {status!r}")
        out.append(VexStatement(frozenset(n for n in names if n), tuple(products), status,
                                st.get("justification") or st.get("impact_statement") or ""))
    return out


def load_openvex(path: Path) -> list[VexStatement]:
    try:
        doc = json.loads(_read(path))
    except json.JSONDecodeError as e:
        raise InvalidInput(f"{path}: not JSON: {e}") from None
    return parse_openvex(doc, str(path))


def _purl_matches(product: str, purl: str) -> bool:
    """A product purl names the package when type/namespace/name agree and, if it gives a
    version, the version too; qualifiers (``?arch=...``) are not compared."""
    if not purl:
        return False
    want, have = product.split("?", 1)[0], purl.split("?", 1)[0]
    return have == want or ("@" not in want and have.split("@", 1)[0] == want)


@dataclass
class Suppressor:
    """What an ignore file and VEX statements say about findings; ``today`` for expiry."""

    ignores: list[Ignore]
    vex: list[VexStatement]
    image_ids: tuple[str, ...] = ()  # the image's digest and ID, as VEX products name it
    today: datetime.date = field(default_factory=datetime.date.today)

    def reason(self, finding_id: str, purl: str = "", aliases: tuple[str, ...] = ()) -> str | None:
        """Why a finding is suppressed, or None when it is not."""
        names = {finding_id, *aliases}
        for ig in self.ignores:
            if ig.id in names and (ig.expires is None or ig.expires >= self.today):
                return f"ignore file line {ig.line}" + (f" (until {ig.expires})"
                                                        if ig.expires else "")
        for st in self.vex:
            if names & st.vuln and st.status in VEX_SUPPRESSING and self._applies(st, purl):
                return f"VEX {st.status}" + (f": {st.justification}" if st.justification else "")
        return None

    def _applies(self, st: VexStatement, purl: str) -> bool:
        if not st.products:
            return True
        return any(_purl_matches(p, purl) or any(i and i in unquote(p) for i in self.image_ids)
                   for p in st.products)
