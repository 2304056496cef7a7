"""Builds on a real Debian base: bookworm minbase with gcc, made by mmdebstrap and imported
with ``wharfie import``. A multi-stage C compile, and RUN's view of the network."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import Cli

from wharfie.images.imagestore import ImageStore

HELLO_C = """#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from %s, built by wharfie\\n", argc > 1 ? argv[1] : "C");
    return 0;
}
"""

MULTI_STAGE = """\
FROM debian:gcc AS build
WORKDIR /src
COPY hello.c .
RUN mkdir /out && gcc -O2 -static -o /out/hello hello.c

FROM busybox:local
COPY --from=build /out/hello /usr/local/bin/hello
RUN hello RUN > /greeting && ! test -e /usr/bin/gcc
ENTRYPOINT ["hello"]
"""


@pytest.fixture(scope="module")
def debian(tmp_path_factory, debian_gcc_rootfs_tar, busybox_rootfs_tar) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("debian") / "root")
    cli("import", str(debian_gcc_rootfs_tar), "debian:gcc")
    cli("import", str(busybox_rootfs_tar), "busybox:local")
    return cli


def layer_files(root: Path, ref: str) -> dict[str, bytes | None]:
    """{path: content (None unless a regular file)} over the image's layers, later winning."""
    import tarfile

    from wharfie.layers.compression import open_uncompressed

    image = ImageStore(root).resolve(ref)
    out: dict[str, bytes | None] = {}
    for layer in image.layers():
        with layer.open() as raw, tarfile.open(
                fileobj=open_uncompressed(raw, layer.media_type), mode="r|") as t:
            for m in t:
                out[m.name] = t.extractfile(m).read() if m.isfile() else None
    return out


def test_multi_stage_c_compile(debian, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.c").write_text(HELLO_C)
    (ctx / "Dockerfile").write_text(MULTI_STAGE)
    debian("build", "-q", "-t", "hello:1", str(ctx))

    image = ImageStore(debian.root).resolve("hello:1")
    busybox = ImageStore(debian.root).resolve("busybox:local")
    # busybox's layer, the COPY and the RUN: nothing of the 380 MB compile stage
    assert len(image.manifest.layers) == 3
    assert image.config.diff_ids[0] == busybox.config.diff_ids[0]
    assert sum(d.size for d in image.manifest.layers) < 5 << 20
    files = layer_files(debian.root, "hello:1")
    binary = files["usr/local/bin/hello"]
    assert binary is not None and binary[:4] == b"\x7fELF"
    assert b"/lib64/ld-linux" not in binary  # static: no interpreter to find in busybox
    assert files["greeting"] == b"hello from RUN, built by wharfie\n"
    assert image.config.config["Entrypoint"] == ["hello"]

    run = debian("run", "--rm", "hello:1", "docker-less")
    assert run.stdout == b"hello from docker-less, built by wharfie\n"

    # Rebuild: all cached. Then one changed source file misses exactly the compile chain.
    again = debian("build", "--progress", "plain", "-t", "hello:1", str(ctx))
    assert again.stderr.count(b"CACHED") == 5  # WORKDIR, COPY, RUN gcc, COPY --from, RUN
    assert ImageStore(debian.root).resolve("hello:1").id == image.id
    (ctx / "hello.c").write_text(HELLO_C.replace("hello from", "hi from"))
    changed = debian("build", "--progress", "plain", "-t", "hello:2", str(ctx))
    err = changed.stderr.decode()
    assert err.count("CACHED") == 1, err  # only WORKDIR
    assert "cache miss: files changed: hello.c" in err
    assert layer_files(debian.root, "hello:2")["greeting"] == \
        b"hi from RUN, built by wharfie\n"


def interfaces(proc_net_dev: bytes) -> list[str]:
    """Interface names from /proc/net/dev (two header lines, then ``name: counters``)."""
    return sorted(line.split(b":")[0].strip().decode()
                  for line in proc_net_dev.splitlines()[2:] if b":" in line)


@pytest.mark.parametrize("network", ["host", "none"])
def test_run_sees_the_network_it_was_given(debian, tmp_path, network):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM debian:gcc\n"
        "RUN cat /proc/net/dev > /net-dev && (cat /etc/resolv.conf > /resolv || true)\n"
        "RUN --network=none cat /proc/net/dev > /net-dev-none\n")
    debian("build", "-q", "--network", network, "-t", f"net:{network}", str(ctx))
    files = layer_files(debian.root, f"net:{network}")
    seen = interfaces(files["net-dev"])
    host = interfaces(Path("/proc/net/dev").read_bytes())
    assert interfaces(files["net-dev-none"]) == ["lo"]  # RUN --network=none wins
    if network == "none":
        assert seen == ["lo"]
    else:
        # the host's interfaces, not just lo (compared loosely: other tests may add or
        # remove veth pairs between the build and this line)
        assert "lo" in seen and set(seen) & (set(host) - {"lo"})
        assert files["resolv"] == Path("/etc/resolv.conf").read_bytes()  # names resolve


def test_unknown_network_mode_is_one_clear_error(debian, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM debian:gcc\nRUN true\n")
    res = debian("build", "--network", "bridge0", str(ctx), check=False)
    err = res.stderr.decode()
    assert res.returncode != 0 and "Traceback" not in err
    assert "bridge0" in err


def test_a_relative_root_builds_and_runs(debian, tmp_path):
    """--root given relative to the working directory: overlay mounts (made by ``mount`` in
    the snapshotter's home) and runc's bundle paths must still resolve."""
    (tmp_path / "Dockerfile").write_text("FROM busybox:local\nRUN echo relative > /r\n")
    res = subprocess.run([sys.executable, "-m", "wharfie", "--root", debian.root.name, "build",
                          "-q", "--no-cache", "-t", "rel:1", str(tmp_path)],
                         cwd=debian.root.parent, capture_output=True)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert layer_files(debian.root, "rel:1")["r"] == b"relative\n"


# Asks the agent at $SSH_AUTH_SOCK for its identities (SSH2_AGENTC_REQUEST_IDENTITIES) and
# prints how many it holds and their comments: enough to prove a working agent connection.
AGENT_CLIENT_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
static unsigned int be32(const unsigned char *p) {
    return (unsigned)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}
int main(void) {
    const char *path = getenv("SSH_AUTH_SOCK");
    if (!path) { puts("no SSH_AUTH_SOCK"); return 2; }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 3; }
    unsigned char req[5] = {0, 0, 0, 1, 11}, buf[65536];
    if (write(fd, req, 5) != 5) return 4;
    size_t got = 0, want = 4;
    while (got < want) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n <= 0) return 5;
        got += n;
        if (got >= 4) want = 4 + be32(buf);
    }
    if (buf[4] != 12) return 6;  /* SSH2_AGENT_IDENTITIES_ANSWER */
    unsigned int count = be32(buf + 5), off = 9;
    printf("%u\n", count);
    for (unsigned int i = 0; i < count; i++) {
        off += 4 + be32(buf + off);                      /* key blob */
        unsigned int len = be32(buf + off);
        printf("%.*s\n", (int)len, (char *)buf + off + 4);  /* comment */
        off += 4 + len;
    }
    return 0;
}
"""


@pytest.fixture
def ssh_agent(tmp_path):
    """A real ssh-agent holding one new ed25519 key (comment ``wharfie-test``)."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        key = tmp_path / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wharfie-test",
                        "-f", str(key)], check=True)
        subprocess.run(["ssh-add", "-q", str(key)], check=True, capture_output=True,
                       env={**os.environ, "SSH_AUTH_SOCK": str(sock)})
        yield sock
    finally:
        agent.terminate()
        agent.wait()


def test_ssh_mount_forwards_the_agent_to_root_and_to_a_user(debian, tmp_path, ssh_agent,
                                                            monkeypatch):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "agent.c").write_text(AGENT_CLIENT_C)
    (ctx / "Dockerfile").write_text(
        "FROM debian:gcc\n"
        "COPY agent.c /agent.c\n"
        "RUN gcc -O2 -o /usr/local/bin/agent-list /agent.c\n"
        "RUN --mount=type=ssh agent-list > /as-root && stat -c %a $SSH_AUTH_SOCK > /mode\n"
        "USER 1000\n"
        "RUN --mount=type=ssh,uid=1000,target=/tmp/agent agent-list > /tmp/as-user\n"
        "RUN --mount=type=ssh,id=absent true\n")  # not required: skipped
    monkeypatch.setenv("SSH_AUTH_SOCK", str(ssh_agent))  # --ssh default reads it
    debian("build", "-q", "--ssh", "default", "-t", "ssh:1", str(ctx))
    files = layer_files(debian.root, "ssh:1")
    assert files["as-root"] == b"1\nwharfie-test\n" and files["mode"] == b"600\n"
    assert files["tmp/as-user"] == b"1\nwharfie-test\n"  # uid=1000 may use the socket
    # the socket mount points go; the directory made for the default one stays, empty
    assert [n for n in files if n.startswith(("run/buildkit", "tmp/agent"))] == ["run/buildkit"]
    (ctx / "Dockerfile").write_text(
        "FROM debian:gcc\nRUN --mount=type=ssh,id=absent,required=true true\n")
    res = debian("build", "--ssh", f"default={ssh_agent}", str(ctx), check=False)
    assert res.returncode != 0 and b"no SSH agent 'absent' was given" in res.stderr
    res = debian("build", "--ssh", f"key={tmp_path / 'id_ed25519'}", str(ctx), check=False)
    assert res.returncode != 0 and b"not an agent socket" in res.stderr
