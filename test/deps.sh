#!/bin/sh
# Install the Debian packages listed in $1 that are missing. Idempotent and
# fast when everything is present (one dpkg-query, no apt-get). Prints one line; apt-get's
# output goes to $TUND_DEPS_LOG (/var/tmp/tund-deps.log), whose end is shown on failure.
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
# One progress line; apt's own output goes to a log, shown (its end) and named on failure.
log=${TUND_DEPS_LOG:-/var/tmp/tund-deps.log}
n=$(echo $missing | wc -w)
echo "deps: installing $n missing package(s) with apt-get (log: $log)..."
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! { apt-get update && apt-get install -y --no-install-recommends $missing; } >"$log" 2>&1; then
	echo "deps: apt-get failed installing:$missing" >&2
	echo "deps: the end of its log ($log):" >&2
	tail -n 15 "$log" | sed 's/^/    /' >&2
	exit 1
fi
echo "deps: installed $n package(s)"
