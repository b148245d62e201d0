#!/bin/bash
# Unit quality for every unit the package installs: `systemd-analyze verify` offline against a
# root made by `make install` (any output on stderr fails), and `systemd-analyze security
# --offline=yes` exposure, printed, at most 2.5 for tund-helper.service and 3.5 for
# tund@.service (every remaining exposure is justified by a comment in the unit).
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || { fail system_units "systemd-analyze missing (apt-get install systemd)"; exit 1; }
R=$(mktemp -d /tmp/tund-t-units-XXXXXX) || exit 1
T_FILES+=("$R")
mkdir -p "$R/lib/systemd"
cp -a /lib/systemd/system "$R/lib/systemd/" # the targets and sockets the units refer to
if ! make -s -C "$TOP" B="$B" DESTDIR="$R" PREFIX=/usr install >"$R/install.log" 2>&1; then
	fail system_units_install "$(tail -n 5 "$R/install.log" | tr '\n' ' ')"
	exit 1
fi
UNITS="tund-helper.service tund-helper-control.socket tund-helper-shim.socket tund@demo.service"
for u in $UNITS; do
	out=$(systemd-analyze verify --man=no --root="$R" "$u" 2>&1 >/dev/null)
	if [ -z "$out" ]; then
		pass "verify_$u"
	else
		fail "verify_$u" "$(echo "$out" | tr '\n' ' ')"
	fi
done
# The check can fail: with ExecStart= pointing nowhere, verify complains.
mv "$R/usr/sbin/tund-netshimd" "$R/usr/sbin/tund-netshimd.away"
out=$(systemd-analyze verify --man=no --root="$R" tund@demo.service 2>&1 >/dev/null)
if [ -n "$out" ]; then
	pass verify_sees_missing_binary
else
	fail verify_sees_missing_binary "no complaint"
fi
mv "$R/usr/sbin/tund-netshimd.away" "$R/usr/sbin/tund-netshimd"

exposure() { # UNIT MAX
	local out score
	out=$(systemd-analyze security --offline=yes --root="$R" "$1" 2>&1)
	echo "$out" | grep -v '^✓' | sed "s/^/    $1: /"
	score=$(echo "$out" | sed -n "s/.*Overall exposure level for $1: \([0-9.]*\).*/\1/p")
	echo "exposure $1: ${score:-?} (at most $2)"
	if [ -n "$score" ] && awk "BEGIN { exit !($score <= $2) }"; then
		pass "exposure_$1"
	else
		fail "exposure_$1" "'$score' > $2"
	fi
}
exposure tund-helper.service 2.5
exposure tund@demo.service 3.5
exit 0
