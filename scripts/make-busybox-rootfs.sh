#!/usr/bin/env bash
# Make a tiny root filesystem tarball from Debian's busybox-static: the base image of the demo
# and the tests. Usage: make-busybox-rootfs.sh OUT.tar
set -euo pipefail
out=$1
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-static is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # mktemp -d makes it 0700: no user but root could enter /
mkdir -p "$tmp"/{bin,sbin,etc,tmp,root,home,proc,sys,dev,usr/bin,var/tmp}
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
cp "$bb" "$tmp/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$tmp/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n' > "$tmp/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' > "$tmp/etc/group"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$tmp" -cf "$out" .
