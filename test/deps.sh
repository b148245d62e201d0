#!/bin/sh
# Install the Debian packages listed in $1 that are missing. Idempotent and
# fast when everything is present (one dpkg-query, no apt-get).
set -eu
list=${1:-deps.txt}
pkgs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list")
missing=
for p in $pkgs; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$s" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && { echo "deps: all $(echo $pkgs | wc -w) packages present"; exit 0; }
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing — run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
