"""Maven and RubyGems version order, and language packages from the new catalogers
matched with real advisories: log4j-core's CVE-2021-44228 (GHSA-jfh8-c2jp-5v3q, Maven
2.0-beta9 before 2.15.0) in a nested jar, and rake's CVE-2020-8130 (GHSA-jppv-gw3r-w3q8,
RubyGems before 12.3.3)."""

from __future__ import annotations

import json

from tests.security.test_sbom_more_catalogers import jar
from tests.security.test_vulns import findings

from wharfie.images.imagestore import ImageStore
from wharfie.security.vulns.versions import comparator, compare_maven, compare_rubygems
from wharfie.testing.random import add_image


def test_maven_order():
    assert compare_maven("2.0-beta9", "2.0-rc1") < 0 < compare_maven("2.15.0", "2.0-beta9")
    assert compare_maven("1.0-SNAPSHOT", "1.0") < 0 < compare_maven("1.0-sp1", "1.0")
    assert compare_maven("1.0.0", "1") == 0 == compare_maven("1.0-ga", "1")
    assert compare_maven("2.12.7", "2.12.7.1") < 0 < compare_maven("2.17.1", "2.9.10")
    assert comparator("Maven") is compare_maven


def test_rubygems_order():
    assert compare_rubygems("12.3.2", "12.3.3") < 0 < compare_rubygems("1.10", "1.9")
    assert compare_rubygems("2.0.0.rc1", "2.0.0") < 0 < compare_rubygems("2.0.0.rc1",
                                                                         "2.0.0.beta2")
    assert compare_rubygems("1.0.0", "1") == 0
    assert comparator("RubyGems") is compare_rubygems


def osv(ident: str, eco: str, name: str, introduced: str, fixed: str) -> dict:
    return {"id": ident, "summary": ident, "affected": [{
        "package": {"ecosystem": eco, "name": name},
        "ranges": [{"type": "ECOSYSTEM",
                    "events": [{"introduced": introduced}, {"fixed": fixed}]}]}]}


def app_jar(log4j: str) -> bytes:
    inner = jar({"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties":
                 f"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion={log4j}\n"
                 .encode()})
    return jar({f"BOOT-INF/lib/log4j-core-{log4j}.jar": inner})


def test_java_and_gem_packages_matched(root, wharfie, tmp_path):
    records = [osv("GHSA-jfh8-c2jp-5v3q", "Maven", "org.apache.logging.log4j:log4j-core",
                   "2.0-beta9", "2.15.0"),
               osv("GHSA-jppv-gw3r-w3q8", "RubyGems", "rake", "0", "12.3.3")]
    (tmp_path / "osv.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    wharfie("db", "import", str(tmp_path / "osv.jsonl"))
    spec = "usr/lib/ruby/gems/3.1.0/specifications/rake-{v}.gemspec"
    images = ImageStore(root)
    for tag, log4j, rake in [("svc:old", "2.14.1", "12.3.2"), ("svc:fixed", "2.17.1", "13.0.6")]:
        add_image(images, tag, history=[{"created_by": "COPY app.jar /opt/"},
                                        {"created_by": "RUN gem install rake"}], files=[
            {"opt/app.jar": app_jar(log4j)},
            {spec.format(v=rake): f's.name = "rake"\ns.version = "{rake}"\n'.encode()}])
    images.close()
    assert findings(wharfie, "svc:old") == {
        ("GHSA-jfh8-c2jp-5v3q", "log4j-core", "2.14.1", "2.15.0", "UNKNOWN", 0,
         "COPY app.jar /opt/"),
        ("GHSA-jppv-gw3r-w3q8", "rake", "12.3.2", "12.3.3", "UNKNOWN", 1,
         "RUN gem install rake")}
    assert findings(wharfie, "svc:fixed") == set()
