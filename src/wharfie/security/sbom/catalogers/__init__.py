"""Catalogers: pure parsers from file contents to packages, one module per ecosystem."""

from __future__ import annotations

from wharfie.security.sbom.catalogers.apk import APK
from wharfie.security.sbom.catalogers.binary import BINARY
from wharfie.security.sbom.catalogers.dpkg import DPKG, DPKG_DISTROLESS
from wharfie.security.sbom.catalogers.java import JAVA
from wharfie.security.sbom.catalogers.npm import NPM, NPM_LOCK
from wharfie.security.sbom.catalogers.python import PYTHON
from wharfie.security.sbom.catalogers.rpm import RPM
from wharfie.security.sbom.catalogers.ruby import GEMSPEC
from wharfie.security.sbom.catalogers.rust import CARGO_LOCK
from wharfie.security.sbom.model import Cataloger

CATALOGERS: tuple[Cataloger, ...] = (DPKG, DPKG_DISTROLESS, APK, RPM, PYTHON, NPM, NPM_LOCK,
                                     JAVA, GEMSPEC, CARGO_LOCK, BINARY)
