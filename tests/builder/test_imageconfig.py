import pytest

from wharfie.builder.imageconfig import StageImage, go_duration, go_quote
from wharfie.oci.empty import empty_config


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (30, "30s"), (90, "1m30s"), (3600, "1h0m0s"), (0.5, "500ms"), (1.5, "1.5s"),
])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


def stage():
    return StageImage.from_base(empty_config("linux", "amd64"), "2026-01-01T00:00:00Z")


def test_history_strings_match_buildkit():
    s = stage()
    s.set_env([("A", "1"), ("B", "two words")])
    s.set_labels([("org.x", "y")])
    s.add_ports(["80/tcp", "53/udp"])
    s.add_volumes(["/data"])
    s.set_user("app:app")
    s.set_shell(["/bin/bash", "-c"])
    s.set_cmd(["echo", "hi"], shell_form=True)
    s.set_stopsignal("SIGKILL")
    s.set_healthcheck(["CMD-SHELL", "true"], 30, 0, 0, 0, 3)
    by = [h["created_by"] for h in s.doc["history"]]
    assert by == [
        "ENV A=1 B=two words", "LABEL org.x=y", "EXPOSE map[53/udp:{} 80/tcp:{}]", "VOLUME [/data]",
        "USER app:app", "SHELL [/bin/bash -c]", 'CMD ["/bin/bash" "-c" "echo hi"]',
        "STOPSIGNAL SIGKILL",
        """HEALTHCHECK &{["CMD-SHELL" "true"] "30s" "0s" "0s" '\\x03'}""",
    ]
    assert all(h["empty_layer"] and h["comment"] == "buildkit.dockerfile.v0"
               for h in s.doc["history"])
    cfg = s.config
    assert cfg["Env"][-2:] == ["A=1", "B=two words"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000,
                                  "Retries": 3}


def test_env_replaces_existing_key_in_place():
    s = stage()
    s.set_env([("PATH", "/x")])
    assert s.config["Env"] == ["PATH=/x"]


def test_entrypoint_resets_inherited_cmd_but_not_own():
    base = empty_config("linux", "amd64")
    base["config"]["Cmd"] = ["sh"]
    s = StageImage.from_base(base, None)
    s.set_entrypoint(["/app"], shell_form=False)
    assert "Cmd" not in s.config
    s2 = StageImage.from_base(base, None)
    s2.set_cmd(["x"], shell_form=False)
    s2.set_entrypoint(["/app"], shell_form=False)
    assert s2.config["Cmd"] == ["x"]


def test_onbuild_triggers_are_not_inherited():
    base = empty_config("linux", "amd64")
    base["config"]["OnBuild"] = ["RUN echo hi"]
    s = StageImage.from_base(base, None)
    assert s.config["OnBuild"] is None  # BuildKit writes it, empty
    s.add_onbuild("COPY . /app")
    assert s.config["OnBuild"] == ["COPY . /app"] and s.doc["history"] == []


def test_workdir_joins_relative_paths():
    s = stage()
    assert s.set_workdir("/app") == "/app"
    assert s.set_workdir("sub/../src") == "/app/src"


def test_go_quote_prints_as_go_percent_q():
    assert go_quote('say "hi"\\\n\x01é') == '"say \\"hi\\"\\\\\\n\\x01é"'
    assert go_quote("'", quote="'") == "'\\''"
    assert go_quote('"', quote="'") == "'\"'"
