#!/usr/bin/env bash
# Debian packages wharfie and its tests drive for real. Idempotent; needs root.
set -euo pipefail
PKGS=(python3-venv busybox-static runc slirp4netns skopeo umoci docker-registry debootstrap mmdebstrap docker.io crun podman wrk git openssh-client
      swift swift-proxy swift-object swift-container swift-account python3-swift memcached curl chromium
      golang-go binutils tmux)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
