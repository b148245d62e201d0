#!/bin/bash
# tund-tunnel's error paths with misbehaving engines (test/helpers/tunnel-fake-engine.c) and
# bad inherited fds: every failure must end in one clear StartResponse error, a non-zero exit,
# no engine left behind, and no key in any output.
. "$(dirname "$0")/../integration/lib.sh"

DRIVER=$B/test/helpers/tunnel-driver
FAKE=$B/test/helpers/tunnel-fake-engine
TUNNEL=$B/tund-tunnel
for x in "$DRIVER" "$FAKE" "$TUNNEL"; do
	[ -x "$x" ] || { skip tunnel_fake "missing $x"; exit 0; }
done

W=$(mktemp -d /tmp/tund-tunnel-fake.XXXXXX)
T_FILES+=("$W")
chmod 755 "$W"
ID=$(($$ % 100000))
IF=tuF$ID
NS=$(ns_add F) || exit 1
T_NETNS+=("$NS") # ns_add runs in a subshell here: register it for cleanup
on_exit_do "rm -f /var/run/wireguard/$IF.sock"

PRIV=$(wg genkey 2>/dev/null || echo "SJuvo/Jw53B+WkJMRcicPh0gKHNshqSOMKG4e8PWJnk=")
PSK=$(wg genpsk 2>/dev/null || echo "T41fGpm7/YiJ/9wb4yBluMciVb9O0ndAS71E1MUwCNE=")
hex() { echo "$1" | base64 -d | od -An -tx1 | tr -d ' \n'; }
umask 077
cat >"$W/p.conf" <<EOF
[Interface]
PrivateKey = $PRIV
Address = 198.51.100.1/24

[Peer]
PublicKey = OR0J4her8xJndIMqOzjLJ+GoHn22gR2LjHNin6H/zQE=
PresharedKey = $PSK
Endpoint = 192.0.2.2:51820
AllowedIPs = 0.0.0.0/0
EOF
for m in garbage hang errno exit; do
	printf '#!/bin/sh\nexec %s %s "$@"\n' "$FAKE" "$m" >"$W/engine-$m"
	chmod 755 "$W/engine-$m"
done

# run_fake NAME MODE [driver args]: one session, waits for the driver to end (bounded).
run_fake() {
	local name=$1 mode=$2
	shift 2
	local start
	start=$(date +%s%N)
	timeout 30 ip netns exec "$NS" "$DRIVER" --tunnel "$TUNNEL" --profile "$W/p.conf" \
		--ifname "$IF" --engine "$W/engine-$mode" --flavour pi "$@" \
		</dev/null >"$W/$name.out" 2>"$W/$name.err"
	ELAPSED_MS=$((($(date +%s%N) - start) / 1000000))
}
has() { grep -q -- "$2" "$W/$1.out"; }
no_fake_left() { ! pgrep -f "$FAKE" >/dev/null; }

run_fake garbage garbage --engine-timeout-ms 2000
check tunnel_fake_garbage_error has garbage '^START_ERROR code=10 errno=74 message=engine sent a malformed UAPI reply for the interface settings.*line 1 is not key=value'
check tunnel_fake_garbage_exit has garbage '^TUNNEL_EXIT code=1'
check tunnel_fake_fds_inherited has garbage 'LOG level=1 .*inherited fds and environment ok'

run_fake hang hang --engine-timeout-ms 1000
check tunnel_fake_hang_timeout has hang '^START_ERROR code=7 errno=110 message=engine did not answer on its UAPI socket .* for the interface settings'
# the tunnel's own lines reach the helper (the driver prints them), or its stderr when they
# cannot be relayed
check tunnel_fake_hang_killed grep -q 'did not exit within 3000 ms of SIGTERM, killing it' "$W/hang.out" "$W/hang.err"
check tunnel_fake_hang_exit has hang '^TUNNEL_EXIT code=1'
# 1 s UAPI timeout + 3 s SIGTERM grace, and not much more.
if [ "$ELAPSED_MS" -lt 8000 ]; then pass tunnel_fake_hang_bounded; else fail tunnel_fake_hang_bounded "$ELAPSED_MS ms"; fi
echo "measured: hanging engine: StartRequest -> exit $ELAPSED_MS ms"

run_fake errno errno
check tunnel_fake_errno_names_peer has errno '^START_ERROR code=10 errno=22 message=engine refused peer 1 (OR0J4her…): invalid argument (EINVAL)'

run_fake exit exit
check tunnel_fake_exit_reported has exit '^START_ERROR code=10 errno=0 message=engine .* exited with status 1: (fake) Failed to create TUN device: fake failure'

# The settings go after the device and before the peers (they carry the endpoints a kill
# switch must let through before the engine's first handshake): an engine that refuses its
# device settings gets no network settings; one that would refuse a peer has them asked first.
run_fake netcfg garbage --settings error
check tunnel_fake_no_settings_before_device sh -c "! grep -q '^SETTINGS' '$W/netcfg.out'"
run_fake order errno --settings error
check tunnel_fake_settings_before_peers has order '^SETTINGS'
check tunnel_fake_settings_refused_before_peers has order '^START_ERROR code=11 '

check tunnel_fake_no_engine_left no_fake_left

# Settings refused by the shim: the start fails with ERROR_NETCFG and the engine is stopped.
printf '#!/bin/sh\nexec /usr/bin/wireguard-go "$@"\n' >"$W/engine-real"
chmod 755 "$W/engine-real"
if [ -x /usr/bin/wireguard-go ]; then
	run_fake netcfg real --settings error
	check tunnel_settings_refused has netcfg '^START_ERROR code=11 errno=17 message=network settings were not applied: driver refuses the settings'
	check tunnel_settings_excludes_endpoint has netcfg '^SETTINGS excluded=192.0.2.2/32'
	check tunnel_settings_refused_exit has netcfg '^TUNNEL_EXIT code=1'
fi

# Bad inherited fds: a clear message and exit status 2.
ip netns exec "$NS" "$TUNNEL" --allow-root 3</dev/null 4</dev/null 5</dev/null >"$W/fds.out" 2>&1
rc=$?
check tunnel_bad_fd_exit test "$rc" = 2
check tunnel_bad_fd_message grep -q '^<3>fd 3 (tunnel channel) is not a socket' "$W/fds.out"
"$TUNNEL" >"$W/root.out" 2>&1
rc=$?
check tunnel_refuses_root sh -c "[ $rc = 2 ] && grep -q 'refusing to run as root' '$W/root.out'"

leak=
for f in "$W"/*.out "$W"/*.err; do
	for s in "$PRIV" "$PSK" "$(hex "$PRIV")" "$(hex "$PSK")"; do
		grep -qF -- "$s" "$f" && leak="$leak $(basename "$f")"
	done
done
if [ -z "$leak" ]; then pass tunnel_fake_no_secrets; else fail tunnel_fake_no_secrets "found in$leak"; fi
[ -n "${TUNNEL_TEST_KEEP:-}" ] && cp -r "$W" "$TUNNEL_TEST_KEEP"
exit 0
