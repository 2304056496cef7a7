"""``system check`` reports ingest files left by a failed or killed write, of any age, and
``--repair`` removes them, but never one a live writer holds."""

from __future__ import annotations

from wharfie.images.check import check_store
from wharfie.images.imagestore import ImageStore


def test_check_reports_and_repairs_abandoned_ingests_but_spares_live_ones(wharfie, root):
    store = ImageStore(root)
    dead = store.content.writer()
    dead.write(b"x" * 3000)
    dead._file.close()  # as if its process had been killed a moment ago
    live = store.content.writer()
    live.write(b"in progress")

    report = check_store(store)
    assert [(p.subject, p.message) for p in report.problems] == [
        (str(dead.path), "abandoned ingest file of 3000 bytes (its writer has gone)")]
    assert not report.ok

    res = wharfie("system", "check", check=False)
    assert res.returncode == 1
    assert f"{dead.path}: abandoned ingest file of 3000 bytes" in res.stdout.decode()

    res = wharfie("system", "check", "--repair")
    assert f"{dead.path}: abandoned ingest file of 3000 bytes (its writer has gone): " \
        "removed it" in res.stdout.decode()
    assert not dead.path.exists() and live.path.exists()
    assert store.content.read(live.commit()) == b"in progress"
    assert check_store(store).problems == []
