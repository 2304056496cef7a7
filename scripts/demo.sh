#!/usr/bin/env bash
# The main job, end to end, on the embedded default store (WHARFIE_ROOT set by the Makefile):
# make a busybox base image, import it, list it, build examples/hello and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set -x
./scripts/make-busybox-rootfs.sh "$work/busybox.tar"
wharfie import "$work/busybox.tar" busybox:local --change 'CMD ["sh"]'
wharfie images
wharfie build -t hello:latest examples/hello
wharfie history hello:latest
wharfie run --rm hello:latest
wharfie images
