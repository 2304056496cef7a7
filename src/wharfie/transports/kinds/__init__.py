"""The transports, one module each, all of one shape (see ``common``); this table finds them.

Adding a transport is one module here and one line in ``KINDS``.
"""

from __future__ import annotations

from types import ModuleType

from wharfie.transports.kinds import docker, docker_archive, oci, oci_archive, wharfie

KINDS: dict[str, ModuleType] = {k.NAME: k for k in (docker, oci, oci_archive, docker_archive,
                                                   wharfie)}
