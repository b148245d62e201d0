#!/bin/bash
# usage: rootfs.sh   -> prints the path of a cached, debootstrapped Debian bookworm tree that
# boots systemd and has what the tund package and the system test need.
# Cached under /var/cache/tund-test/ (TUND_TEST_CACHE); rebuilt only when missing or when the
# package list below (or the mirror) changes: the cache key is a hash of both.
set -euo pipefail
CACHE=${TUND_TEST_CACHE:-/var/cache/tund-test}
SUITE=bookworm
# systemd as PID 1 and D-Bus (tundctl up/down talk to systemd over it); iproute2 and ping for the
# checks; wireguard-go (the engine); wireguard-tools (wg show); the shared libraries the .deb's
# ${shlibs:Depends} names (dpkg -i fails loudly if this list falls behind).
PACKAGES=systemd-sysv,dbus,iproute2,iputils-ping,wireguard-go,wireguard-tools,libmnl0,libnl-3-200,libnl-route-3-200,libprotobuf-c1,libinih1

die() { echo "rootfs.sh: $*" >&2; exit 1; }
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

# The Debian mirror apt uses (deb822 .sources or one-line .list).
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk '/^URIs:/ {u=$2} /^Suites:/ && / '"$SUITE"'( |$)/ {print u; exit}')
[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	awk '$1=="deb" && $3=="'"$SUITE"'" {print $2; exit}')
[ -n "$mirror" ] || die "no Debian $SUITE mirror in /etc/apt/sources.list{,.d/}"

key=$(printf '%s\n' "$SUITE" "$mirror" "$PACKAGES" | sha256sum | cut -c1-16)
tree="$CACHE/rootfs-$key"
if [ -f "$tree/.tund-complete" ]; then
	echo "$tree"
	exit 0
fi
mkdir -p "$CACHE"
# One builder at a time; a half-built tree never counts (.tund-complete is written last).
exec 9>"$CACHE/.lock"
flock 9
if [ ! -f "$tree/.tund-complete" ]; then
	tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "rootfs.sh: debootstrap $SUITE from $mirror into $tree (once)" >&2
	if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp/root" "$mirror" >"$tmp/log" 2>&1; then
		tail -n 20 "$tmp/log" >&2
		die "debootstrap failed"
	fi
	rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*_Packages
	# The container's systemd must not wait for a console login or try the host's hardware.
	: >"$tmp/root/etc/machine-id"
	echo tund-tsys >"$tmp/root/etc/hostname"
	touch "$tmp/root/.tund-complete"
	# Older trees (other package lists) go.
	for old in "$CACHE"/rootfs-*; do [ -d "$old" ] && [ "$old" != "$tree" ] && rm -rf "$old"; done
	mv "$tmp/root" "$tree"
fi
echo "$tree"
