"""The event log (wharfie.events): rotation by size, following across it, failing writes."""

from __future__ import annotations

import logging
import threading
import time

from wharfie import events


def names(found) -> list[str]:
    return [e["Actor"]["ID"] for e in found]


def test_rotation_keeps_the_previous_log_and_reads_both_in_order(tmp_path):
    for i in range(40):
        events.emit(tmp_path, "volume", "create", f"v{i}", max_size=1000)
    rotated = events.log_path(tmp_path).with_name("events.log.1")
    assert rotated.exists() and rotated.stat().st_size <= 1000 + 200  # one event past it
    got = names(events.read(tmp_path, since_ns=0))
    assert got == [f"v{i}" for i in range(40 - len(got), 40)]  # the newest, in order
    assert len(got) > 5


def test_a_follower_goes_on_across_a_rotation(tmp_path):
    events.emit(tmp_path, "volume", "create", "first")
    seen: list[str] = []
    until = time.time_ns() + 3 * 10**9

    def follow() -> None:
        for e in events.read(tmp_path, since_ns=0, until_ns=until, follow=True, poll=0.02):
            seen.append(e["Actor"]["ID"])

    reader = threading.Thread(target=follow)
    reader.start()
    time.sleep(0.2)
    for i in range(30):  # rotates several times under the follower
        events.emit(tmp_path, "volume", "create", f"v{i}", max_size=600)
        time.sleep(0.01)
    reader.join(timeout=10)
    assert seen == ["first"] + [f"v{i}" for i in range(30)]


def test_a_failing_write_is_logged_never_raised(tmp_path, caplog):
    (tmp_path / "events").write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="wharfie.events"):
        events.emit(tmp_path, "container", "start", "abc")
    assert "could not record the container start event" in caplog.text
