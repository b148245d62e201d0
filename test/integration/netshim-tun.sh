#!/bin/bash
# TUN and UAPI socket creation (services/netshim/netshim-tun.c) against the real wireguard-go:
# the detected TUN flavour must let packets cross between two engines, and the opposite one
# must not. Everything runs in namespaces created here; interface names carry our pid because
# /run/wireguard is shared with the host.
. "$(dirname "$0")/lib.sh"

TOOL="$B/test/helpers/netshim-tun-tool"
WG_GO=${WG_BIN:-/usr/bin/wireguard-go}
if [ ! -x "$TOOL" ] || [ ! -x "$WG_GO" ] || ! command -v wg >/dev/null; then
	skip netshim-tun "needs $TOOL, $WG_GO and wg"
	exit 0
fi
TMP=$(mktemp -d /tmp/netshim-tun.XXXXXX)
T_FILES+=("$TMP")
ID=$$
UAPI=/run/wireguard

# start_tool NAME NS ARGS...: run the tool in NS in the background, output in $TMP/NAME.out,
# its pid in TOOL_PID[NAME]
declare -gA TOOL_PID=()
start_tool() {
	local name=$1 ns=$2
	shift 2
	bg_start ip netns exec "$ns" "$TOOL" "$@" >"$TMP/$name.out" 2>&1
	TOOL_PID[$name]=${T_PIDS[-1]}
}
stop_tool() {
	local pid=${TOOL_PID[$1]}
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
on_exit_do "rm -f $UAPI/tt*$ID.sock"

# ns_add runs in a command substitution here, so its registration is lost: register again.
NSA=$(ns_add a) && on_exit_do "ip netns del $NSA" && NSB=$(ns_add b) && on_exit_do "ip netns del $NSB" ||
	{ fail setup "cannot create namespaces"; exit 1; }

# --- detection ---
read -r VERSION FLAVOUR < <("$TOOL" detect "$WG_GO" 2>&1)
case "$VERSION/$FLAVOUR" in
0.0.20220316/pi) pass detect_debian_engine_needs_pi ;;
*/pi | */no-pi) pass "detect_engine_$FLAVOUR" ;;
*) fail detect_engine "got '$VERSION $FLAVOUR'" ;;
esac
[ "$FLAVOUR" = pi ] && WRONG=no-pi || WRONG=pi

# --- TUN flags for both flavours ---
check_tun() { # flavour expected-tun_flags expected-"pi on|off"
	local ifn="ttf$1$ID" flags
	ifn=${ifn:0:15}
	start_tool "tun_$2" "$NSA" tun "$ifn" "$1"
	if ! wait_for 5 grep -q READY "$TMP/tun_$2.out"; then
		fail "tun_$1" "$(cat "$TMP/tun_$2.out")"
		return
	fi
	flags=$(ip netns exec "$NSA" cat "/sys/class/net/$ifn/tun_flags")
	check "tun_${1}_flags_$2" test "$flags" = "$2"
	check "tun_${1}_ip_link_$3" sh -c "ip -n $NSA -d link show $ifn | grep -q 'tun type tun $3'"
	check "tun_${1}_fd_cloexec" grep -q fd_cloexec=1 "$TMP/tun_$2.out"
	# quiet: no multicast, and no IPv6 link-local address once up (netcfg_link_quiet)
	check "tun_${1}_no_multicast" sh -c "! ip -n $NSA link show $ifn | grep -q MULTICAST"
	check "tun_${1}_addr_gen_none" sh -c "ip -n $NSA -d link show $ifn | grep -q 'addrgenmode none'"
	stop_tool "tun_$2"
	check "tun_${1}_gone_with_fd" sh -c "! ip -n $NSA link show $ifn 2>/dev/null"
}
check_tun pi 0x1 "pi on"
check_tun no-pi 0x1001 "pi off"

# --- UAPI socket ---
SOCK="$UAPI/ttu$ID.sock"
start_tool uapi1 "$NSA" uapi "$UAPI" "ttu$ID" 65534 65534 hold
if wait_for 5 grep -q READY "$TMP/uapi1.out"; then
	check uapi_mode_owner test "$(stat -c '%F %a %u %g' "$SOCK")" = "socket 600 65534 65534"
	check uapi_dir_mode test "$(stat -c '%a' "$UAPI")" = 755
	check uapi_fd_cloexec grep -q fd_cloexec=1 "$TMP/uapi1.out"
	check uapi_listening sh -c "ip netns exec $NSA ss -xl | grep -q '$SOCK'"
	if out=$("$TOOL" uapi "$UAPI" "ttu$ID" 0 0 2>&1); then
		fail uapi_live_socket_kept "second create succeeded"
	else
		check uapi_live_socket_kept sh -c "echo '$out' | grep -q 'in use'"
	fi
	stop_tool uapi1
	# The listener is gone but the file stays: stale, so it is replaced.
	check uapi_stale_file_left test -S "$SOCK"
	check uapi_stale_replaced "$TOOL" uapi "$UAPI" "ttu$ID" 0 0
	check uapi_replaced_owner test "$(stat -c '%u %g' "$SOCK")" = "0 0"
	rm -f "$SOCK"
	: >"$SOCK"
	if out=$("$TOOL" uapi "$UAPI" "ttu$ID" 0 0 2>&1); then
		fail uapi_regular_file_kept "replaced a regular file"
	else
		check uapi_regular_file_kept sh -c "echo '$out' | grep -q 'exists and is not a socket' && test -f '$SOCK'"
	fi
	rm -f "$SOCK"
else
	fail uapi_create "$(cat "$TMP/uapi1.out")"
fi

# --- two engines on our fds, a ping through the tunnel ---
ip link add "tva$ID" netns "$NSA" type veth peer name "tvb$ID" netns "$NSB" || fail veth "cannot create"
ip -n "$NSA" addr add 198.51.100.1/24 dev "tva$ID" && ip -n "$NSA" link set "tva$ID" up
ip -n "$NSB" addr add 198.51.100.2/24 dev "tvb$ID" && ip -n "$NSB" link set "tvb$ID" up
(umask 077 && wg genkey >"$TMP/ka" && wg genkey >"$TMP/kb")
PUBA=$(wg pubkey <"$TMP/ka") PUBB=$(wg pubkey <"$TMP/kb")

# tunnel NAME-SUFFIX FLAVOUR-A: engines in both namespaces, B always detected
tunnel_up() {
	local ia="tta$1$ID" ib="ttb$1$ID"
	start_tool "a$1" "$NSA" run "$ia" ${2:+"$2"}
	start_tool "b$1" "$NSB" run "$ib"
	wait_for 5 test -S "$UAPI/$ia.sock" && wait_for 5 test -S "$UAPI/$ib.sock" || return 1
	wait_for 5 ip netns exec "$NSA" wg show "$ia" || return 1
	wait_for 5 ip netns exec "$NSB" wg show "$ib" || return 1
	ip netns exec "$NSA" wg set "$ia" private-key "$TMP/ka" listen-port 51820 \
		peer "$PUBB" allowed-ips 192.0.2.2/32 endpoint 198.51.100.2:51821 || return 1
	ip netns exec "$NSB" wg set "$ib" private-key "$TMP/kb" listen-port 51821 \
		peer "$PUBA" allowed-ips 192.0.2.1/32 endpoint 198.51.100.1:51820 || return 1
	ip -n "$NSA" addr add 192.0.2.1/32 peer 192.0.2.2/32 dev "$ia" && ip -n "$NSA" link set "$ia" up &&
		ip -n "$NSB" addr add 192.0.2.2/32 peer 192.0.2.1/32 dev "$ib" && ip -n "$NSB" link set "$ib" up
}
tunnel_down() {
	stop_tool "a$1"
	stop_tool "b$1"
}
ping_through() {
	local i
	for i in 1 2 3; do ip netns exec "$NSA" ping -c 1 -W 1 192.0.2.2 >/dev/null 2>&1 && return 0; done
	return 1
}

if tunnel_up 1; then
	pass engine_started_on_our_fds
	check engine_reports_flavour grep -q "flavour=$FLAVOUR" "$TMP/a1.out"
	check wg_show_via_uapi sh -c "ip netns exec $NSA wg show tta1$ID | grep -q 'listening port: 51820'"
	check ping_through_detected_flavour ping_through
	check handshake_done sh -c "ip netns exec $NSA wg show tta1$ID latest-handshakes | awk '{exit !(\$2 > 0)}'"
else
	fail engine_started_on_our_fds "$(cat "$TMP/a1.out" "$TMP/b1.out" 2>/dev/null | tr '\n' ' ')"
fi
tunnel_down 1
check engine_exited_on_sigterm grep -q '^EXIT 0' "$TMP/a1.out"
check engine_removed_its_socket wait_for 2 sh -c "! test -e $UAPI/tta1$ID.sock"

# The opposite flavour on one side must break the data path: the detection is what makes it work.
if tunnel_up 2 "$WRONG"; then
	if ping_through; then
		fail wrong_flavour_drops_packets "ping crossed with $WRONG"
	else
		pass wrong_flavour_drops_packets
	fi
else
	fail wrong_flavour_setup "$(cat "$TMP/a2.out" "$TMP/b2.out" 2>/dev/null | tr '\n' ' ')"
fi
tunnel_down 2
exit 0
