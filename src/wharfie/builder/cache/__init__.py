"""The build cache: step records by cache key (``records``), and their export to and
import from a directory or a registry (``transfer``)."""

from wharfie.builder.cache.records import BuildCache, CacheRecord, explain_miss, step_key
from wharfie.builder.cache.transfer import CacheSpec, export_to, import_from, parse_cache_spec

__all__ = ["BuildCache", "CacheRecord", "CacheSpec", "explain_miss", "export_to", "import_from",
           "parse_cache_spec", "step_key"]
