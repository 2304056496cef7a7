"""The build cache: step records by cache key (``records``), and their export to and
import from a directory or a registry (``transfer``). Names load lazily (PEP 562): a
no-change rebuild reads records and never needs ``transfer``."""

from __future__ import annotations

from wharfie.lazy import on_first_use

_NAMES = {"BuildCache": "records", "CacheRecord": "records", "explain_miss": "records",
          "step_key": "records", "CacheSpec": "transfer", "export_to": "transfer",
          "import_from": "transfer", "parse_cache_spec": "transfer"}

__all__ = sorted(_NAMES)
__getattr__ = on_first_use(__name__, _NAMES)
