#!/bin/bash
# The helper's systemd units: `systemd-analyze verify` offline against a temporary root with
# the binaries where ExecStart points (any stderr output fails), the socket settings the
# architecture fixes, and the hardening exposure (printed).
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || { skip helper-units "no systemd-analyze"; exit 0; }
U=$TOP/units
for u in tund-helper.service tund-helper-control.socket tund-helper-shim.socket; do
	[ -f "$U/$u" ] || { fail helper-units "$u missing"; exit 1; }
done
[ -x "$B/tund-helperd" ] || { fail helper-units "tund-helperd not built"; exit 1; }

T=$(mktemp -d /tmp/tund-units-XXXXXX)
T_FILES+=("$T")
mkdir -p "$T/usr/sbin" "$T/usr/libexec/tund" "$T/lib/systemd"
cp -a /lib/systemd/system "$T/lib/systemd/" # sysinit.target and the rest units depend on
install -m 0755 "$B/tund-helperd" "$T/usr/sbin/"
install -m 0644 "$U"/tund-helper.service "$U"/tund-helper-*.socket "$T/lib/systemd/system/"
UNITS="tund-helper.service tund-helper-control.socket tund-helper-shim.socket"

verify() { systemd-analyze verify --man=no --root="$T" $UNITS 2>&1 >/dev/null; }
out=$(verify)
if [ -z "$out" ]; then pass helper-units-verify; else fail helper-units-verify "$out"; fi
# The check must be able to fail: without the binary, verify complains.
mv "$T/usr/sbin/tund-helperd" "$T/usr/sbin/tund-helperd.away"
out=$(verify)
if [ -n "$out" ]; then
	pass helper-units-verify-sees-missing-binary
else
	fail helper-units-verify-sees-missing-binary "no complaint"
fi
mv "$T/usr/sbin/tund-helperd.away" "$T/usr/sbin/tund-helperd"

get() { sed -n "s/^$2=//p" "$U/$1" | tail -n 1; }
check helper-units-control-socket test "$(get tund-helper-control.socket ListenStream) $(get tund-helper-control.socket FileDescriptorName) $(get tund-helper-control.socket SocketMode) $(get tund-helper-control.socket SocketUser):$(get tund-helper-control.socket SocketGroup) $(get tund-helper-control.socket Service)" \
	= "/run/tund/control.sock control 0660 root:tund tund-helper.service"
check helper-units-shim-socket test "$(get tund-helper-shim.socket ListenStream) $(get tund-helper-shim.socket FileDescriptorName) $(get tund-helper-shim.socket SocketMode) $(get tund-helper-shim.socket SocketUser):$(get tund-helper-shim.socket SocketGroup) $(get tund-helper-shim.socket Service)" \
	= "/run/tund/shim.sock shim 0600 tund-netshim:root tund-helper.service"
check helper-units-type-notify test "$(get tund-helper.service Type)" = notify
check helper-units-hardening sh -c "grep -qx 'NoNewPrivileges=yes' '$U/tund-helper.service' &&
	grep -qx 'ProtectSystem=strict' '$U/tund-helper.service' && grep -qx 'ProtectHome=yes' '$U/tund-helper.service' &&
	grep -qx 'PrivateTmp=yes' '$U/tund-helper.service' &&
	grep -qx 'RestrictAddressFamilies=AF_UNIX AF_NETLINK' '$U/tund-helper.service' &&
	grep -qx 'SystemCallFilter=@system-service' '$U/tund-helper.service' &&
	grep -qx 'CapabilityBoundingSet=' '$U/tund-helper.service' &&
	grep -qx 'AmbientCapabilities=' '$U/tund-helper.service' && grep -qx 'User=tund-engine' '$U/tund-helper.service' && grep -qx 'ExecStart=/usr/sbin/tund-helperd --shim-user tund-netshim' '$U/tund-helper.service'"

out=$(systemd-analyze security --offline=yes --root="$T" tund-helper.service 2>&1)
echo "$out" | sed 's/^/    security: /'
score=$(echo "$out" | sed -n 's/.*Overall exposure level for tund-helper.service: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk "BEGIN { exit !($score <= 3.0) }"; then
	pass helper-units-exposure
	echo "exposure: $score"
else
	fail helper-units-exposure "exposure '$score' (want <= 3.0)"
fi
exit 0
