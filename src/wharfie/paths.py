"""Where wharfie keeps its state: one root, chosen once (made private by
``wharfie.fs.private``)."""

import os
from pathlib import Path


def default_root() -> Path:
    """``$WHARFIE_ROOT``, else /var/lib/wharfie as root, else the XDG data dir."""
    env = os.environ.get("WHARFIE_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/wharfie")
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(data) / "wharfie"
