"""Platforms (``os/arch[/variant]``) and how a wanted one matches an index entry."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from wharfie.errors import WharfieError

_ARCH_ALIASES = {
    "x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
    "armel": "arm", "i386": "386", "i686": "386",
}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
# What containerd's platforms.Parse knows (GOOS and GOARCH values).
KNOWN_OS = frozenset({"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios",
                      "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1",
                      "windows"})
KNOWN_ARCH = frozenset({"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le",
                        "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm", "sparc64"})


@dataclass(frozen=True)
class Platform:
    """An OCI platform: ``os/architecture[/variant]`` and the OS details."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def normalized(self) -> Platform:
        arch = _ARCH_ALIASES.get(self.architecture, self.architecture)
        variant = self.variant or _DEFAULT_VARIANT.get(arch)
        if arch == "amd64" and variant == "v1":
            variant = None
        return Platform(self.os.lower(), arch, variant, self.os_version, self.os_features)

    def matches(self, other: Platform) -> bool:
        """True if an image for ``other`` satisfies a request for ``self``."""
        a, b = self.normalized(), other.normalized()
        return a.os == b.os and a.architecture == b.architecture and (
            a.variant is None or b.variant is None or a.variant == b.variant)

    def to_dict(self) -> dict:
        d: dict = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            d["os.version"] = self.os_version
        if self.os_features:
            d["os.features"] = list(self.os_features)
        if self.variant:
            d["variant"] = self.variant
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Platform:
        return cls(d.get("os", ""), d.get("architecture", ""), d.get("variant") or None,
                   d.get("os.version") or None, tuple(d.get("os.features") or ()))


def parse_platform(text: str) -> Platform:
    """Parse ``linux/amd64``, ``linux/arm64/v8`` or ``arm64`` (the host OS implied)."""
    parts = text.strip().split("/")
    if not all(parts) or len(parts) > 3:
        raise WharfieError(f"invalid platform {text!r}: want os/arch[/variant]")
    if len(parts) == 1:
        p = Platform("linux", parts[0].lower()).normalized()
    else:
        p = Platform(parts[0].lower(), parts[1].lower(),
                     parts[2].lower() if len(parts) == 3 else None).normalized()
    if p.os not in KNOWN_OS:
        raise WharfieError(f"invalid platform {text!r}: unknown operating system {p.os!r}")
    if p.architecture not in KNOWN_ARCH:
        raise WharfieError(f"invalid platform {text!r}: unknown architecture "
                           f"{p.architecture!r}")
    return p


def host_platform() -> Platform:
    return Platform("linux", os.uname().machine.lower()).normalized()
