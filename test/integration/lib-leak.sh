# shellcheck shell=bash
# The kill-switch leak harness (issue 18), on top of lib-e2e.sh: a "world" that sees the
# client's underlay and counts what reaches it around the tunnel, probes that try to leak, and a
# container behind the client. Source after lib.sh and lib-e2e.sh, call leak_setup NAME.
#
# The world is the server namespace SRV: every packet that arrives on its eth0 (the veth whose
# other end is the client's eth0, so from the client or what it forwards) is counted by a table
# of our own, inet leakcount, in one counter per kind, except WireGuard's own UDP to the
# endpoint (counted apart as wg), DHCP, and neighbour discovery/MLD. Order of the rules: dns (any
# packet to port 53 or 853), lan (RFC 1918, link-local, ULA, multicast), bypass (the bypass
# addresses), then icmp4, icmp6, tcp4, tcp6, udp4, udp6, other.
#
#   leak_setup NAME        e2e_setup NAME plus the world (below), the container, the probe
#   leak_reset             zero the counters (start of a phase)
#   leak_none [KIND...]    succeeds when no leak counter but KIND... moved since leak_reset;
#                          else says the delta, per kind, and what it was ("the world counted 3
#                          leaked packet(s), delta: icmp4=1 tcp6=2; seen: 198.51.100.2>198.51.100.1
#                          echo-request, ...")
#   leak_seen KIND...      succeeds when every KIND moved (a baseline: the counter can see it)
#   leak_probe_client      every probe from the client, in parallel; results under $LPC
#   leak_probe_ct          every probe from the container, in parallel; results under $LPK
#   leak_probe_both        both at once
#   probe_fast_reject ID [DIR]   the probe failed at once (reset, ICMP error or local EPERM,
#                          < 700 ms); DIR $LPC unless given (the same for the two below)
#   probe_answer ID        the DNS probe got an answer
#   probe_ok ID            the probe's command succeeded (a ping got its reply)
#   probe_is ID RESULT     the probe's result was RESULT (connected, answer, ...)
#   ks_present / ks_absent / ks_chain NAME / ks_no_chain NAME
#                          the product's table inet tund, its ks-NAME chain(s)
#   leak_killswitch NAME / leak_killswitch_off NAME / leak_cleanup NAME [SERVICE_RESULT]
#                          tund-netshimd --killswitch, --killswitch-off, --cleanup in the client
#
# Addresses on the underlay link, besides lib-e2e.sh's: the world's 198.51.100.50 and
# 2001:db8:ff::50 (bypass targets); a LAN 10.99.0.0/24 and fd00:99::/64 (world .1/::1, client
# .2/::2); resolvers answering on the underlay (198.51.100.1, 2001:db8:ff::1: the network's, and
# the client's resolved uses it as its global server), on the LAN (10.99.0.1) and in the tunnel
# (192.0.2.1: the profile's); TCP listeners on 198.51.100.1 and 2001:db8:ff::1, ports 53, 853
# and 443 (a TCP probe let through connects; one refused at once was rejected by the client).
# The probes (leak-probe.py, most of them in one process per side) run as root, an ordinary
# process to the kill switch, and a few as the engine's user (uid 991).
# The container: namespace CT, veth ct0 in the client (172.31.0.1/24, fd00:31::1/64), CT's eth0
# 172.31.0.2, fd00:31::2, default routes via the client, which forwards and masquerades it (a
# table ip/ip6 leakct of our own in the client), as a container runtime does.

LEAK_WORLD4=198.51.100.1 LEAK_WORLD6=2001:db8:ff::1
LEAK_BYPASS4=198.51.100.50 LEAK_BYPASS6=2001:db8:ff::50
LEAK_LAN4=10.99.0.1 LEAK_LAN6=fd00:99::1
LEAK_TUNNEL_DNS=192.0.2.1
LEAK_ENDPOINT_NAME=vpn.leak.example
# on-link (outside every tunnel route: suppress_prefixlength 0) and routed (into a full tunnel
# when it is up, via the underlay's default route when it is down)
LEAK_DESTS="$LEAK_WORLD4 $LEAK_WORLD6 203.0.113.1 2001:db8:2::1"
LEAK_ENGINE_UID=991
LEAK_P=${LEAK_P:-leak} # the profile whose processes leak_pid_of looks for
LEAK_PROBE_SRC=$TOP/test/integration/leak-probe.py
# Debian's python3 (deps.txt): a python3 earlier in root's PATH may be a wrapper (pyenv's shim
# takes half a second to start, and the engine's user cannot run it)
LEAK_PY=/usr/bin/python3
[ -x "$LEAK_PY" ] || LEAK_PY=python3

leak_setup() {
	local name=$1 rc
	rc=$(mktemp /tmp/tund-t-leak-resolv-XXXXXX) || return 1
	T_FILES+=("$rc")
	# The client's resolved forwards to the underlay's resolver, as one a DHCP server named:
	# a query it sends there around the tunnel is a leak the world counts.
	echo "nameserver $LEAK_WORLD4" >"$rc" && chmod 644 "$rc"
	export RESOLVED_NS_RESOLV_CONF=$rc
	e2e_setup "$name" || return 1
	e2e_default_route
	leak_world_setup || return 1
	leak_container_setup || return 1
	cns install -m 0755 "$LEAK_PROBE_SRC" /run/tund-leak-probe.py || return 1
}

leak_world_setup() {
	ip -n "$SRV" addr add "$LEAK_BYPASS4/24" dev eth0 &&
		ip -n "$SRV" addr add "$LEAK_BYPASS6/64" dev eth0 nodad &&
		ip -n "$SRV" addr add "$LEAK_LAN4/24" dev eth0 &&
		ip -n "$SRV" addr add "$LEAK_LAN6/64" dev eth0 nodad &&
		ip -n "$RNS" addr add 10.99.0.2/24 dev eth0 &&
		ip -n "$RNS" addr add fd00:99::2/64 dev eth0 nodad || return 1
	local a
	# TCP 53, 853 and 443 accept on the underlay: a TCP probe that is let through connects
	for a in "$LEAK_WORLD4" "$LEAK_WORLD6"; do
		bg_start sns "$LEAK_PY" "$LEAK_PROBE_SRC" listen "$a" 53 853 443 >>"$W/listen.log" 2>&1
	done
	# The underlay's resolver also knows the VPN server's name (LEAK_ENDPOINT_NAME).
	for a in "$LEAK_WORLD4" "$LEAK_WORLD6" "$LEAK_LAN4" "$LEAK_TUNNEL_DNS"; do
		bg_start sns "$LEAK_PY" "$TOP/test/integration/dns-responder.py" "$a" corp.example 192.0.2.53 \
			"$W/dns-$a.log" "$LEAK_ENDPOINT_NAME" 198.51.100.1
	done
	sns nft -f - <<'EOF' || return 1
table inet leakcount {
	counter wg {}
	counter dns {}
	counter lan {}
	counter bypass {}
	counter icmp4 {}
	counter icmp6 {}
	counter tcp4 {}
	counter tcp6 {}
	counter udp4 {}
	counter udp6 {}
	counter other {}
	# what was counted, for the failure messages: source, destination, protocol, port or type
	set seen4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags dynamic; size 1024; }
	set seen6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service; flags dynamic; size 1024; }
	set seenicmp4 { type ipv4_addr . ipv4_addr . icmp_type; flags dynamic; size 1024; }
	set seenicmp6 { type ipv6_addr . ipv6_addr . icmpv6_type; flags dynamic; size 1024; }
	chain in {
		type filter hook prerouting priority -300; policy accept;
		iifname != "eth0" return
		meta nfproto != { ipv4, ipv6 } return
		ip daddr 198.51.100.1 udp dport 51820 @th,64,32 { 0x01000000, 0x02000000, 0x03000000, 0x04000000 } counter name wg return
		udp dport { 67, 547 } return
		icmpv6 type { 130, 131, 132, 133, 134, 135, 136, 137, 143 } return
		meta l4proto { tcp, udp } add @seen4 { ip saddr . ip daddr . meta l4proto . th dport }
		meta l4proto { tcp, udp } add @seen6 { ip6 saddr . ip6 daddr . meta l4proto . th dport }
		meta l4proto icmp add @seenicmp4 { ip saddr . ip daddr . icmp type }
		meta l4proto ipv6-icmp add @seenicmp6 { ip6 saddr . ip6 daddr . icmpv6 type }
		meta l4proto { tcp, udp } th dport { 53, 853 } counter name dns return
		ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, 224.0.0.0/4, 255.255.255.255 } counter name lan return
		ip6 daddr { fc00::/7, fe80::/10, ff00::/8 } counter name lan return
		ip daddr 198.51.100.50 counter name bypass return
		ip6 daddr 2001:db8:ff::50 counter name bypass return
		meta nfproto ipv4 meta l4proto icmp counter name icmp4 return
		meta nfproto ipv6 meta l4proto ipv6-icmp counter name icmp6 return
		meta nfproto ipv4 meta l4proto tcp counter name tcp4 return
		meta nfproto ipv6 meta l4proto tcp counter name tcp6 return
		meta nfproto ipv4 meta l4proto udp counter name udp4 return
		meta nfproto ipv6 meta l4proto udp counter name udp6 return
		counter name other
	}
}
EOF
	# the responders are up when each answers (a refusal would hide nothing, but say so early)
	for a in "$LEAK_WORLD4" "$LEAK_WORLD6" "$LEAK_LAN4"; do
		wait_for 5 bash -c "[ \"\$(sns '$LEAK_PY' '$LEAK_PROBE_SRC' dns '$a' 53 1 | cut -d' ' -f1)\" = answer ]" ||
			{ echo "the world's resolver on $a does not answer" >&2; return 1; }
	done
	wait_for 5 bash -c "[ \$(grep -c listening '$W/listen.log') = 2 ]" ||
		{ echo "the world's TCP listeners did not start: $(cat "$W/listen.log")" >&2; return 1; }
}

leak_container_setup() {
	CT=$(ns_add ct) || return 1
	local a="tlka$$" b="tlkb$$"
	ip link add "${a:0:15}" type veth peer name "${b:0:15}" || return 1
	ip link set "${a:0:15}" netns "$RNS" && ip link set "${b:0:15}" netns "$CT" || return 1
	ip -n "$RNS" link set "${a:0:15}" name ct0 && ip -n "$CT" link set "${b:0:15}" name eth0 || return 1
	ip netns exec "$CT" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$RNS" addr add 172.31.0.1/24 dev ct0 && ip -n "$RNS" addr add fd00:31::1/64 dev ct0 nodad &&
		ip -n "$CT" addr add 172.31.0.2/24 dev eth0 && ip -n "$CT" addr add fd00:31::2/64 dev eth0 nodad &&
		ip -n "$RNS" link set ct0 up && ip -n "$CT" link set eth0 up &&
		ip -n "$CT" route add default via 172.31.0.1 && ip -n "$CT" -6 route add default via fd00:31::1 ||
		return 1
	ip netns exec "$RNS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	cns nft -f - <<'EOF' || return 1
table ip leakct {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.31.0.0/24 oifname != "ct0" masquerade
	}
}
table ip6 leakct {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip6 saddr fd00:31::/64 oifname != "ct0" masquerade
	}
}
EOF
	export CT
}

# ---- the world's counters ----

leak_reset() {
	sns nft reset counters table inet leakcount >/dev/null
	local set
	for set in seen4 seen6 seenicmp4 seenicmp6; do sns nft flush set inet leakcount "$set"; done
}

# what the world saw since leak_reset (the first few): "SRC>DST udp/53, SRC>DST echo-request"
leak_what() {
	local set
	for set in seen4 seen6 seenicmp4 seenicmp6; do
		sns nft list set inet leakcount "$set" | tr -d '\n\t' | sed -n 's/.*elements = { \(.*\) }.*/\1, /p'
	done | tr -s ' ' | sed -e 's/\([^ ,]*\) \. \([^ ,]*\) \. /\1>\2 /g' -e 's/ \. /\//g' | cut -c1-400
}

# "KIND N" per counter
leak_counts() {
	sns nft list counters table inet leakcount | awk '$1 == "counter" { n = $2 } $1 == "packets" { print n, $2 }'
}

leak_none() { # [KIND...]: the kinds that may move
	local kind n total=0 moved="" ignored=" $* wg "
	sleep 0.2 # what is on the wire arrives
	while read -r kind n; do
		case "$ignored" in *" $kind "*) continue ;; esac
		[ "$n" -gt 0 ] || continue
		total=$((total + n))
		moved="$moved $kind=$n"
	done < <(leak_counts)
	[ "$total" = 0 ] && return 0
	echo "the world counted $total leaked packet(s), delta:$moved; seen: $(leak_what)"
	return 1
}

leak_seen() { # KIND...
	local kind all missing=""
	sleep 0.2
	all=$(leak_counts)
	for kind in "$@"; do
		echo "$all" | awk -v k="$kind" '$1 == k && $2 > 0 { f = 1 } END { exit !f }' || missing="$missing $kind"
	done
	[ -z "$missing" ] && return 0
	echo "no packet counted for:$missing (counters: $(echo "$all" | tr '\n' ' '))"
	return 1
}

# ---- the probes ----

LP_PIDS=()
LP_BATCHES=()
LPC='' LPK='' # the client's and the container's results: $W/probes-client, $W/probes-ct
lp() { # DIR ID CMD...: CMD in the background, its output then "rc=STATUS" in DIR/ID
	local f=$1/$2
	shift 2
	{
		"$@"
		echo "rc=$?"
	} >"$f" 2>&1 &
	LP_PIDS+=($!)
}
# lp_batch DIR NAME CMD...: CMD (leak-probe.py batch ...) in the background; lp_wait files its
# "ID RESULT MS" lines as DIR/ID, like lp's
lp_batch() {
	local f=$1/.batch-$2
	shift 2
	"$@" >"$f" 2>&1 &
	LP_PIDS+=($!)
	LP_BATCHES+=("$f")
}
lp_wait() {
	local f id r ms
	wait "${LP_PIDS[@]}" 2>/dev/null
	for f in "${LP_BATCHES[@]}"; do
		# shellcheck disable=SC2094 # reads DIR/.batch-NAME, writes DIR/ID
		while read -r id r ms; do
			[ -n "$ms" ] && printf '%s %s\nrc=0\n' "$r" "$ms" >"$(dirname "$f")/$id"
		done <"$f"
	done
	LP_PIDS=() LP_BATCHES=()
}
cprobe() { cns "$LEAK_PY" /run/tund-leak-probe.py "$@"; }
ctprobe() { ip netns exec "$CT" "$LEAK_PY" "$LEAK_PROBE_SRC" "$@"; }
engine_probe() { cns setpriv --reuid "$LEAK_ENGINE_UID" --regid "$LEAK_ENGINE_UID" --clear-groups "$LEAK_PY" /run/tund-leak-probe.py "$@"; }

# The socket probes to the destinations, as batch specs: TCP and UDP to each, DNS (UDP, TCP,
# DoT) to the underlay's resolver.
leak_specs() {
	local d
	for d in $LEAK_DESTS; do echo "tcp-$d=tcp,$d,443,1" "udp-$d=udp,$d,4500,1"; done
	for d in "$LEAK_WORLD4" "$LEAK_WORLD6"; do
		echo "dns-$d=dns,$d,53,1.2" "dnstcp-$d=dnstcp,$d,53,1.2" "dot-$d=dnstcp,$d,853,1.2"
	done
}

# Everything an ordinary process on the client might send around the tunnel, at once: ICMP,
# TCP, UDP to on-link and routed destinations (v4, v6), DNS (UDP, TCP, DoT) to the underlay's
# resolver and the LAN, the tunnel's resolver (through the tunnel when it is up), a lookup
# through the client's resolved, the LAN and the bypass addresses, a datagram to the endpoint
# (not from the engine), the engine's user to anything but its endpoint, and what answers the
# server's own traffic to the client. Started, not waited for (lp_wait). LEAK_QUICK=1: not the
# lookup through resolved (up to 3 s).
leak_probe_client_start() {
	local d o
	LPC=$W/probes-client
	rm -rf "$LPC" && mkdir -p "$LPC"
	o=$LPC
	for d in $LEAK_DESTS "$LEAK_LAN4" "$LEAK_LAN6" "$LEAK_BYPASS4" "$LEAK_BYPASS6"; do
		lp "$o" "ping-$d" cns ping -c 1 -W 1 "$d"
	done
	# shellcheck disable=SC2046 # one word per spec
	lp_batch "$o" root cprobe batch $(leak_specs) \
		"dns-$LEAK_LAN4=dns,$LEAK_LAN4,53,1.2" "dns-$LEAK_TUNNEL_DNS=dns,$LEAK_TUNNEL_DNS,53,1.2" \
		"endpoint-root=udp,$LEAK_WORLD4,51820,1"
	lp_batch "$o" engine engine_probe batch "engine-udp=udp,$LEAK_WORLD4,4500,1" \
		"engine-tcp=tcp,$LEAK_WORLD4,443,1"
	[ -n "${LEAK_QUICK:-}" ] ||
		lp "$o" resolved cns timeout 3 "$RESOLVED_ROOT/usr/bin/resolvectl" query --cache=no --legend=no probe.example.net
	# the server sends to the client's tunnel address: through the tunnel when it is up; else
	# to the engine's last (now closed) port, whose ICMP error must not go back around
	lp "$o" server-calls sns ping -c 1 -W 1 192.0.2.2
}

# The container's share: the same destinations and the underlay's resolver, forwarded by the
# client.
leak_probe_ct_start() {
	local d o
	LPK=$W/probes-ct
	rm -rf "$LPK" && mkdir -p "$LPK"
	o=$LPK
	for d in $LEAK_DESTS; do
		lp "$o" "ping-$d" ip netns exec "$CT" ping -c 1 -W 1 "$d"
	done
	# shellcheck disable=SC2046 # one word per spec
	lp_batch "$o" ct ctprobe batch $(leak_specs)
}

leak_probe_client() { leak_probe_client_start && lp_wait; }
leak_probe_ct() { leak_probe_ct_start && lp_wait; }
leak_probe_both() { leak_probe_client_start && leak_probe_ct_start && lp_wait; }

probe_fast_reject() { # ID [DIR]: DIR the client's results unless given
	local f=${2:-$LPC}/$1 r ms
	read -r r ms <"$f" 2>/dev/null
	case $r in refused | eperm | unreachable) [ "${ms:-99999}" -lt 700 ] && return 0 ;; esac
	echo "$1: '${r:-nothing}' after ${ms:-?} ms, not an immediate reject"
	return 1
}

probe_ok() { # ID [DIR]: the probe's command succeeded (a ping got its reply)
	grep -qx 'rc=0' "${2:-$LPC}/$1" 2>/dev/null && return 0
	echo "$1 failed: $(tr '\n' ' ' <"${2:-$LPC}/$1" 2>/dev/null | tail -c 200)"
	return 1
}

probe_is() { # ID RESULT [DIR]: the probe's result was RESULT
	local f=${3:-$LPC}/$1 r ms
	read -r r ms <"$f" 2>/dev/null
	[ "$r" = "$2" ] && return 0
	echo "$1: '${r:-nothing}' after ${ms:-?} ms, not $2"
	return 1
}

probe_answer() { # ID [DIR]
	local f=${2:-$LPC}/$1 r ms
	read -r r ms <"$f" 2>/dev/null
	[ "$r" = answer ] && return 0
	echo "$1: '${r:-nothing}' after ${ms:-?} ms, no answer"
	return 1
}

# ---- the product's kill switch, seen from the client ----

ks_tables() { cns nft list tables 2>&1 | tr '\n' ' '; }
ks_present() {
	cns nft list table inet tund >/dev/null 2>&1 && return 0
	echo "no table inet tund (tables: $(ks_tables))"
	return 1
}
ks_absent() {
	cns nft list tables >/dev/null || return 1 # nft itself works
	! cns nft list table inet tund >/dev/null 2>&1 && return 0
	echo "table inet tund still there (tables: $(ks_tables))"
	return 1
}
# ks-NAME, or the chains of one (ks-NAME-in, -out, -fwd)
ks_has_chain() { cns nft list table inet tund 2>&1 | grep -Eq "chain ks-$1(-(in|out|fwd))? \{"; }
ks_chain() {
	ks_has_chain "$1" && return 0
	echo "no chain ks-$1 (chains: $(cns nft list table inet tund 2>&1 | awk '$1 == "chain" { printf "%s ", $2 }'))"
	return 1
}
ks_no_chain() { ! ks_has_chain "$1" || { echo "chain ks-$1 still there" && return 1; }; }

# The shim's one-shot modes, with the options the harness passes it (the mode flag last:
# right whether it is a flag before the profile or an option taking it).
leak_netshimd() { # LOG ARGS...: tund-netshimd in the client; its last lines when it fails
	local log=$1 rc
	shift
	cns "$@" >>"$log" 2>&1
	rc=$?
	[ "$rc" = 0 ] || echo "exit $rc: $(tail -n 2 "$log" | tr '\n' ' ')"
	return "$rc"
}
leak_killswitch() { leak_netshimd "$W/killswitch.log" "$B/tund-netshimd" --config-dir "$W/etc" --killswitch "$1"; }
leak_killswitch_off() { leak_netshimd "$W/killswitch.log" "$B/tund-netshimd" --config-dir "$W/etc" --killswitch-off "$1"; }
leak_cleanup() { # NAME [SERVICE_RESULT]: ExecStopPost=; no SERVICE_RESULT at all when none given
	if [ $# -ge 2 ]; then
		leak_netshimd "$W/cleanup.log" env SERVICE_RESULT="$2" "$B/tund-netshimd" --config-dir "$W/etc" --cleanup "$1"
	else
		leak_netshimd "$W/cleanup.log" env -u SERVICE_RESULT "$B/tund-netshimd" --config-dir "$W/etc" --cleanup "$1"
	fi
}

# ---- processes (e2e-faults.sh's ways) ----

# The process itself, in the client: not a short-lived `wireguard-go --version`; the engine
# proper of profile $LEAK_P runs as `wireguard-go -f tund-$LEAK_P`.
leak_pid_of() {
	cns ps -e -o pid=,stat=,comm=,args= | awk -v c="$1" -v p="tund-$LEAK_P" '$3 == c && $2 !~ /^Z/ &&
		!/--version/ && (c != "wireguard-go" || $NF == p) { print $1; exit }'
}
leak_kill() { # COMM SIGNAL: retrying while it is not there yet
	local p i
	for ((i = 0; i < 400; i++)); do
		p=$(leak_pid_of "$1")
		[ -n "$p" ] && cns kill "-$2" "$p" 2>/dev/null && return 0
		sleep 0.005
	done
	return 1
}
leak_helper_alive() { [ -n "$(leak_pid_of tund-helperd)" ]; }

# The host pid of NAME's shim (nsenter's), as e2e_shim_start left it.
leak_shim_pid() {
	echo "${SHIM_PID[$1]:-}"
}

# The shim of NAME is READY, or it ended (no use waiting then): 0 only when READY.
leak_shim_ready() { # NAME SECONDS
	local pid i
	pid=$(leak_shim_pid "$1")
	for ((i = 0; i < $2 * 20; i++)); do
		e2e_ready "$1" && return 0
		kill -0 "$pid" 2>/dev/null || { echo "the shim exited: $(tail -n 2 "$W/shim-$1.log" | tr '\n' ' ')"; return 1; }
		sleep 0.05
	done
	echo "not READY after $2 s: $(tail -n 1 "$W/shim-$1.log"); running: $(cns ps -e -o pid=,stat=,comm= |
		awk '$3 ~ /^(tund|wireguard|systemd-socket)/ { printf "%s ", $0 }')"
	return 1
}
leak_shim_gone() { # NAME SECONDS
	local pid
	pid=$(leak_shim_pid "$1")
	wait_for "$2" bash -c "! kill -0 $pid 2>/dev/null"
}
