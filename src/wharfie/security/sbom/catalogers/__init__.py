"""Catalogers: pure parsers from file contents to packages, one module per ecosystem."""

from __future__ import annotations

from wharfie.security.sbom.catalogers.apk import APK
from wharfie.security.sbom.catalogers.binary import BINARY
from wharfie.security.sbom.catalogers.dpkg import DPKG, DPKG_DISTROLESS
from wharfie.security.sbom.catalogers.npm import NPM
from wharfie.security.sbom.catalogers.python import PYTHON
from wharfie.security.sbom.catalogers.rpm import RPM
from wharfie.security.sbom.catalogers.rust import CARGO_LOCK
from wharfie.security.sbom.model import Cataloger

CATALOGERS: tuple[Cataloger, ...] = (DPKG, DPKG_DISTROLESS, APK, RPM, PYTHON, NPM, CARGO_LOCK,
                                     BINARY)
