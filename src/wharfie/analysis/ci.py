"""dive's CI gate: three rules, its defaults, its ``.dive-ci`` file and its messages.

Thresholds come from the flags, else the ``.dive-ci`` file (``rules:`` with dive's
camelCase keys or the kebab-case ones of its newer config), else dive's defaults
(efficiency 0.9, wasted bytes disabled, user-wasted 0.1). ``disabled``, ``off``,
``false`` or empty turn a rule off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wharfie.analysis.analyze import Analysis
from wharfie.errors import InvalidInput
from wharfie.units import parse_size

DEFAULTS = {"lowestEfficiency": "0.9", "highestWastedBytes": "disabled",
            "highestUserWastedPercent": "0.1"}
_KEBAB = {"lowest-efficiency": "lowestEfficiency", "highest-wasted-bytes": "highestWastedBytes",
          "highest-user-wasted-percent": "highestUserWastedPercent"}


@dataclass(frozen=True)
class RuleResult:
    key: str
    status: str  # PASS, FAIL, SKIP
    message: str = ""


def load_rules(flags: dict[str, str | None], config: Path | None) -> dict[str, str]:
    """The three rules' settings: flags over the ``.dive-ci`` file over the defaults."""
    rules = dict(DEFAULTS)
    if config is not None and config.is_file():
        rules.update(_read_config(config))
    rules.update({k: v for k, v in flags.items() if v is not None})
    return rules


def _read_config(path: Path) -> dict[str, str]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInput(f"failed to read CI config file {path}: {e}") from None
    section = doc.get("rules") if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        return {}
    out = {}
    for key, value in section.items():
        key = _KEBAB.get(key, key)
        if key in DEFAULTS:
            out[key] = "" if value is None else str(value)
    return out


def evaluate(analysis: Analysis, rules: dict[str, str]) -> list[RuleResult]:
    """Each rule's verdict, in dive's order of keys."""
    results = []
    for key in sorted(rules):
        value = rules[key].strip()
        if value.lower() in ("", "disabled", "off", "false"):
            results.append(RuleResult(key, "SKIP", "rule disabled"))
            continue
        results.append(_RULES[key](analysis, key, value))
    return results


def passed(results: list[RuleResult]) -> bool:
    return not any(r.status == "FAIL" for r in results)


def _ratio(key: str, value: str) -> float:
    try:
        threshold = float(value)
    except ValueError:
        raise InvalidInput(f"invalid {key} config value, given {value!r}") from None
    if not 0 <= threshold <= 1:
        raise InvalidInput(f"{key} config value is outside allowed range (0-1), given "
                           f"'{threshold:f}'")
    return threshold


def _lowest_efficiency(a: Analysis, key: str, value: str) -> RuleResult:
    threshold = _ratio(key, value)
    if threshold > a.efficiency:
        return RuleResult(key, "FAIL", f"image efficiency is too low (efficiency="
                                       f"{a.efficiency:2.2f} < threshold={value})")
    return RuleResult(key, "PASS")


def _highest_wasted_bytes(a: Analysis, key: str, value: str) -> RuleResult:
    threshold = parse_size(value)
    if a.wasted_bytes > threshold:
        return RuleResult(key, "FAIL", f"too many bytes wasted (wasted-bytes={a.wasted_bytes}"
                                       f" > threshold={value})")
    return RuleResult(key, "PASS")


def _highest_user_wasted_percent(a: Analysis, key: str, value: str) -> RuleResult:
    threshold = _ratio(key, value)
    if a.wasted_user_percent > threshold:
        return RuleResult(key, "FAIL", "too many bytes wasted, relative to the user bytes "
                                       f"added (%-user-wasted-bytes={a.wasted_user_percent:2.2f}"
                                       f" > threshold={value})")
    return RuleResult(key, "PASS")


_RULES = {"lowestEfficiency": _lowest_efficiency, "highestWastedBytes": _highest_wasted_bytes,
          "highestUserWastedPercent": _highest_user_wasted_percent}
