#!/bin/bash
# test/system/rootfs.sh finds the Debian mirror in each format apt reads (one-line
# sources.list as the Debian installer and debootstrap write it, sources.list.d/*.list, deb822
# sources.list.d/*.sources) and, when there is none, says why instead of exiting silently.
. "$(dirname "$0")/lib.sh"

ROOTFS=$TOP/test/system/rootfs.sh
W=$(mktemp -d /tmp/tund-t-mirror-XXXXXX) || exit 1
T_FILES+=("$W")

# mirror CASE: rootfs.sh --mirror with apt's configuration in $W/CASE; output in $W/CASE.out/.err
mirror() { env -u TUND_TEST_MIRROR APT_ETC="$W/$1" bash "$ROOTFS" --mirror >"$W/$1.out" 2>"$W/$1.err"; }
expect() { # NAME CASE URL
	local rc=0
	mirror "$2" || rc=$?
	if [ "$rc" = 0 ] && [ "$(cat "$W/$2.out")" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "rc=$rc out='$(cat "$W/$2.out")' err='$(cat "$W/$2.err")'"
	fi
}

# Only /etc/apt/sources.list, no sources.list.d at all (debootstrap; the installer).
mkdir -p "$W/oneline"
cat >"$W/oneline/sources.list" <<'E'
# deb cdrom:[Debian GNU/Linux 12.8.0 _Bookworm_ - Official amd64 DVD Binary-1]/ bookworm main
deb http://security.example.org/debian-security bookworm-security main
deb-src http://src.example.org/debian bookworm main
deb http://one.example.org/debian bookworm main contrib
deb http://one.example.org/debian bookworm-updates main
E
expect mirror_sources_list oneline http://one.example.org/debian

# sources.list.d/*.list with options in brackets, and an empty sources.list.
mkdir -p "$W/list/sources.list.d"
: >"$W/list/sources.list"
cat >"$W/list/sources.list.d/mirror.list" <<'E'
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://two.example.org/debian bookworm main
E
expect mirror_list_with_options list http://two.example.org/debian

# deb822: a deb-src stanza, a disabled one and the security suite come first; several URIs.
mkdir -p "$W/deb822/sources.list.d"
cat >"$W/deb822/sources.list.d/debian.sources" <<'E'
Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://off.example.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: http://deb.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
# a comment inside the stanza
URIs: http://three.example.org/debian http://three-b.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
E
expect mirror_deb822 deb822 http://three.example.org/debian

# Nothing at all: a reason, exit 1.
mkdir -p "$W/none"
rc=0
mirror none || rc=$?
if [ "$rc" = 1 ] && grep -q 'no "deb" source for Debian bookworm in .*/none (read: nothing' "$W/none.err" &&
	grep -q TUND_TEST_MIRROR "$W/none.err"; then
	pass mirror_none_says_why
else
	fail mirror_none_says_why "rc=$rc err='$(cat "$W/none.err")'"
fi

# Sources for another release only: the files read are named.
mkdir -p "$W/other"
echo 'deb http://old.example.org/debian bullseye main' >"$W/other/sources.list"
rc=0
mirror other || rc=$?
if [ "$rc" = 1 ] && grep -qF "(read: $W/other/sources.list" "$W/other.err"; then
	pass mirror_other_release_says_why
else
	fail mirror_other_release_says_why "rc=$rc err='$(cat "$W/other.err")'"
fi

# TUND_TEST_MIRROR wins over apt's configuration.
out=$(TUND_TEST_MIRROR=http://override.example.org/debian APT_ETC="$W/none" bash "$ROOTFS" --mirror 2>&1)
if [ "$out" = http://override.example.org/debian ]; then
	pass mirror_override
else
	fail mirror_override "$out"
fi
exit 0
