"""``wharfie sbom`` on real images: a Debian bookworm minbase with apt and Python packages
built on with ``wharfie build`` (pip-installed packages copied in, a Debian package
removed by a RUN step), and busybox. The result is compared with syft's on the same image
(``wharfie save`` to a docker-archive), and the SBOM documents are checked by the
CycloneDX and SPDX reference libraries."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import Cli

pytestmark = pytest.mark.slow

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
    / "site-packages"
PIP_INSTALLED = ("click", "urllib3")  # real dist-info directories pip wrote into our venv

DOCKERFILE = """\
FROM deb:py
COPY site/ /usr/local/lib/python3.11/dist-packages/
RUN dpkg --remove python3-yaml
"""

# Every known difference from syft on these images, with its reason; nothing else may differ.
SYFT_ALLOWED: dict[tuple[str, str, str], str] = {}


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def normalise(name: str, type_: str) -> str:
    """syft lower-cases Python names (PyYAML -> pyyaml); wharfie keeps METADATA's Name and
    normalises in the purl, so compare the PEP 503 form."""
    return pep503(name) if type_ == "python" else name


@pytest.fixture(scope="module")
def cli(tmp_path_factory, debian_py_rootfs_tar, busybox_rootfs_tar) -> Cli:
    work = tmp_path_factory.mktemp("sbom")
    cli = Cli(work / "root")
    cli("import", str(debian_py_rootfs_tar), "deb:py")
    cli("import", str(busybox_rootfs_tar), "busybox:local")
    ctx = work / "ctx"
    for dist in SITE.glob("*.dist-info"):
        if dist.name.split("-")[0].lower() in PIP_INSTALLED:
            shutil.copytree(dist, ctx / "site" / dist.name)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    cli("build", "-t", "deb:app", str(ctx))
    return cli


def sbom_json(cli: Cli, ref: str, *extra: str) -> dict:
    return json.loads(cli("sbom", "--format", "json", ref, *extra).stdout)


def syft_packages(cli: Cli, ref: str, tmp_path: Path) -> set[tuple[str, str, str]]:
    archive = tmp_path / f"{ref.replace(':', '-')}.tar"
    cli("save", "-o", str(archive), ref)
    res = subprocess.run([str(Path(sys.executable).parent / "syft"), f"docker-archive:{archive}",
                          "-o", "syft-json", "-q"], capture_output=True, check=True,
                         env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"})
    return {(normalise(a["name"], a["type"]), a["version"], a["type"])
            for a in json.loads(res.stdout)["artifacts"] if a["type"] in ("deb", "python")}


@pytest.mark.parametrize("ref", ["deb:app", "busybox:local"])
def test_same_packages_as_syft(cli, ref, tmp_path):
    ours = {(normalise(p["name"], p["type"]), p["version"], p["type"])
            for p in sbom_json(cli, ref)["packages"] if p["type"] in ("deb", "python")}
    theirs = syft_packages(cli, ref, tmp_path)
    unexplained = (ours ^ theirs) - set(SYFT_ALLOWED)
    assert not unexplained, f"only wharfie: {ours - theirs}; only syft: {theirs - ours}"
    if ref == "deb:app":
        assert len(ours) > 100
        assert {n for n, _, t in ours if t == "python"} >= {"click", "urllib3", "pip"}


def test_layers_steps_and_removed_packages(cli):
    doc = sbom_json(cli, "deb:app")
    by_name = {(p["name"], p["type"]): p for p in doc["packages"]}
    assert doc["distro"]["id"] == "debian" and doc["distro"]["versionID"] == "12"
    assert by_name[("libc6", "deb")]["addedBy"]["index"] == 0
    assert by_name[("libc6", "deb")]["purl"].endswith("distro=debian-12&upstream=glibc")
    assert "lib/x86_64-linux-gnu/libc.so.6" in by_name[("libc6", "deb")]["files"]
    click_pkg = by_name[("click", "python")]
    assert click_pkg["addedBy"]["index"] == 1 and "COPY site/" in click_pkg["addedBy"]["createdBy"]
    assert ("python3-yaml", "deb") not in by_name and ("PyYAML", "python") not in by_name
    every = {(p["name"], p["type"]): p for p in sbom_json(cli, "deb:app", "--scope",
                                                           "all-layers")["packages"]}
    for key in (("python3-yaml", "deb"), ("PyYAML", "python")):
        assert every[key]["addedBy"]["index"] == 0
        assert "dpkg --remove python3-yaml" in every[key]["removedBy"]["createdBy"]


def test_cyclonedx_and_spdx_documents_validate(cli, tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    cdx = tmp_path / "bom.cdx.json"
    cli("sbom", "deb:app", "--format", "cyclonedx-json", "-o", str(cdx))
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(cdx.read_text()) is None
    comps = json.loads(cdx.read_text())["components"]
    assert any(c.get("purl", "").startswith("pkg:pypi/click@") for c in comps)
    spdx = tmp_path / "bom.spdx.json"
    cli("sbom", "deb:app", "--format", "spdx-json", "-o", str(spdx))
    assert validate_full_spdx_document(parse_file(str(spdx))) == []


def test_unknown_image_is_one_error_line(cli):
    res = cli("sbom", "no-such:image", check=False)
    assert res.returncode != 0
    assert res.stderr.decode().startswith("wharfie: error: ")
    assert "Traceback" not in res.stderr.decode()
