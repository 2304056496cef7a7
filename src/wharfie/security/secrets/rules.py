"""Secret rules: a regular expression per kind of credential, with the keywords that must
appear before the (slower) expression runs, gitleaks-style.

A rule's ``secret`` group is the credential itself (what gets masked); ``entropy`` (bits
per character, Shannon) keeps generic ``password=...`` rules to values that look random.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    keywords: tuple[str, ...]  # lower-case; one must occur in the text
    pattern: re.Pattern[str]
    entropy: float = 0.0

    def matches(self, text: str, lowered: str) -> list[re.Match[str]]:
        if not any(k in lowered for k in self.keywords):
            return []
        return [m for m in self.pattern.finditer(text) if self._plausible(m.group("secret"))]

    def _plausible(self, value: str) -> bool:
        if not self.entropy:
            return True
        return (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
                and shannon_entropy(value) >= self.entropy)


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``'s own character distribution."""
    counts, n = Counter(value), len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def _rule(id: str, title: str, severity: str, keywords: tuple[str, ...], pattern: str,
          entropy: float = 0.0) -> Rule:
    return Rule(id, title, severity, keywords, re.compile(pattern), entropy)


_B = r"(?<![A-Za-z0-9_])"  # not in the middle of a longer word
RULES: tuple[Rule, ...] = (
    _rule("private-key", "Private key", "HIGH", ("private key-----",),
          r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----\s*"
          r"(?P<secret>[A-Za-z0-9+/=\s:,-]{64,}?)\s*-----END"),
    _rule("aws-access-key-id", "AWS access key ID", "CRITICAL",
          ("akia", "asia", "abia", "acca"),
          _B + r"(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})(?![0-9A-Za-z])"),
    _rule("aws-secret-access-key", "AWS secret access key", "CRITICAL",
          ("aws_secret", "secret_access_key", "secretaccesskey"),
          r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?"
          r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"),
    _rule("github-pat", "GitHub personal access token", "CRITICAL",
          ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
          _B + r"(?P<secret>gh[pousr]_[0-9A-Za-z]{36})(?![0-9A-Za-z])"),
    _rule("github-fine-grained-pat", "GitHub fine-grained personal access token", "CRITICAL",
          ("github_pat_",), _B + r"(?P<secret>github_pat_[0-9A-Za-z_]{82})(?![0-9A-Za-z_])"),
    _rule("gitlab-pat", "GitLab personal access token", "CRITICAL", ("glpat-",),
          _B + r"(?P<secret>glpat-[0-9A-Za-z_-]{20})(?![0-9A-Za-z_-])"),
    _rule("slack-token", "Slack token", "HIGH", ("xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"),
          _B + r"(?P<secret>xox[baprs]-(?:[0-9A-Za-z]+-){1,4}[0-9A-Za-z]{6,})"),
    _rule("npm-token", "npm access token", "CRITICAL", ("npm_",),
          _B + r"(?P<secret>npm_[0-9A-Za-z]{36})(?![0-9A-Za-z])"),
    _rule("pypi-token", "PyPI upload token", "CRITICAL", ("pypi-ageicHlwaS5vcmc".lower(),),
          _B + r"(?P<secret>pypi-AgEIcHlwaS5vcmc[0-9A-Za-z_-]{50,})"),
    _rule("generic-secret", "High-entropy secret assignment", "MEDIUM",
          ("password", "passwd", "secret", "token", "api_key", "apikey"),
          r"(?i)(?<![A-Za-z0-9])[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_?key)"
          r"[A-Za-z0-9_.-]*[\"']?\s*[:=]\s*(?P<q>[\"']?)"
          r"(?P<secret>[A-Za-z0-9+/=_.~!@#%^&*-]{12,})(?P=q)(?![A-Za-z0-9+/=_.~!@#%^&*-])",
          entropy=3.5),
)


def mask(value: str) -> str:
    """Enough to recognise a credential (its first four characters), none of its secret."""
    value = " ".join(value.split())
    shown = 4 if len(value) > 12 else 0
    return value[:shown] + "*" * min(len(value) - shown, 16)
