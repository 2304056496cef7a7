"""Why an image is big (issue 21): dive's efficiency and wasted bytes, plus findings that
name the Dockerfile step responsible and the fix. Reads layers through ``wharfie.imagefs``.

``analyze(image, ...)`` is the one entry point (the CLI's, and the public API's
``Client.analyze`` to come); ``ci``, ``report`` and ``html`` turn its result into a
verdict, dive's JSON and a page.
"""

from wharfie.analysis.analyze import Analysis, LayerReport, analyze, base_layers
from wharfie.analysis.findings import Finding

__all__ = ["Analysis", "Finding", "LayerReport", "analyze", "base_layers"]
