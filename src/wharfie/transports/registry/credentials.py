"""Registry credentials where Docker and Podman keep them, in their formats.

Reading order for a registry host: ``credHelpers[host]``, then ``credsStore``,
then ``auths`` in ``$DOCKER_CONFIG/config.json`` (default ``~/.docker``), then
containers' ``auth.json`` (``$REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/containers/auth.json``
or ``~/.config/containers/auth.json``). Writing goes where Docker writes: the
host's helper if one is configured, else base64 ``auth`` in config.json.
Helpers speak the docker-credential-helpers protocol: ``docker-credential-NAME
get|store|erase`` with the server on stdin and JSON on stdout.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from wharfie.errors import WharfieError
from wharfie.fs.atomic import atomic_write
from wharfie.oci.reference import DEFAULT_DOMAIN, LEGACY_DOMAIN

# Docker keys its default registry by this legacy v1 URL, in config.json and with helpers.
DOCKER_HUB_KEY = f"https://{LEGACY_DOMAIN}/v1/"
_NOT_FOUND = "credentials not found"


class CredentialsError(WharfieError):
    """A credential helper failed or a config file is unreadable."""


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token, sent to the token server

    def __bool__(self) -> bool:
        return bool(self.username or self.password or self.identity_token)


def config_dir() -> Path:
    env = os.environ.get("DOCKER_CONFIG")
    return Path(env) if env else Path.home() / ".docker"


def config_path() -> Path:
    return config_dir() / "config.json"


def containers_auth_paths() -> list[Path]:
    """Where podman, skopeo and buildah keep credentials, in their lookup order."""
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return [Path(env)]
    paths = []
    if os.environ.get("XDG_RUNTIME_DIR"):
        paths.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    paths.append(Path.home() / ".config" / "containers" / "auth.json")
    return paths


def server_key(host: str) -> str:
    """The key Docker uses for ``host`` in config.json and with helpers."""
    return DOCKER_HUB_KEY if host in (DEFAULT_DOMAIN, LEGACY_DOMAIN) else host


def host_of(key: str) -> str:
    """``https://host:5000/v2/`` -> ``host:5000``, as Docker matches config keys."""
    k = key.split("://", 1)[-1].split("/", 1)[0]
    return DEFAULT_DOMAIN if k == LEGACY_DOMAIN else k


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_bytes() or b"{}")
    except FileNotFoundError:
        return {}
    except (ValueError, OSError) as e:
        raise CredentialsError(f"cannot read {path}: {e}") from None
    if not isinstance(doc, dict):
        raise CredentialsError(f"cannot read {path}: not a JSON object")
    return doc


def _decode_auth(host: str, entry: dict) -> Credentials:
    user = entry.get("username") or ""
    pw = entry.get("password") or ""
    if entry.get("auth"):
        try:
            user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise CredentialsError(f"invalid auth entry for {host} in config") from None
    return Credentials(user, pw, entry.get("identitytoken") or "")


def _from_auths(doc: dict, host: str) -> Credentials | None:
    auths = doc.get("auths") or {}
    for key, entry in auths.items():
        if host_of(key) == host and isinstance(entry, dict):
            creds = _decode_auth(host, entry)
            if creds:
                return creds
    return None


def helper_get(helper: str, server: str) -> Credentials | None:
    out = _run_helper(helper, "get", server.encode())
    if out is None:
        return None
    try:
        doc = json.loads(out)
    except ValueError:
        raise CredentialsError(f"docker-credential-{helper} returned invalid JSON") from None
    user, secret = doc.get("Username") or "", doc.get("Secret") or ""
    if user == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(user, secret)


def _run_helper(helper: str, action: str, stdin: bytes) -> bytes | None:
    import shutil  # loaded only with a helper: most pulls use none
    import subprocess

    exe = shutil.which(f"docker-credential-{helper}")
    if exe is None:
        raise CredentialsError(
            f"credential helper docker-credential-{helper} not found in PATH")
    res = subprocess.run([exe, action], input=stdin, capture_output=True)
    if res.returncode != 0:
        msg = (res.stdout or res.stderr).decode(errors="replace").strip()
        if _NOT_FOUND in msg.lower():
            return None
        raise CredentialsError(f"docker-credential-{helper} {action}: {msg or 'failed'}")
    return res.stdout


def lookup(host: str) -> Credentials | None:
    """The credentials stored for ``host``, or None (anonymous)."""
    doc = _read_json(config_path())
    helper = (doc.get("credHelpers") or {}).get(host) or (
        (doc.get("credHelpers") or {}).get(server_key(host)))
    if helper:
        return helper_get(helper, server_key(host))
    if doc.get("credsStore"):
        creds = helper_get(doc["credsStore"], server_key(host))
        if creds:
            return creds
    creds = _from_auths(doc, host)
    if creds:
        return creds
    for path in containers_auth_paths():
        creds = _from_auths(_read_json(path), host)
        if creds:
            return creds
    return None


def store(host: str, creds: Credentials) -> Path | str:
    """Save credentials as ``docker login`` does. Returns where they went."""
    path = config_path()
    doc = _read_json(path)
    helper = (doc.get("credHelpers") or {}).get(host) or doc.get("credsStore")
    key = server_key(host)
    if helper:
        user, secret = (("<token>", creds.identity_token) if creds.identity_token
                        else (creds.username, creds.password))
        _run_helper(helper, "store", json.dumps(
            {"ServerURL": key, "Username": user, "Secret": secret}).encode())
        doc.setdefault("auths", {})[key] = {}
        where: Path | str = f"docker-credential-{helper}"
    else:
        raw = f"{creds.username}:{creds.password}".encode()
        entry = {"auth": base64.b64encode(raw).decode()}
        if creds.identity_token:
            entry = {"identitytoken": creds.identity_token}
        doc.setdefault("auths", {})[key] = entry
        where = path
    _write_config(path, doc)
    return where


def erase(host: str) -> bool:
    """Forget ``host``'s credentials (``docker logout``). True if there were any."""
    path = config_path()
    doc = _read_json(path)
    found = False
    helper = (doc.get("credHelpers") or {}).get(host) or doc.get("credsStore")
    if helper:
        found = _run_helper(helper, "erase", server_key(host).encode()) is not None
    auths = doc.get("auths") or {}
    for key in [k for k in auths if host_of(k) == host]:
        del auths[key]
        found = True
    if found:
        _write_config(path, doc)
    return found


def _write_config(path: Path, doc: dict) -> None:
    """Replace config.json atomically with a file only its owner can read, from the start:
    its directory (an existing ``~/.docker`` is often 0755) may be open to everyone."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, json.dumps(doc, indent="\t").encode() + b"\n", mode=0o600)
