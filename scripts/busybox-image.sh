#!/usr/bin/env bash
# Builds a busybox image from Debian's busybox-static into capsa's store (any --root/--runroot
# given as arguments are passed on): a root filesystem with busybox and its applet links,
# /etc/passwd and /etc/group, imported as localhost/busybox:latest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
capsa=${CAPSA:-$here/.venv/bin/capsa}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/rootfs/{bin,etc,tmp,proc,sys,dev,root,var/www}
chmod 1777 "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$work/rootfs/etc/group"
echo '<h1>hello from busybox httpd</h1>' >"$work/rootfs/var/www/index.html"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$capsa" "$@" import -q --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
  "$work/rootfs.tar" localhost/busybox:latest >/dev/null
