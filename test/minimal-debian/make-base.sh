#!/bin/bash
# make-base.sh — a pristine minimal Debian 12 tree at $MINDEB_DIR/base, as a new user's fresh
# machine: `debootstrap --variant=minbase bookworm` + git + ca-certificates.
# Cached: does nothing if $MINDEB_DIR/base/.complete exists (rm -rf the dir to rebuild).
set -euo pipefail
DIR=${MINDEB_DIR:-/var/tmp/tund-mindeb} # MINDEB_DIR: where trees, logs and runs go
BASE=$DIR/base
TMP=$DIR/base.tmp
[ "$(id -u)" = 0 ] || { echo "make-base: run as root" >&2; exit 1; }
if [ -e "$BASE/.complete" ]; then echo "make-base: $BASE is complete (cached)"; exit 0; fi

for t in debootstrap systemd-nspawn; do
	command -v "$t" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap systemd-container; break; }
done

# The host's Debian mirror, from any apt source format (or TUND_TEST_MIRROR).
MIRROR=$(bash "$(dirname "$0")/../system/rootfs.sh" --mirror) || exit 1
mkdir -p "$DIR"
echo "make-base: mirror $MIRROR"

rm -rf --one-file-system "$BASE" "$TMP"
debootstrap --variant=minbase --include=git,ca-certificates bookworm "$TMP" "$MIRROR"

# What a fresh debootstrap machine has: only /etc/apt/sources.list, one-line format.
rm -f "$TMP"/etc/apt/sources.list.d/*
[ -s "$TMP/etc/apt/sources.list" ] || echo "deb $MIRROR bookworm main" > "$TMP/etc/apt/sources.list"
chmod 0700 "$TMP/root"
chown root:root "$TMP/root"

mv "$TMP" "$BASE"
touch "$BASE/.complete"
echo "make-base: done: $BASE ($(du -sh --one-file-system "$BASE" | cut -f1))"
echo "  sources.list: $(cat "$BASE/etc/apt/sources.list")"
echo "  /root: $(stat -c '%a %U:%G' "$BASE/root")"
