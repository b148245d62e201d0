#!/bin/bash
# usage: rootfs.sh   -> prints the path of a cached, debootstrapped Debian bookworm tree that
# boots systemd and has what the tund package and the system test need.
#        rootfs.sh --mirror  -> prints only the Debian mirror it would use (APT_ETC=DIR to read
# another apt configuration; TUND_TEST_MIRROR=URL overrides it).
# Cached under /var/cache/tund-test/ (TUND_TEST_CACHE); rebuilt only when missing or when the
# package list below (or the mirror) changes: the cache key is a hash of both.
set -euo pipefail
CACHE=${TUND_TEST_CACHE:-/var/cache/tund-test}
SUITE=bookworm
# systemd as PID 1 and D-Bus (tundctl up/down talk to systemd over it); iproute2 and ping for the
# checks; systemd-resolved (the network shim, not root, sets a link's DNS there through polkit);
# wireguard-go (the engine); wireguard-tools (wg show); the shared libraries the .deb's
# ${shlibs:Depends} names (dpkg -i fails loudly if this list falls behind); polkitd, for the
# package's rule (group tund-operators may start/stop tund@*.service), with its dependencies
# named (debootstrap does not choose among virtual packages: libpam-systemd is the logind).
PACKAGES=systemd-sysv,dbus,systemd-resolved,iproute2,iputils-ping,wireguard-go,wireguard-tools,libmnl0,libnftnl11,libnl-3-200,libnl-route-3-200,libprotobuf-c1,libinih1,polkitd,libpam-systemd,libpolkit-gobject-1-0,libpolkit-agent-1-0,libduktape207,libglib2.0-0,libexpat1,xml-core

die() { echo "rootfs.sh: $*" >&2; exit 1; }

# find_mirror: the URI of the first enabled "deb" source for $SUITE in apt's configuration
# ($APT_ETC, /etc/apt by default), in any of its formats: one-line sources.list and
# sources.list.d/*.list ("deb [options] URI SUITE COMPONENTS"), deb822 sources.list.d/*.sources
# stanzas (Types:, URIs:, Suites:, Enabled:). A machine installed by the Debian installer or
# debootstrap has only sources.list; newer ones only debian.sources. Says what it read when it
# finds nothing.
APT_ETC=${APT_ETC:-/etc/apt}
find_mirror() {
	local f found=
	local -a lists=() deb822=()
	[ -f "$APT_ETC/sources.list" ] && lists+=("$APT_ETC/sources.list")
	for f in "$APT_ETC"/sources.list.d/*.list; do [ -f "$f" ] && lists+=("$f"); done
	for f in "$APT_ETC"/sources.list.d/*.sources; do [ -f "$f" ] && deb822+=("$f"); done
	if [ ${#deb822[@]} -gt 0 ]; then
		found=$(awk -v suite="$SUITE" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" suite "( |$)") &&
				    tolower(enabled) != "no" && uris != "") {
					split(uris, u, " "); print u[1]; done = 1; exit
				}
				types = uris = suites = enabled = ""
			}
			FNR == 1 { flush() }
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			{ key = tolower($1); sub(/^[^:]*:[ \t]*/, ""); }
			key == "types:" { types = $0 } key == "uris:" { uris = $0 }
			key == "suites:" { suites = $0 } key == "enabled:" { enabled = $0 }
			END { if (!done) flush() }' "${deb822[@]}")
	fi
	if [ -z "$found" ] && [ ${#lists[@]} -gt 0 ]; then
		found=$(awk -v suite="$SUITE" '
			{ sub(/#.*/, "") }
			$1 != "deb" { next }
			{ i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } }
			$(i + 1) == suite { print $i; exit }' "${lists[@]}")
	fi
	if [ -z "$found" ]; then
		local read="${lists[*]} ${deb822[*]}"
		[ -n "${read// /}" ] || read="nothing: no sources.list, sources.list.d/*.list or *.sources"
		echo "rootfs.sh: no \"deb\" source for Debian $SUITE in $APT_ETC (read: $read);" \
			"set TUND_TEST_MIRROR=URL to choose one" >&2
		return 1
	fi
	echo "$found"
}
mirror=${TUND_TEST_MIRROR:-}
[ -n "$mirror" ] || mirror=$(find_mirror) || exit 1
if [ "${1:-}" = --mirror ]; then
	echo "$mirror"
	exit 0
fi
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

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
