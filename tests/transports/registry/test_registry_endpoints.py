"""Issue 15: where registry names are served (Docker Hub, mirrors, the registries file) and
how plain HTTP is allowed (loopback by resolved address) or refused with a clear message.

Docker Hub cannot be reached from tests, so its names are served by a local stand-in: the
test runs in network and mount namespaces of its own, where a private /etc/hosts (bind-
mounted there only) sends ``registry-1.docker.io`` and ``auth.docker.io`` to a wharfie
registry on 127.0.0.1:443; the client code path is the real one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from tests.conftest import make_tls_cert, write_htpasswd

HUB_NAMES = ("registry-1.docker.io", "auth.docker.io")


def in_private_net(tmp_path, script: str, hosts: dict[str, str], *, env: dict | None = None
                   ) -> subprocess.CompletedProcess:
    """Run a bash ``script`` in new network and mount namespaces: loopback up, ``hosts``
    (name -> address) as /etc/hosts, ``wharfie`` a function running this tree's CLI, and
    ``wait_port ADDR PORT``. Background jobs are killed when it ends."""
    bin_dir = tmp_path / "bin"  # an executable, not a function: `wharfie ... &` is killable
    bin_dir.mkdir()
    (bin_dir / "wharfie").write_text(f'#!/bin/sh\nexec {sys.executable} -m wharfie "$@"\n')
    (bin_dir / "wharfie").chmod(0o755)
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("127.0.0.1 localhost\n" + "".join(
        f"{addr} {name}\n" for name, addr in hosts.items()))
    prelude = textwrap.dedent(f"""\
        set -e
        trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
        ip link set lo up
        mount --bind {hosts_file} /etc/hosts
        PATH={bin_dir}:$PATH
        wait_port() {{
          for _ in $(seq 150); do
            (exec 3<>/dev/tcp/$1/$2) 2>/dev/null && return 0; sleep 0.1
          done; echo "no server on $1:$2" >&2; return 1
        }}
        """)
    path = tmp_path / "script.sh"
    path.write_text(prelude + textwrap.dedent(script))
    return subprocess.run(["unshare", "--net", "--mount", "--propagation", "private",
                           "bash", str(path)], capture_output=True, text=True, timeout=180,
                          env={**(env or {}), **_base_env(tmp_path)})


def _base_env(tmp_path) -> dict[str, str]:
    import os

    return {**os.environ, "WHARFIE_ROOT": str(tmp_path / "root"),
            "DOCKER_CONFIG": str(tmp_path / "docker-config"),
            "REGISTRY_AUTH_FILE": str(tmp_path / "no-auth.json"),
            "WHARFIE_REGISTRIES_CONFIG": str(tmp_path / "registries.toml")}


def _hub_cert(tmp_path):
    """A certificate for Docker Hub's two host names, its own CA."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "docker hub stand-in")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in HUB_NAMES]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = tmp_path / "hub.crt", tmp_path / "hub.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def test_docker_hub_names_go_to_registry_1_with_its_token_flow(tmp_path, busybox_rootfs_tar):
    """``alpine`` is docker.io/library/alpine, served at registry-1.docker.io, whose 401
    names auth.docker.io's token service: login, push and an anonymous pull all go there
    (the registries file gives the stand-in's CA, as ``ca-file`` of docker.io)."""
    crt, key = _hub_cert(tmp_path)
    (tmp_path / "registries.toml").write_text(
        f'[[registry]]\nlocation = "docker.io"\nca-file = "{crt}"\n')
    write_htpasswd(tmp_path / "htpasswd", {"alice": "hub-pass"})
    (tmp_path / "policy.yaml").write_text(
        'access:\n  - {repos: ["library/*"], users: [anonymous], actions: [pull]}\n'
        '  - {repos: ["*"], users: [alice], actions: [pull, push]}\n')
    res = in_private_net(tmp_path, f"""\
        wharfie registry serve --addr 127.0.0.1:443 --data {tmp_path}/hub \\
          --tls-cert {crt} --tls-key {key} --htpasswd {tmp_path}/htpasswd \\
          --policy {tmp_path}/policy.yaml --token-realm https://auth.docker.io/token &
        wait_port 127.0.0.1 443
        wharfie import {busybox_rootfs_tar} alpine:3
        echo hub-pass | wharfie login -u alice --password-stdin
        wharfie push alpine:3
        WHARFIE_ROOT={tmp_path}/fresh DOCKER_CONFIG={tmp_path}/anonymous wharfie pull alpine:3
        """, dict.fromkeys(HUB_NAMES, "127.0.0.1"))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "Login Succeeded" in lines
    assert "The push refers to repository [docker.io/library/alpine]" in lines
    assert "3: Pulling from library/alpine" in lines
    assert lines[-2:] == ["Status: Downloaded newer image for alpine:3",
                          "docker.io/library/alpine:3"]
    config = (tmp_path / "docker-config" / "config.json").read_text()
    assert "https://index.docker.io/v1/" in config  # docker's key for Hub's credentials


def test_mirrors_first_then_the_registry_itself(wharfie, busybox_rootfs_tar, anon_registry,
                                                tmp_path):
    """A mirror from the registries file serves pulls of its registry; a dead mirror falls
    back to the registry; a push never goes to a mirror."""
    ref = f"{anon_registry}/mirrored/busybox:1"
    wharfie("import", str(busybox_rootfs_tar), ref)
    wharfie("push", ref)
    config = tmp_path / "registries.toml"
    config.write_text(textwrap.dedent(f"""\
        [[registry]]
        location = "unreachable.invalid"
        [[registry.mirror]]
        location = "{anon_registry}"

        [[registry]]
        location = "{anon_registry}"
        [[registry.mirror]]
        location = "127.0.0.1:1"
        """))
    env = {"WHARFIE_REGISTRIES_CONFIG": str(config), "WHARFIE_ROOT": str(tmp_path / "r2")}
    pulled = wharfie("pull", "unreachable.invalid/mirrored/busybox:1", env=env)
    assert pulled.stdout.decode().splitlines()[-1] == "unreachable.invalid/mirrored/busybox:1"
    start = time.monotonic()
    wharfie("pull", ref, env={**env, "WHARFIE_ROOT": str(tmp_path / "r3")})
    assert time.monotonic() - start < 10
    wharfie("tag", ref, "unreachable.invalid/mirrored/busybox:2")
    pushed = wharfie("push", "unreachable.invalid/mirrored/busybox:2", check=False,
                     env={"WHARFIE_REGISTRIES_CONFIG": str(config)})
    assert pushed.returncode == 1
    assert pushed.stderr.decode().strip() == (
        "wharfie: error: unreachable.invalid: cannot connect to the registry: "
        "cannot resolve the host name")


def test_a_mirror_without_the_image_gives_way_to_the_registry(
        wharfie, busybox_rootfs_tar, anon_registry, docker_registry_factory, tmp_path):
    """A live mirror that answers "manifest unknown" is left for the registry itself, as
    docker leaves a mirror that fails; the image then comes whole from the registry."""
    ref = f"{anon_registry}/mirrored/only-upstream:1"
    wharfie("import", str(busybox_rootfs_tar), ref)
    wharfie("push", ref)
    empty = docker_registry_factory().host
    config = tmp_path / "registries.toml"
    config.write_text(f'[[registry]]\nlocation = "{anon_registry}"\n'
                      f'[[registry.mirror]]\nlocation = "{empty}"\n')
    env = {"WHARFIE_REGISTRIES_CONFIG": str(config), "WHARFIE_ROOT": str(tmp_path / "r2")}
    pulled = wharfie("pull", ref, env=env)
    assert pulled.stdout.decode().splitlines()[-1] == ref
    missing = wharfie("pull", f"{anon_registry}/mirrored/nowhere:1", env=env, check=False)
    assert missing.returncode == 1 and "manifest unknown" in missing.stderr.decode()
    assert f"{anon_registry}/mirrored/nowhere:1" in missing.stderr.decode()


def test_ca_file_and_insecure_per_registry(wharfie, busybox_rootfs_tar,
                                           docker_registry_factory, tmp_path):
    """A registry with a private CA works once the registries file names its ca-file, or
    marks it insecure; without either, the certificate is refused."""
    cert, key = make_tls_cert(tmp_path / "tls")
    host = docker_registry_factory(tls=(cert, key)).host
    ref = f"{host}/private/busybox:1"
    wharfie("import", str(busybox_rootfs_tar), ref)
    config = tmp_path / "registries.toml"
    env = {"WHARFIE_REGISTRIES_CONFIG": str(config)}
    config.write_text("")
    refused = wharfie("push", ref, env=env, check=False)
    assert "TLS certificate not trusted" in refused.stderr.decode()
    config.write_text(f'[[registry]]\nlocation = "{host}"\nca-file = "{cert}"\n')
    wharfie("push", ref, env=env)
    config.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    wharfie("pull", ref, env={**env, "WHARFIE_ROOT": str(tmp_path / "r2")})
    config.write_text('[[registry]]\nlocation = 5\n')
    bad = wharfie("pull", ref, env=env, check=False)
    assert bad.stderr.decode() == (f"wharfie: error: {config}: every registry and mirror "
                                   "needs a location string\n")


def test_plain_http_by_resolved_address(tmp_path, busybox_rootfs_tar):
    """A name resolving to loopback may speak plain HTTP, as docker allows; a registry
    elsewhere that answers plain HTTP gets one line saying how to allow it, at once."""
    res = in_private_net(tmp_path, f"""\
        ip addr add 192.0.2.77/32 dev lo
        wharfie registry serve -q --addr 0.0.0.0:5000 --insecure-http --data {tmp_path}/reg &
        wait_port 127.0.0.1 5000
        wharfie import {busybox_rootfs_tar} plainreg.test:5000/x/y:1
        wharfie push -q plainreg.test:5000/x/y:1
        start=$(date +%s%N)
        wharfie pull 192.0.2.77:5000/x/y:1 || echo "exit $? after $(( ($(date +%s%N) - start) / 1000000 )) ms"
        wharfie pull -q --tls-verify=false 192.0.2.77:5000/x/y:1
        """, {"plainreg.test": "127.0.0.1"})
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        "wharfie: error: 192.0.2.77:5000: the registry answered plain "
        "HTTP to an HTTPS request; to allow plain HTTP, pass --tls-verify=false or mark it "
        "`insecure = true` in registries.toml"]
    lines = res.stdout.splitlines()
    assert lines[1] == "plainreg.test:5000/x/y:1"  # pushed over plain HTTP
    exit_line = next(x for x in lines if x.startswith("exit "))
    assert exit_line.startswith("exit 1 after ") and int(exit_line.split()[3]) < 3000
    assert lines[-1] == "192.0.2.77:5000/x/y:1"
