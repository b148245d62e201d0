#!/bin/bash
# Secrets: one end-to-end session with known keys, then every log and output it produced —
# helper, shim, tunnel and engine stderr, tundctl status/peers/watch --json, the netshim state
# file — is searched for the private and preshared keys, in base64 and in hex: none may be
# there. The processes that hold keys (tund-netshimd, tund-tunnel) are not dumpable.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"

if ! e2e_setup sec; then fail secrets-setup "could not build the namespaces"; exit 1; fi
e2e_profile sec "DNS = 192.0.2.1, corp.example"
e2e_helper_start || { fail secrets-setup "helper"; exit 1; }
OUT=$W/out
mkdir -p "$OUT"

e2e_shim_start sec
if ! wait_for 20 e2e_ready sec; then fail secrets-up "$(tail -5 "$W/shim-sec.log" | tr '\n' ' ')"; exit 1; fi
check secrets-tunnel-works cns ping -c 1 -W 3 192.0.2.1
ctl watch --json >"$OUT/watch.json" 2>&1 &
WP=$!
T_PIDS+=("$WP")
sleep 2.5 # a peer poll, seen by the watcher
ctl status --json >"$OUT/status.json" 2>&1
ctl peers --json >"$OUT/peers.json" 2>&1
ctl status >"$OUT/status.txt" 2>&1
ctl peers >"$OUT/peers.txt" 2>&1
cns sh -c 'cat /run/tund/netshim/*.state' >"$OUT/netshim.state" 2>&1
if [ -s "$OUT/netshim.state" ]; then
	pass secrets-state-file-read
else
	fail secrets-state-file-read "$(cat "$OUT/netshim.state")"
fi

# Not dumpable: /proc/PID/* of a non-dumpable process belong to root, whatever its uid.
SHIM=$(cns ps -e -o pid=,comm= | awk '$2 == "tund-netshimd" { print $1; exit }')
TUN=$(cns ps -e -o pid=,comm= | awk '$2 == "tund-tunnel" { print $1; exit }')
ENG=$(cns ps -e -o pid=,comm= | awk '$2 == "wireguard-go" { print $1; exit }')
tun_uid=$(cns awk '/^Uid:/ { print $2 }' "/proc/$TUN/status")
owner=$(cns stat -c %u "/proc/$TUN/status")
if [ -n "$TUN" ] && [ "$tun_uid" != 0 ] && [ "$owner" = 0 ]; then
	pass secrets-tunnel-not-dumpable
else
	fail secrets-tunnel-not-dumpable "tunnel pid $TUN uid $tun_uid, /proc/PID owned by $owner"
fi
# The shim runs as root, so its /proc is root's anyway: a non-dumpable process's environ is
# unreadable even to its own uid without CAP_SYS_PTRACE, which a dumpable one's is not.
if [ -n "$SHIM" ]; then
	# setpriv keeps root's uid but drops capabilities: same uid, no CAP_SYS_PTRACE.
	if cns setpriv --inh-caps=-all --bounding-set=-all cat "/proc/$SHIM/environ" >/dev/null 2>&1; then
		fail secrets-shim-not-dumpable "its environ is readable without CAP_SYS_PTRACE"
	else
		pass secrets-shim-not-dumpable
	fi
else
	fail secrets-shim-not-dumpable "no shim"
fi
if [ -n "$ENG" ]; then
	pass secrets-engine-running
else
	fail secrets-engine-running "no wireguard-go"
fi

e2e_shim_stop sec
if [ "$E2E_RC" = 0 ]; then pass secrets-clean-stop; else fail secrets-clean-stop "exit $E2E_RC"; fi
kill "$WP" 2>/dev/null
wait "$WP" 2>/dev/null
if [ -s "$OUT/watch.json" ]; then
	pass secrets-watch-output
else
	fail secrets-watch-output "empty"
fi

# Every key in both encodings; the inputs (the profile, the server's config) are not outputs.
hex() { echo "$1" | base64 -d | od -An -tx1 | tr -d ' \n'; }
searched=0
for f in $(find "$W" -type f ! -path "$W/etc/*" ! -name '*.e2e' ! -name 'server-wg.log'); do
	searched=$((searched + 1))
done
found=
for k in "$CKEY" "$PSK"; do
	for pat in "$k" "$(hex "$k")" "$(hex "$k" | tr a-f A-F)"; do
		hits=$(grep -rlF --exclude-dir=etc --exclude='*.e2e' --exclude=server-wg.log -- "$pat" "$W" 2>/dev/null)
		[ -n "$hits" ] && found="$found $hits"
	done
done
echo "searched $searched files: $(find "$W" -type f ! -path "$W/etc/*" ! -name '*.e2e' -printf '%P ' | head -c 600)"
if [ "$searched" -ge 8 ] && [ -z "$found" ]; then
	pass secrets-no-key-in-any-output
else
	fail secrets-no-key-in-any-output "key material in:$found (searched $searched files)"
fi
if grep -q 'has_preshared_key' "$OUT/status.json"; then
	pass secrets-status-says-psk-without-showing-it
else
	fail secrets-status-says-psk-without-showing-it "$(head -c 300 "$OUT/status.json")"
fi
exit 0
