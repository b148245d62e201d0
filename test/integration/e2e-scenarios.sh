#!/bin/bash
# End to end: the whole stack (shim, socket-activated helper, tunnel, wireguard-go, libnetcfg,
# a private systemd-resolved) against a wireguard-go peer in a second namespace.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"

if ! e2e_setup sc; then fail setup "could not build the namespaces"; exit 1; fi
BASE=$(e2e_dump)
no_tunnel_reachable() { ! cns ping -c 1 -W 1 203.0.113.1 >/dev/null 2>&1; }
check unreachable_without_vpn no_tunnel_reachable

same_as_base() { # NAME
	local now
	now=$(e2e_dump)
	if [ "$now" = "$BASE" ]; then pass "$1"; else fail "$1" "$(diff <(echo "$BASE") <(echo "$now") | head -8 | tr '\n' ' ')"; fi
}
up() { # NAME: start the shim, wait for READY=1
	e2e_shim_start "$1"
	if wait_for 20 e2e_ready "$1"; then return 0; fi
	e2e_logs
	return 1
}
down() { # NAME TEST: SIGTERM, exit 0
	e2e_shim_stop "$1"
	if [ "$E2E_RC" = 0 ]; then pass "$2"; else fail "$2" "exit $E2E_RC"; fi
}
# What a scenario needs, whatever the one before it left (each is a no-op when it is there):
# need_helper: a helper (socket-activated, no idle exit unless E2E_IDLE_EXIT says otherwise)
need_helper() { kill -0 "${HELPER_PID:-0}" 2>/dev/null || e2e_helper_start; }
# restart_helper: a new helper with the E2E_IDLE_EXIT given, the old one stopped if it runs
restart_helper() {
	if kill -0 "${HELPER_PID:-0}" 2>/dev/null; then
		kill "$(e2e_child_pid "$HELPER_PID")" 2>/dev/null
		wait "$HELPER_PID" 2>/dev/null
	fi
	e2e_helper_start
}
# need_session NAME: NAME's shim running and READY (a new one unless it already is)
need_session() {
	if [ -n "${SHIM_PID[$1]:-}" ] && kill -0 "${SHIM_PID[$1]}" 2>/dev/null; then
		e2e_ready "$1" && return 0
		e2e_shim_stop "$1"
	fi
	up "$1"
}
# need_dns_server: the server's DNS (dns-responder.py on 192.0.2.1, corp.example -> 192.0.2.53)
DNSLOG="$W/dns.log"
DNS_SERVER_PID=
need_dns_server() {
	[ -n "$DNS_SERVER_PID" ] && kill -0 "$DNS_SERVER_PID" 2>/dev/null && return 0
	: >"$DNSLOG"
	sns python3 "$TOP/test/integration/dns-responder.py" 192.0.2.1 corp.example 192.0.2.53 "$DNSLOG" &
	DNS_SERVER_PID=$!
	T_PIDS+=("$DNS_SERVER_PID")
}

# --- shim first: no helper yet; the shim waits, says so, and starts once the helper is there ---
e2e_profile work
e2e_shim_start work
if wait_for 5 grep -q 'STATUS=waiting for tund-helperd' "$W/notify-work"; then pass shim_first_waits; else fail shim_first_waits "no waiting STATUS"; fi
check shim_first_not_ready bash -c "! grep -q READY=1 $W/notify-work"
e2e_helper_start || fail helper_start "no sockets"
if wait_for 20 e2e_ready work; then pass shim_first_then_helper_ready; else fail shim_first_then_helper_ready "$(e2e_logs | tail -20 | tr '\n' ' ')"; fi

# --- split tunnel, IPv4 and IPv6 inside (the session "work" the scenario above started) ---
need_helper
need_session work
check split_ping_v4_peer cns ping -c 1 -W 3 192.0.2.1
# tundctl against the real stack, right after the first handshake: status asks the engine
# then and there, so it has the handshake and the bytes before the tunnel's next poll.
ctl status --json >"$W/status.json" 2>&1
# (read raw: no secret key anywhere in the text)
# shellcheck disable=SC2016 # $names in the jq program are jq's
jcheck ctl_status_json "$W/status.json" '(contains($ckey) or contains($psk) | not) and
	(fromjson | .sessions[0] as $s | $s.peers[0] as $p |
	.schema == 1 and
	$s.profile == "work" and $s.state == "running" and $s.ifname == "tund-work" and
	$s.engine_version == "0.0.20220316" and $s.engine_pid > 0 and $s.tunnel_pid > 0 and
	$s.applied.routes_applied == 4 and
	$p.endpoint == "198.51.100.1:51820" and
	(now - $p.last_handshake_sec) > 0 and (now - $p.last_handshake_sec) < 60 and
	$p.rx_bytes > 0 and $p.tx_bytes > 0 and $p.has_preshared_key == true)' \
	-R -s --arg ckey "$CKEY" --arg psk "$PSK"
check ctl_status_human bash -c "ctl status | grep -E '^work +running +tund-work +198.51.100.1:51820 +[0-9]+ s ago'"
check ctl_peers_human bash -c "ctl peers | grep -q '198.51.100.1:51820'"

# --- least privilege: the tunnel and the engine hold no capability, and the engine's user
# can change nothing on the host's network ---
caps_of() { # COMM: "uid CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs" of the first such process
	local pid
	pid=$(cns ps -e -o pid=,comm= | awk -v c="$1" '$2 == c { print $1; exit }')
	[ -n "$pid" ] && cns awk '/^Uid:/ { u = $2 } /^Cap(Inh|Prm|Eff|Bnd|Amb):/ { c = c " " $2 }
		/^NoNewPrivs:/ { n = $2 } END { print u c, n }' "/proc/$pid/status"
}
for comm in tund-tunnel wireguard-go; do
	c=$(caps_of "$comm")
	echo "$comm: uid CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs = $c"
	if [ "$c" = "991 0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 1" ]; then
		pass "no_capabilities_$comm"
	else
		fail "no_capabilities_$comm" "$c"
	fi
done
as_engine() { cns setpriv --reuid 991 --regid 991 --clear-groups "$@"; }
for what in "ip route add 192.0.2.99/32 dev lo" "ip rule add pref 100 lookup main" \
	"ip link set dev tund-work mtu 1300" "ip addr add 192.0.2.98/32 dev lo"; do
	if out=$(as_engine $what 2>&1); then
		fail "engine_user_cannot: $what" "it worked"
	elif [[ "$out" == *"Operation not permitted"* ]]; then
		pass "engine_user_cannot: $what"
	else
		fail "engine_user_cannot: $what" "$out"
	fi
done
check engine_mtu_is_the_shims bash -c "[ \"\$(cns cat /sys/class/net/tund-work/mtu)\" = 1420 ]"
check split_ping_v4_behind cns ping -c 1 -W 3 203.0.113.1
check split_ping_v6_peer cns ping -6 -c 1 -W 3 2001:db8:1::1
check split_ping_v6_behind cns ping -6 -c 1 -W 3 2001:db8:2::1
check split_route_via_tunnel bash -c "ip -n $RNS route get 203.0.113.1 | grep -q 'dev tund-work'"
check split_underlay_not_via_tunnel bash -c "ip -n $RNS route get 198.51.100.1 | grep -q 'dev eth0'"
check routes_listed_as_proto_tund bash -c "cns ip route show proto tund | grep -q '203.0.113.0/24 dev tund-work'"
check server_saw_traffic bash -c "sns wg show $SIF transfer | awk '{exit !(\$2 > 0 && \$3 > 0)}'"
check wg_show_on_tund_link bash -c "cns wg show tund-work | grep -q 'latest handshake'"
check ping_server_to_client sns ping -c 1 -W 3 192.0.2.2
down work split_stop_exit_0
same_as_base split_stop_leaves_namespace_identical

# --- split DNS: only corp.example goes to the tunnel's server ---
need_helper
need_dns_server
e2e_profile dns "DNS = 192.0.2.1, corp.example"
if up dns; then pass split_dns_up; else fail split_dns_up "not ready"; fi
check split_dns_link_servers bash -c "resolvectl_ns status tund-dns | grep -q 'DNS Servers: 192.0.2.1'"
check split_dns_link_domain bash -c "resolvectl_ns status tund-dns | grep -q 'DNS Domain: corp.example'"
check split_dns_not_default_route bash -c "resolvectl_ns status tund-dns | grep -q -- '-DefaultRoute'"
check split_dns_answer bash -c "resolvectl_ns query --cache=no host.corp.example | grep -q 192.0.2.53"
check split_dns_reached_server_through_tunnel grep -q '^host.corp.example 1' "$DNSLOG"
down dns split_dns_stop_exit_0
check split_dns_link_forgotten bash -c "resolvectl_ns status tund-dns 2>&1 | grep -q 'No such device'"
same_as_base split_dns_stop_leaves_namespace_identical

# --- two profiles at once (a second peer on the server, disjoint networks) ---
need_helper
C2KEY=$(wg genkey)
sns wg set "$SIF" peer "$(echo "$C2KEY" | wg pubkey)" allowed-ips 192.0.2.3/32
ip -n "$SRV" addr add 203.0.113.129/32 dev lo
e2e_profile work
lab_profile() { # NAME ADDRESS: the second client key, routing 203.0.113.128/25
	cat >"$W/etc/$1.conf" <<CONF
[Interface]
PrivateKey = $C2KEY
Address = $2
[Peer]
PublicKey = $SPUB
Endpoint = 198.51.100.1:51820
AllowedIPs = 203.0.113.128/25
[Tund]
InterfaceName = tund-$1
CONF
	chmod 600 "$W/etc/$1.conf"
}
lab_profile lab 192.0.2.3/32
# tundctl watch, subscribed before the start, sees both sessions come up and the handshake
nsenter -t "$RNS_PID" -n -m -p -- "$B/tundctl" --socket /run/tund/control.sock watch --json >"$W/watch.json" 2>&1 &
WATCH_PID=$!
T_PIDS+=("$WATCH_PID")
wait_for 5 grep -q 'watchers.:1\|"watchers":1' <(ctl status --json 2>/dev/null) || sleep 0.5
if up work && up lab; then pass two_profiles_up; else fail two_profiles_up "not both ready"; fi
check two_profiles_work cns ping -c 1 -W 3 203.0.113.1
check two_profiles_lab cns ping -c 1 -W 3 203.0.113.129
check two_profiles_lab_route bash -c "ip -n $RNS route get 203.0.113.129 | grep -q 'dev tund-lab'"
sleep 2.5 # a peer poll, whose delta carries the handshake
jcheck watch_sees_handshake "$W/watch.json" '[.[] | select(.event == "peers") |
	select(any(.peers.peers[]; (.last_handshake_sec // 0) > 0)) | .profile] | unique == ["lab", "work"]' -s
check watch_sees_running bash -c "grep -q '\"profile\":\"lab\",\"event\":\"status\",\"status\":{\"state\":\"running\"' $W/watch.json"
kill -INT "$(e2e_child_pid "$WATCH_PID")" 2>/dev/null
check two_profiles_two_tunnels bash -c "[ \$(cns ps -e -o comm= | grep -c tund-tunnel) = 2 ]"
# A third profile routing what lab already routes: refused with the link that has it, and
# neither running profile notices.
lab_profile dup 192.0.2.4/32
e2e_shim_start dup
wait "${SHIM_PID[dup]}"
DUP_RC=$?
check overlap_profile_fails test "$DUP_RC" != 0
check overlap_profile_names_link grep -q 'route 203.0.113.128/25 overlaps .*table main sends 203.0.113.128/25 to dev tund-lab' "$W/shim-dup.log"
# (the shim exits at the refusal; its tunnel and engine, which hold the TUN, follow)
overlap_gone() { ! cns ip link show tund-dup >/dev/null 2>&1 && [ "$(cns ps -e -o comm= | grep -c tund-tunnel)" = 2 ]; }
check overlap_profile_left_nothing wait_for 10 overlap_gone
check overlap_lab_still_works bash -c "cns ping -c 1 -W 3 203.0.113.129 >/dev/null && ip -n $RNS route get 203.0.113.129 | grep -q 'dev tund-lab'"
down lab two_profiles_lab_stop
check two_profiles_work_survives cns ping -c 1 -W 3 203.0.113.1
down work two_profiles_work_stop
same_as_base two_profiles_leave_namespace_identical

# --- helper idle exit after the last stop; the next connection starts it again ---
E2E_IDLE_EXIT=2 restart_helper
if up work; then pass idle_restart_up; else fail idle_restart_up "not ready"; fi
down work idle_stop
if wait_for 10 bash -c "! kill -0 $HELPER_PID 2>/dev/null"; then pass helper_idle_exit; else fail helper_idle_exit "still running"; fi
# systemd would keep the sockets and start it again on the next connection (system test)

# --- full tunnel: 0.0.0.0/0 and ::/0 with full DNS, no routing loop ---
E2E_IDLE_EXIT=0 restart_helper
need_dns_server
e2e_default_route
BASE=$(e2e_dump)
e2e_profile full "DNS = 192.0.2.1, corp.example" "0.0.0.0/0, ::/0"
if up full; then pass full_up; else fail full_up "not ready"; fi
# The profile's own table and rule span (its slot, claimed under the shim's state dir).
SLOT=$(cns sh -c 'grep -lx full /run/tund/netshim/slots/*' 2>/dev/null | head -1)
SLOT=${SLOT##*/}
check full_slot_claimed test -n "$SLOT"
TBL=$((29813 + ${SLOT:-0})) PRI=$((21700 + 10 * ${SLOT:-0}))
check full_rules_v4 bash -c "[ \"\$(ip -n $RNS rule show | grep -E 'proto (tund|116)' | cut -d: -f1 | tr '\n' ' ')\" = '$PRI $((PRI + 1)) ' ]"
check full_rules_v6 bash -c "[ \"\$(ip -n $RNS -6 rule show | grep -E 'proto (tund|116)' | cut -d: -f1 | tr '\n' ' ')\" = '$PRI $((PRI + 1)) ' ]"
# The engine cannot mark its packets (no CAP_NET_ADMIN): its user's packets bypass the table.
check full_engine_no_fwmark bash -c "[ \$(cns wg show tund-full fwmark) = off ]"
check full_rule_exempts_engine bash -c "ip -n $RNS rule show | grep -Eq '^$((PRI + 1)):.*not from all uidrange 991-991 lookup $TBL proto (tund|116)' &&
	ip -n $RNS -6 rule show | grep -Eq '^$((PRI + 1)):.*not from all uidrange 991-991 lookup $TBL proto (tund|116)'"
check full_ping_v4 cns ping -c 1 -W 3 203.0.113.1
check full_ping_v6 cns ping -6 -c 1 -W 3 2001:db8:2::1
check full_default_via_tunnel bash -c "ip -n $RNS route get 203.0.113.77 | grep -q 'dev tund-full'"
sleep 2
check full_no_routing_loop_handshake_fresh bash -c "cns wg show tund-full latest-handshakes | awk '{exit !(systime() - \$2 < 30)}'"
check full_still_passing_traffic cns ping -c 1 -W 3 203.0.113.1
check full_dns_default_route bash -c "resolvectl_ns status tund-full | grep -q -- '+DefaultRoute'"
check full_dns_root_domain bash -c "resolvectl_ns status tund-full | grep -q 'DNS Domain:.* ~\\.'"
check full_dns_answer bash -c "resolvectl_ns query --cache=no www.corp.example | grep -q 192.0.2.53"
# Another program deletes the full tunnel's rules and default route: the shim notices, puts
# them back, and status says so; the traffic never stays in clear.
RULES0=$(ip -n "$RNS" rule show; ip -n "$RNS" -6 rule show)
ROUTES0=$(ip -n "$RNS" route show table "$TBL"; ip -n "$RNS" -6 route show table "$TBL")
export RULES0 ROUTES0
ip -n "$RNS" rule del pref $((PRI + 1)) && ip -n "$RNS" -6 rule del pref "$PRI" &&
	ip -n "$RNS" route del default table "$TBL"
if wait_for 5 bash -c "[ \"\$(ip -n $RNS rule show; ip -n $RNS -6 rule show)\" = \"\$RULES0\" ] &&
	[ \"\$(ip -n $RNS route show table $TBL; ip -n $RNS -6 route show table $TBL)\" = \"\$ROUTES0\" ]"; then
	pass full_deleted_settings_restored
else
	fail full_deleted_settings_restored "$(ip -n "$RNS" rule show | tr '\n' ' ') $(ip -n "$RNS" route show table "$TBL" | tr '\n' ' ')"
fi
check full_restore_logged grep -q '3 addresses, routes or rules of tund-full deleted by another program: restored' "$W/shim-full.log"
check full_restore_in_status bash -c "ctl status full | grep -q 'last error: network shim: 3 addresses, routes or rules of tund-full deleted by another program: restored'"
check full_restored_passes_traffic bash -c "ip -n $RNS route get 203.0.113.77 | grep -q 'dev tund-full' && cns ping -c 1 -W 3 203.0.113.1"
down full full_stop_exit_0
same_as_base full_stop_leaves_namespace_identical
