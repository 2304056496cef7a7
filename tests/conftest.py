"""Fixtures shared by every test package: real tools, real servers, cached base images.

Expensive fixtures are cached in /var/cache/wharfie-tests, keyed by their inputs, so that
later runs on the same machine reuse them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from bench.benchlib import CACHE, apt_sources, apt_sources_key, cached  # noqa: F401 - fixtures in other suites use these
from tests.hostguard import host_changes, host_snapshot, temp_entries
from tests.loopback_relay import loopback_relay, netns_command

REPO = Path(__file__).resolve().parent.parent
# BuildKit's parser test data and moby's patternmatcher cases; not part of the repository.
CORPUS = Path(os.environ.get("WHARFIE_TEST_CORPUS") or REPO.parent / "shared" / "corpus")
CORPUS_MISSING = (f"test corpus not found at {CORPUS}: set WHARFIE_TEST_CORPUS to the "
                  "directory holding buildkit/ and patternmatcher/")


def corpus_params(load, arity: int = 1) -> list:
    """Parameters that ``load()`` reads from the corpus; while it is missing, one placeholder
    of ``arity`` values, for the ``corpus`` fixture to skip (or fail under CI)."""
    if CORPUS.is_dir():
        return load()
    return [pytest.param(*[None] * arity, id="corpus-missing")]


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The test corpus. Missing, its tests skip, with one reason; but under CI (``CI`` set
    to anything) they fail, so that CI never passes without them."""
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(CORPUS_MISSING, pytrace=False)
        pytest.skip(CORPUS_MISSING)
    return CORPUS


@pytest.fixture(scope="session", autouse=True)
def host_left_as_found(tmp_path_factory):
    """Fail the run if the tests changed the host's interfaces, addresses, routes, mounts
    or /dev/null (tests.hostguard): they run as root, on the machine itself."""
    before, temp_before = host_snapshot(), temp_entries()
    yield
    changes = host_changes(before, host_snapshot(), tmp_path_factory.getbasetemp(),
                           temp_before)
    if changes:
        pytest.fail("the tests changed the host:\n" + "\n".join(changes), pytrace=False)


@pytest.fixture(scope="session")
def busybox_rootfs_tar() -> Path:
    """A root filesystem tarball of Debian's static busybox with its applets linked."""
    script = REPO / "scripts" / "make-busybox-rootfs.sh"
    key = [Path("/bin/busybox").read_bytes(), script.read_bytes()]
    return cached("busybox-rootfs.tar", key,
                  lambda p: subprocess.run([str(script), str(p)], check=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="session")
def docker_registry(docker_registry_factory) -> str:
    """Debian's docker-registry (distribution 2.8), anonymous, on loopback: ``127.0.0.1:PORT``."""
    return docker_registry_factory().host


class Cli:
    """The real CLI on one wharfie root shared by a module's tests (module-scoped fixtures)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([sys.executable, "-m", "wharfie", *args], capture_output=True,
                             env={**os.environ, "WHARFIE_ROOT": str(self.root)})
        if check:
            assert res.returncode == 0, \
                f"wharfie {' '.join(args)}:\n{res.stderr.decode(errors='replace')}"
        return res


@pytest.fixture
def root(tmp_path) -> Path:
    """A fresh wharfie root for one test. Whatever a failed or killed test left running or
    mounted under it (runc containers, overlay mounts) is removed afterwards."""
    path = tmp_path / "wharfie-root"
    yield path
    release_root(path)


@pytest.fixture
def build(wharfie, busybox_rootfs_tar, tmp_path):
    """``build(tag, dockerfile_body, files={})``: a busybox image ``base:1``, then ``tag``
    built FROM it with the given steps and context files."""
    wharfie("import", str(busybox_rootfs_tar), "base:1", "--change", 'CMD ["sh"]')

    def run(tag: str, body: str, files: dict[str, bytes] | None = None) -> str:
        ctx = tmp_path / f"ctx-{tag.replace(':', '-').replace('/', '-')}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM base:1\n" + body)
        for name, data in (files or {}).items():
            path = Path(ctx, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        wharfie("build", "-q", "-t", tag, str(ctx))
        return tag

    return run


def release_root(path: Path) -> None:
    """Kill the root's container monitors and runc containers and lazily unmount everything
    under it, deepest first."""
    for state_file in path.glob("containers/*/state.json"):
        with contextlib.suppress(ValueError, OSError, TypeError):
            pid, start, _ = json.loads(state_file.read_text())["monitor"]
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[19]) == start:
                os.kill(pid, signal.SIGKILL)
    state = path / "runtime" / "runc"
    if state.is_dir():
        listed = subprocess.run(["runc", "--root", str(state), "list", "-q"],
                                capture_output=True, text=True).stdout.split()
        for ctr in listed:
            subprocess.run(["runc", "--root", str(state), "delete", "--force", ctr],
                           capture_output=True)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(f"{path}/") or p == str(path)),
                        key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture
def wharfie(root):
    """Run the real CLI in a subprocess: ``wharfie("images", "-q")`` -> CompletedProcess."""

    def run(*args: str, input: bytes | None = None, check: bool = True, env=None):
        full_env = {**os.environ, "WHARFIE_ROOT": str(root), **(env or {})}
        res = subprocess.run([sys.executable, "-m", "wharfie", *args], input=input,
                             capture_output=True, env=full_env)
        if check and res.returncode != 0:
            raise AssertionError(
                f"wharfie {' '.join(args)} exited {res.returncode}:\n"
                f"{res.stderr.decode(errors='replace')}")
        return res

    return run


class DockerRegistry:
    """A Debian docker-registry process with a config the test chooses; restartable."""

    def __init__(self, workdir: Path, *, auth: str = "", tls: tuple[Path, Path] | None = None,
                 port: int | None = None) -> None:
        self.workdir, self.port = workdir, port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.data = workdir / "data"
        tls_cfg = (f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else "")
        self.config = workdir / "config.yml"
        # A fixed secret keeps upload sessions valid across a restart.
        self.config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.data}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n  secret: wharfie-test-secret\n{tls_cfg}{auth}")
        self.proc: subprocess.Popen | None = None

    def start(self) -> DockerRegistry:
        exe = shutil.which("docker-registry")
        assert exe, "docker-registry is not installed (scripts/install-system-deps.sh)"
        self.proc = subprocess.Popen([exe, "serve", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="session")
def docker_registry_factory(tmp_path_factory):
    """Start docker-registries in chosen set-ups: ``factory(auth=YAML, tls=(cert, key))``.

    ``auth`` is the registry's ``auth:`` section (htpasswd or token); the registry stops
    at the end of the session.
    """
    started: list[DockerRegistry] = []

    def start(**kwargs) -> DockerRegistry:
        reg = DockerRegistry(tmp_path_factory.mktemp("registry"), **kwargs).start()
        started.append(reg)
        return reg

    yield start
    for reg in started:
        reg.stop()


def make_tls_cert(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate (also its own CA) for 127.0.0.1 and localhost: (cert, key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"wharfie test {name}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file with bcrypt hashes, as docker-registry's htpasswd auth reads it."""
    import bcrypt

    path.write_text("".join(
        f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
        for u, p in users.items()))
    return path


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory) -> tuple[Path, Path]:
    """(cert, key) of a self-signed certificate for 127.0.0.1/localhost; the cert is its CA."""
    return make_tls_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def htpasswd(tmp_path_factory):
    """``htpasswd({user: password})`` -> path of a bcrypt htpasswd file."""
    d = tmp_path_factory.mktemp("htpasswd")
    return lambda users: write_htpasswd(d / f"htpasswd-{len(list(d.iterdir()))}", users)


# Debian bookworm minbase with a C toolchain, made by mmdebstrap (debootstrap if that fails).
DEBIAN_GCC_ARGS = ["--variant=minbase", "--mode=root", "--format=tar", "--quiet",
                   "--include=gcc,libc6-dev", "bookworm"]


def _make_debian_gcc(path: Path) -> None:
    res = subprocess.run(["mmdebstrap", *DEBIAN_GCC_ARGS, str(path), apt_sources()],
                         capture_output=True)
    if res.returncode == 0:
        return
    tmp = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE))
    try:
        boot = subprocess.run(["debootstrap", "--variant=minbase", "--include=gcc,libc6-dev",
                               "bookworm", str(tmp), _debootstrap_mirror()],
                              capture_output=True)
        assert boot.returncode == 0, (
            "neither mmdebstrap nor debootstrap could make a Debian base:\n"
            f"{res.stderr.decode(errors='replace')[-1500:]}\n"
            f"{boot.stderr.decode(errors='replace')[-1500:]}")
        subprocess.run(["tar", "--numeric-owner", "-C", str(tmp), "-cf", str(path), "."],
                       check=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _debootstrap_mirror() -> str:
    """debootstrap takes a URI, not a sources file: the first one the host's sources name."""
    text = Path(apt_sources()).read_text()
    found = re.search(r"^(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M)
    assert found, f"no Debian URI in {apt_sources()}"
    return found.group(1)


@pytest.fixture(scope="session")
def debian_gcc_rootfs_tar() -> Path:
    """A root filesystem tarball of Debian bookworm minbase plus gcc and libc6-dev (~380 MB,
    made once per machine, ~2 min; keyed by the mmdebstrap arguments and the apt sources)."""
    return cached("debian-gcc-rootfs.tar", ["mmdebstrap", *DEBIAN_GCC_ARGS, *apt_sources_key()],
                  _make_debian_gcc)


DOCKER = "/usr/bin/docker"  # Debian's client; a newer one without buildx may come first on PATH


@contextlib.contextmanager
def dockerd_daemon():
    """Debian's dockerd on a private socket, data root and exec root, in network and mount
    namespaces of its own (no bridge, no iptables): it cannot touch the host's interfaces,
    routes or mounts (a dockerd started with ``--bridge=none`` in the host's namespace
    deletes the host's ``docker0``), and it reaches servers on the host's 127.0.0.1 through
    a relay (tests.loopback_relay). Stopped and removed afterwards whatever happens. Yields
    the environment for ``docker`` (DOCKER_HOST and a private DOCKER_CONFIG)."""
    exe = shutil.which("dockerd") or "/usr/sbin/dockerd"
    assert os.path.exists(exe), "docker.io is not installed (scripts/install-system-deps.sh)"
    d = Path(tempfile.mkdtemp(prefix="wharfie-dockerd-", dir="/tmp"))  # short: socket limit
    sock = d / "sock"
    log_path = d / "dockerd.log"
    # Its own config, not the host's; the key path keeps dockerd from writing /etc/docker.
    config = d / "daemon.json"
    config.write_text(json.dumps({"deprecated-key-path": str(d / "key.json")}))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(netns_command(
            [exe, "--data-root", str(d / "data"), "--exec-root", str(d / "exec"),
             "--pidfile", str(d / "pid"), "--host", f"unix://{sock}",
             "--config-file", str(config),
             "--storage-driver", "overlay2", "--iptables=false", "--bridge=none"]),
            stdout=subprocess.DEVNULL, stderr=log)
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(d / "config")}
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([DOCKER, "version"], env=env, capture_output=True).returncode:
            assert proc.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "dockerd did not come up:\n" + \
                log_path.read_text()[-2000:]
            time.sleep(0.2)
        with loopback_relay(proc.pid):
            yield env
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)
