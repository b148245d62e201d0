# The end-to-end harness: a client namespace running the whole tund stack on a private
# system bus with systemd-resolved (lib-resolved.sh), and a server namespace with a
# wireguard-go peer, joined by veth on documentation addresses. Source after lib.sh.
#
#   e2e_setup NAME        both namespaces, the peer, a tund user inside, the helper under
#                         systemd-socket-activate; sets W (work dir), SRV, RNS, CKEY/SPUB...
#   e2e_profile NAME [EXTRA_INTERFACE_LINES] [ALLOWED_IPS] [EXTRA_TUND_LINES]
#   e2e_shim_start NAME   tund-netshimd for profile NAME in the foreground (background job)
#   e2e_shim_stop NAME    SIGTERM and wait; E2E_RC holds its exit status
#   ctl ARGS...           tundctl inside the client namespace
#   cns CMD...            run CMD in the client's network+mount+pid namespaces
#   sns CMD...            run CMD in the server's network namespace
#
# Addresses: underlay 198.51.100.1 (server) / .2 (client), 2001:db8:ff::1/::2; tunnel
# 192.0.2.1 (server) / 192.0.2.2 (client), 2001:db8:1::1 / ::2; server-only networks
# 203.0.113.0/24 and 2001:db8:2::/48 on the server's loopback.
. "$(dirname "${BASH_SOURCE[0]}")/lib-resolved.sh"

# E2E_WRAP: a command prefix for the daemons (e.g. valgrind), empty by default.
E2E_WRAP=()
# SHIM_PID[NAME]: the host pid of NAME's nsenter (whose child is the shim), set by e2e_shim_start.
declare -gA SHIM_PID=()
cns() { rns "$@"; }
sns() { ip netns exec "$SRV" "$@"; }
ctl() { cns "$B/tundctl" --socket /run/tund/control.sock --config-dir "$W/etc" "$@"; }

e2e_setup() {
	local name=$1
	W=$(mktemp -d /tmp/tund-t-e2e-XXXXXX) || return 1
	T_FILES+=("$W")
	mkdir -p "$W/etc" && chmod 700 "$W/etc"
	resolved_ns_start "c$name" || return 1
	SRV=$(ns_add "s$name") || return 1

	# underlay; no DAD, so addresses are final at once (before/after dumps compare flags)
	ip netns exec "$RNS" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
	ip netns exec "$SRV" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
	local vc="tvc$$" vs="tvs$$"
	ip link add "$vc" type veth peer name "$vs" || return 1
	ip link set "$vc" netns "$RNS" && ip link set "$vs" netns "$SRV" || return 1
	ip -n "$RNS" link set "$vc" name eth0 && ip -n "$SRV" link set "$vs" name eth0
	ip -n "$RNS" addr add 198.51.100.2/24 dev eth0
	ip -n "$RNS" addr add 2001:db8:ff::2/64 dev eth0 nodad
	ip -n "$SRV" addr add 198.51.100.1/24 dev eth0
	ip -n "$SRV" addr add 2001:db8:ff::1/64 dev eth0 nodad
	ip -n "$RNS" link set eth0 up && ip -n "$SRV" link set eth0 up
	# No default route: what lies behind the server is reachable through the tunnel only
	# (e2e_default_route adds one for the full-tunnel scenarios).
	# networks only the server has (reachable through the tunnel only)
	ip -n "$SRV" addr add 203.0.113.1/24 dev lo
	ip -n "$SRV" addr add 2001:db8:2::1/64 dev lo
	sns sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

	# the server's wireguard-go peer
	SKEY=$(wg genkey) CKEY=$(wg genkey)
	SPUB=$(echo "$SKEY" | wg pubkey) CPUB=$(echo "$CKEY" | wg pubkey)
	PSK=$(wg genpsk)
	SIF="tws$$"
	SIF=${SIF:0:15}
	LOG_LEVEL=verbose WG_PROCESS_FOREGROUND=1 ip netns exec "$SRV" wireguard-go "$SIF" >"$W/server-wg.log" 2>&1 &
	T_PIDS+=($!)
	# what `check ... bash -c "..."` needs
	export RNS RNS_PID SRV W B TOP RESOLVED_ROOT SIF
	export -f cns rns sns ctl resolvectl_ns rbusctl
	wait_for 5 test -S "/var/run/wireguard/$SIF.sock" || { echo "server wireguard-go did not start" >&2; return 1; }
	on_exit_do "rm -f /var/run/wireguard/$SIF.sock"
	sns wg set "$SIF" private-key <(echo "$SKEY") listen-port 51820 \
		peer "$CPUB" preshared-key <(echo "$PSK") allowed-ips 192.0.2.2/32,2001:db8:1::2/128 || return 1
	ip -n "$SRV" addr add 192.0.2.1/24 dev "$SIF"
	ip -n "$SRV" addr add 2001:db8:1::1/64 dev "$SIF" nodad
	ip -n "$SRV" link set "$SIF" up

	# inside the client: the engine's user and group tund-engine (uid 991), the people's status
	# group tund (992, no person in the engine's group), the tunnel binary on a root-only path (the
	# helper verifies every parent directory; a checkout under /tmp would not pass)
	cns sh -c "cp /etc/passwd '$W/passwd.e2e' && echo 'tund-engine:x:991:991::/:/usr/sbin/nologin' >>'$W/passwd.e2e' &&
		cp /etc/group '$W/group.e2e' && printf 'tund-engine:x:991:\ntund:x:992:\n' >>'$W/group.e2e' &&
		mount --bind '$W/passwd.e2e' /etc/passwd && mount --bind '$W/group.e2e' /etc/group &&
		mkdir -p -m 0755 /run/tund-bin /run/tund && install -m 0755 '$B/tund-tunnel' /run/tund-bin/tund-tunnel" ||
		return 1
	# `ip route show proto tund`, as the package's rt_protos.d entry makes it work
	mkdir -p "$W/rt_protos.d" && cp "$TOP/data/rt_protos.d/tund.conf" "$W/rt_protos.d/"
	[ -d /etc/iproute2/rt_protos.d ] && cns mount --bind "$W/rt_protos.d" /etc/iproute2/rt_protos.d
}

e2e_default_route() {
	ip -n "$RNS" route add default via 198.51.100.1
	ip -n "$RNS" -6 route add default via 2001:db8:ff::1
}

# The helper under systemd-socket-activate with its two named sockets (started on demand).
e2e_helper_start() {
	cns sh -c 'rm -f /run/tund/control.sock /run/tund/shim.sock'
	nsenter -t "$RNS_PID" -n -m -p -- systemd-socket-activate -l /run/tund/control.sock -l /run/tund/shim.sock \
		--fdname=control:shim "${E2E_WRAP[@]}" "$B/tund-helperd" --tunnel /run/tund-bin/tund-tunnel \
		--idle-exit "${E2E_IDLE_EXIT:-0}" "$@" >>"$W/helper.log" 2>&1 &
	HELPER_PID=$!
	T_PIDS+=("$HELPER_PID")
	wait_for 5 cns test -S /run/tund/shim.sock || return 1
	# what SocketMode=/SocketGroup= of the .socket units do (the activator sets no modes)
	cns sh -c 'chgrp tund /run/tund/control.sock && chmod 0660 /run/tund/control.sock &&
		chmod 0600 /run/tund/shim.sock'
}

e2e_profile() {
	local name=$1 extra=${2:-} allowed=${3:-"192.0.2.1/32, 2001:db8:1::1/128, 203.0.113.0/24, 2001:db8:2::/48"}
	local tund=${4:-}
	cat >"$W/etc/$name.conf" <<CONF
# test profile $name
[Interface]
PrivateKey = $CKEY
Address = 192.0.2.2/32, 2001:db8:1::2/128
$extra

[Peer]
PublicKey = $SPUB
PresharedKey = $PSK
Endpoint = 198.51.100.1:51820
AllowedIPs = $allowed
PersistentKeepalive = 25

[Tund]
InterfaceName = tund-$name
$tund
CONF
	chmod 600 "$W/etc/$name.conf"
}

e2e_shim_start() {
	local name=$1
	: >"$W/notify-$name"
	[ -S "$W/notify-$name.sock" ] || notify_listen "$W/notify-$name.sock" "$W/notify-$name"
	# nsenter itself, not the cns function: $! must be nsenter, whose child is the shim.
	NOTIFY_SOCKET="$W/notify-$name.sock" nsenter -t "$RNS_PID" -n -m -p -- "${E2E_WRAP[@]}" "$B/tund-netshimd" --config-dir "$W/etc" \
		"$name" >>"$W/shim-$name.log" 2>&1 &
	SHIM_PID[$name]=$!
	T_PIDS+=($!)
}

e2e_ready() { grep -q 'READY=1' "$W/notify-$1"; }

# The host pid of what runs under nsenter (its child in the client's pid namespace).
e2e_child_pid() {
	local i c
	for ((i = 0; i < 40; i++)); do
		c=$(ps --ppid "$1" -o pid= 2>/dev/null | tr -d ' ' | head -n 1)
		[ -n "$c" ] && { echo "$c"; return 0; }
		sleep 0.05
	done
	return 1
}

# e2e_shim_kill NAME SIGNAL: signal the shim itself (not nsenter, which forwards nothing).
e2e_shim_kill() {
	local c
	c=$(e2e_child_pid "${SHIM_PID[$1]}") && kill "-$2" "$c" 2>/dev/null
}

e2e_shim_stop() {
	e2e_shim_kill "$1" TERM
	wait "${SHIM_PID[$1]}"
	E2E_RC=$?
}

# The client's state that a stopped VPN must leave as it found it.
e2e_dump() {
	ns_dump "$RNS"
	resolvectl_ns status 2>&1 | grep -v 'Current Scopes\|^ *$'
	cns ls -A /run/wireguard 2>/dev/null
	cns ps -e -o comm= | grep -E 'tund-netshimd|tund-tunnel|wireguard-go' | sort
}

e2e_logs() {
	local f
	for f in "$W"/*.log; do echo "=== $f"; tail -n 20 "$f"; done
}
