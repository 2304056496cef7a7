"""Containers without a daemon: records and monitor state (``store``), the per-container
monitor process (``monitor``), the lifecycle (``lifecycle``), logs, volumes, the default
network (slirp4netns), and what a container changed (``changes``: diff, commit, cp).
Layered above ``runtime`` and ``snapshots``, below ``api``."""
