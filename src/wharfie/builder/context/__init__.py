"""The build context: a directory, a git checkout or an unpacked tar; its .dockerignore,
and the checksums that key the cache of the steps that read it.

The names below load with their module on first use, so that importing one module of the
package (``dockerignore``, which ``filecopy`` needs) does not run the others (``tree``
needs ``filecopy``)."""

from __future__ import annotations

from wharfie.lazy import on_first_use

_WHERE = {"PatternMatcher": "dockerignore", "load_for": "dockerignore", "SMALL_FILE": "tree",
          "BuildContext": "tree", "HashCache": "tree", "checksum_tree": "tree",
          "looks_like_tar": "tree", "named_context": "tree"}

__all__ = sorted(_WHERE)
__getattr__ = on_first_use(__name__, _WHERE)
