#!/bin/bash
# tund-tunnel against a real wireguard-go peer: namespace A runs tunnel-driver (playing the
# helper and the shim) -> tund-tunnel -> wireguard-go; namespace B runs a plain wireguard-go
# configured with wg(8); a veth pair joins them (192.0.2.0/24 underlay, 198.51.100.0/24 in the
# tunnel). Checks: start, handshake, ping both ways, GetPeers, deltas, Rebind, Stop, engine
# death, helper death, and that no key shows up in any output.
. "$(dirname "$0")/../integration/lib.sh"

DRIVER=$B/test/helpers/tunnel-driver
TUNNEL=$B/tund-tunnel
for x in "$DRIVER" "$TUNNEL" /usr/bin/wireguard-go /usr/bin/wg; do
	[ -x "$x" ] || { skip tunnel_wg "missing $x"; exit 0; }
done

W=$(mktemp -d /tmp/tund-tunnel-wg.XXXXXX)
T_FILES+=("$W")
ID=$(($$ % 100000))
IFA=tuA$ID
IFB=tuB$ID
NA=$(ns_add A) || exit 1
T_NETNS+=("$NA") # ns_add runs in a subshell here: register it for cleanup
NB=$(ns_add B) || exit 1
T_NETNS+=("$NB") # ns_add runs in a subshell here: register it for cleanup
# The engine sockets live in the global /var/run/wireguard: remove ours whatever happens.
on_exit_do "rm -f /var/run/wireguard/$IFA.sock /var/run/wireguard/$IFB.sock"

ip link add vA$ID netns "$NA" type veth peer name vB$ID netns "$NB"
ip -n "$NA" addr add 192.0.2.1/24 dev vA$ID
ip -n "$NB" addr add 192.0.2.2/24 dev vB$ID
ip -n "$NA" link set vA$ID up
ip -n "$NB" link set vB$ID up

PRIV_A=$(wg genkey)
PUB_A=$(echo "$PRIV_A" | wg pubkey)
PRIV_B=$(wg genkey)
PUB_B=$(echo "$PRIV_B" | wg pubkey)
PSK=$(wg genpsk)
hex() { echo "$1" | base64 -d | od -An -tx1 | tr -d ' \n'; }
SECRETS=("$PRIV_A" "$PRIV_B" "$PSK" "$(hex "$PRIV_A")" "$(hex "$PSK")")

# Peer B: wireguard-go creating its own TUN, configured with wg(8).
bg_start ip netns exec "$NB" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go -f "$IFB"
wait_for 5 test -S "/var/run/wireguard/$IFB.sock" || { fail peer_b_up "no socket"; exit 1; }
echo "$PRIV_B" >"$W/privB"
echo "$PSK" >"$W/psk"
ip netns exec "$NB" wg set "$IFB" private-key "$W/privB" listen-port 51820 \
	peer "$PUB_A" preshared-key "$W/psk" allowed-ips 198.51.100.1/32
ip -n "$NB" addr add 198.51.100.2/24 dev "$IFB"
ip -n "$NB" link set "$IFB" up

umask 077
cat >"$W/work.conf" <<EOF
[Interface]
PrivateKey = $PRIV_A
Address = 198.51.100.1/24

[Peer]
PublicKey = $PUB_B
PresharedKey = $PSK
Endpoint = 192.0.2.2:51820
AllowedIPs = 198.51.100.2/32
PersistentKeepalive = 1
EOF

# start_driver NAME: runs a driver session in A; commands go to fd 7, output to $W/NAME.out.
start_driver() {
	local name=$1
	shift
	rm -f "$W/$name.fifo"
	mkfifo "$W/$name.fifo"
	exec 7<>"$W/$name.fifo"
	ip netns exec "$NA" "$DRIVER" --tunnel "$TUNNEL" --profile "$W/work.conf" --ifname "$IFA" \
		"$@" <"$W/$name.fifo" >"$W/$name.out" 2>"$W/$name.err" &
	DRIVER_PID=$!
	T_PIDS+=("$DRIVER_PID")
}
out_has() { grep -q -- "$2" "$W/$1.out"; }
field() { grep -m1 -- "$2" "$W/$1.out" | sed -n "s/.*$3=\([^ ]*\).*/\1/p"; }
alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; }

# ---- session 1: start, traffic, peers, rebind, stop ----
start_driver s1 --log-level verbose
if wait_for 10 out_has s1 '^START_OK'; then
	pass tunnel_start
	echo "measured: $(grep -m1 '^START_OK' "$W/s1.out")"
else
	fail tunnel_start "$(tail -n 5 "$W/s1.out" "$W/s1.err" | tr '\n' ' ')"
	exit 1
fi
ENGINE=$(field s1 '^START_OK' pid)
check tunnel_engine_version test "$(field s1 '^START_OK' version)" = "$(wireguard-go --version | sed -n '1s/.*v//p')"
check tunnel_settings_routes out_has s1 'SETTINGS routes=198.51.100.2/32'
check tunnel_settings_addresses out_has s1 'SETTINGS addresses=198.51.100.1/24'
check tunnel_engine_fd_map test "$(tr '\0' '\n' </proc/"$ENGINE"/environ | sort | tr '\n' ' ')" = \
	"LOG_LEVEL=verbose WG_PROCESS_FOREGROUND=1 WG_TUN_FD=3 WG_UAPI_FD=4 "
# Only 0-4 are ours to give (Go adds its own epoll/pipe fds above them, none of them inherited).
check tunnel_engine_fds sh -c "ls -l /proc/$ENGINE/fd | grep -q 'net/tun' && \
	[ \"\$(readlink /proc/$ENGINE/fd/3)\" = /dev/net/tun ]"

T_HS=$(date +%s%N)
if wait_for 10 ip netns exec "$NA" ping -c1 -W1 198.51.100.2; then
	pass tunnel_ping_a_to_b
	echo "measured: StartResponse -> first ping through the tunnel $((($(date +%s%N) - T_HS) / 1000000)) ms"
else
	fail tunnel_ping_a_to_b "no reply"
fi
check tunnel_ping_b_to_a ip netns exec "$NB" ping -c3 -i0.2 -W1 198.51.100.1

peers_line() { grep '^PEER ' "$W/s1.out" | tail -n1; }
echo peers >&7
wait_for 5 out_has s1 '^PEERS delta=0' || true
P1=$(grep -A1 '^PEERS delta=0' "$W/s1.out" | grep '^PEER ' | tail -n1)
HS=$(echo "$P1" | sed -n 's/.* hs=\([0-9]*\).*/\1/p')
RX1=$(echo "$P1" | sed -n 's/.* rx=\([0-9]*\).*/\1/p')
if [ -n "$HS" ] && [ "$HS" -gt 0 ] && [ $(($(date +%s) - HS)) -lt 30 ] &&
	echo "$P1" | grep -q "key=$PUB_B endpoint=192.0.2.2:51820" && echo "$P1" | grep -q 'psk=1'; then
	pass tunnel_get_peers
else
	fail tunnel_get_peers "$P1"
fi
ip netns exec "$NA" ping -c5 -i0.2 -s 1000 198.51.100.2 >/dev/null
echo peers >&7
wait_for 5 test "$(grep -c '^PEERS delta=0' "$W/s1.out")" -ge 2
RX2=$(grep -A1 '^PEERS delta=0' "$W/s1.out" | grep '^PEER ' | tail -n1 | sed -n 's/.* rx=\([0-9]*\).*/\1/p')
if [ -n "$RX1" ] && [ -n "$RX2" ] && [ "$RX2" -gt "$RX1" ]; then pass tunnel_counters_grow; else
	fail tunnel_counters_grow "rx $RX1 -> $RX2"; fi
# GetPeers recorded the state; a delta needs a real change: >64 KiB of traffic.
ip netns exec "$NA" ping -c 100 -i 0.01 -s 1400 -q 198.51.100.2 >/dev/null
check tunnel_delta_update wait_for 6 out_has s1 '^PEERS delta=1 n=1'
check tunnel_engine_log_forwarded wait_for 3 out_has s1 "^LOG level=0 pid=$ENGINE .*handshake"

echo rebind >&7
check tunnel_rebind_ack wait_for 5 out_has s1 '^ACK rebind'
check tunnel_ping_after_rebind ip netns exec "$NA" ping -c1 -W2 198.51.100.2

echo stop >&7
check tunnel_stop_response wait_for 6 out_has s1 '^STOP_OK status=0'
check tunnel_stop_exit wait_for 6 out_has s1 '^TUNNEL_EXIT code=0'
# StopResponse is the tunnel's last message.
check tunnel_stop_last_message test "$(grep -vE '^(TUNNEL_EXIT|CLOSED)' "$W/s1.out" | tail -n1 | cut -d' ' -f1)" = STOP_OK
check tunnel_stop_no_engine sh -c "! kill -0 $ENGINE 2>/dev/null"
check tunnel_stop_socket_removed test ! -e "/var/run/wireguard/$IFA.sock"
echo quit >&7
wait "$DRIVER_PID" 2>/dev/null
exec 7>&-

# ---- session 2: the engine dies while running ----
start_driver s2
if wait_for 10 out_has s2 '^START_OK'; then
	ENGINE=$(field s2 '^START_OK' pid)
	kill -9 "$ENGINE"
	check tunnel_engine_death_reported wait_for 5 out_has s2 "^STATUS state=2 .*engine (pid $ENGINE) was killed by signal KILL unexpectedly"
	check tunnel_engine_death_exit wait_for 5 out_has s2 '^TUNNEL_EXIT code=3'
else
	fail tunnel_engine_death_reported "no start: $(tail -n3 "$W/s2.out" | tr '\n' ' ')"
fi
echo quit >&7
wait "$DRIVER_PID" 2>/dev/null
exec 7>&-

# ---- session 3: the helper dies (kill -9): tunnel and engine must go ----
start_driver s3
if wait_for 10 out_has s3 '^START_OK'; then
	ENGINE=$(field s3 '^START_OK' pid)
	TPID=$(sed -n 's/^TUNNEL_PID //p' "$W/s3.out")
	kill -9 "$DRIVER_PID"
	wait "$DRIVER_PID" 2>/dev/null
	if wait_for 6 sh -c "! kill -0 $ENGINE 2>/dev/null && ! kill -0 $TPID 2>/dev/null"; then
		pass tunnel_helper_death_cleans_up
	else
		fail tunnel_helper_death_cleans_up "engine $ENGINE or tunnel $TPID still alive"
		kill -9 "$ENGINE" "$TPID" 2>/dev/null
	fi
	check tunnel_helper_death_socket_removed wait_for 3 test ! -e "/var/run/wireguard/$IFA.sock"
else
	fail tunnel_helper_death_cleans_up "no start"
fi
exec 7>&-

# ---- secrets: nowhere in anything we captured ----
leak=
for f in "$W"/*.out "$W"/*.err; do
	for s in "${SECRETS[@]}"; do
		grep -qF -- "$s" "$f" && leak="$leak $(basename "$f")"
	done
done
if [ -z "$leak" ]; then pass tunnel_no_secrets_in_output; else fail tunnel_no_secrets_in_output "found in$leak"; fi
[ -n "${TUNNEL_TEST_KEEP:-}" ] && cp -r "$W" "$TUNNEL_TEST_KEEP"
exit 0
