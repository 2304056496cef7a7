"""The build context: a directory, a git checkout or an unpacked tar; its .dockerignore,
and the checksums that key the cache of the steps that read it."""

from wharfie.builder.context.dockerignore import PatternMatcher, load_for
from wharfie.builder.context.tree import (
    SMALL_FILE,
    BuildContext,
    HashCache,
    checksum_tree,
    looks_like_tar,
    named_context,
)

__all__ = ["SMALL_FILE", "BuildContext", "HashCache", "PatternMatcher", "checksum_tree",
           "load_for", "looks_like_tar", "named_context"]
