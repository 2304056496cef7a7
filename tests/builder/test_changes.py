"""``import --change``: change lines applied as the same Dockerfile lines would be."""

import pytest

from wharfie.builder.changes import apply_changes
from wharfie.errors import InvalidInput


def test_changes_as_docker_applies_them():
    cfg = apply_changes({}, [
        "ENV PATH=/usr/bin:/bin HOME=/root",
        "ENV GREETING hello world",
        'LABEL org.example.name="my app" version=1',
        "EXPOSE 80 53/udp 8000-8001",
        "USER app",
        'VOLUME ["/data", "/cache"]',
        "WORKDIR /srv",
        "WORKDIR app",
        "ENTRYPOINT [\"/bin/app\"]",
        "CMD echo $HOME",
        "ONBUILD RUN make",
    ])
    assert cfg["Env"] == ["PATH=/usr/bin:/bin", "HOME=/root", "GREETING=hello world"]
    assert cfg["Labels"] == {"org.example.name": "my app", "version": "1"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert cfg["User"] == "app"
    assert cfg["Volumes"] == {"/data": {}, "/cache": {}}
    assert cfg["WorkingDir"] == "/srv/app"
    assert cfg["Entrypoint"] == ["/bin/app"]
    assert cfg["Cmd"] == ["/bin/sh", "-c", "echo $HOME"]  # shell form, not expanded by us
    assert cfg["OnBuild"] == ["RUN make"]
    assert apply_changes({"Cmd": ["x"]}, ["ENTRYPOINT /e"]) == {
        "Entrypoint": ["/bin/sh", "-c", "/e"]}
    assert apply_changes({}, ["ENV A=1", "USER ${A}x"])["User"] == "1x"


@pytest.mark.parametrize("change, message", [
    ("RUN echo hi", "RUN is not a valid change command"),
    ("FROM scratch", "FROM is not a valid change command"),
    ("CMD", "CMD requires at least one argument"),
    ("EXPOSE 99999", "invalid port range .99999."),
    ("EXPOSE 80/foo", "invalid port .80/foo."),
    ("ENV A", "ENV must have two arguments"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
])
def test_bad_changes_are_refused(change, message):
    with pytest.raises(InvalidInput, match=message):
        apply_changes({}, [change])
