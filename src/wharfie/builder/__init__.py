"""The build engine: context, planning, cache and executors behind ``wharfie build``.

Public names (imported on first use, so importing a submodule stays cheap):
``BuildOptions``, ``build``, ``check``, ``prune_cache``, ``BuildResult``, ``BuildEvent``,
``BuildError``, ``CheckReport``, ``PruneReport``.

>>> from wharfie.builder import BuildOptions, build
>>> build(ImageStore(root), BuildOptions("examples/hello", tags=["hello:1"])).image_id
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.lazy import on_first_use

if TYPE_CHECKING:
    from wharfie.builder.fastpath import build
    from wharfie.builder.options import BuildOptions
    from wharfie.builder.pipeline import CheckReport, check
    from wharfie.builder.prune import PruneReport, prune_cache
    from wharfie.builder.result import BuildCheckError, BuildError, BuildEvent, BuildResult

_WHERE = {
    "BuildOptions": "options", "build": "fastpath", "check": "pipeline",
    "CheckReport": "pipeline", "BuildCheckError": "result", "prune_cache": "prune",
    "PruneReport": "prune", "BuildResult": "result", "BuildEvent": "result",
    "BuildError": "result",
}

__all__ = ["BuildCheckError", "BuildError", "BuildEvent", "BuildOptions", "BuildResult",
           "CheckReport", "PruneReport", "build", "check", "prune_cache"]
__getattr__ = on_first_use(__name__, _WHERE)
