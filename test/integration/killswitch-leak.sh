#!/bin/bash
# The kill switch (issue 18) seen from the world: nothing leaves the client around the tunnel
# while a switch holds — at boot (tund-netshimd --killswitch), while the shim starts, while it
# runs, after any of its processes is SIGKILLed and its ExecStopPost= ran with a failure result
# — and traffic flows again after a deliberate stop or --killswitch-off. The world (the server
# namespace, on the client's underlay) counts every packet that arrives from the client other
# than WireGuard's own UDP; probes of every kind try to leak (lib-leak.sh). Baselines first,
# without a switch, prove that the counter sees each kind of probe, so that "0" means blocked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"
. "$(dirname "$0")/lib-leak.sh"

T0=$(date +%s)
# lib.sh's fail, remembering that something failed: the daemons' logs are shown at the end
LEAK_FAILED=0
fail() {
	LEAK_FAILED=1
	echo "FAIL: $1: ${2:-}"
}
command -v nft >/dev/null || { fail setup "nft (Debian package nftables) is missing: the world counts with it"; exit 1; }
LEAK_P=leak
if ! leak_setup lk; then fail setup "could not build the namespaces"; exit 1; fi
e2e_helper_start || { fail setup "helper"; exit 1; }

# The full tunnel with the tunnel's DNS server; EXTRA: [Tund] lines.
profile() { e2e_profile "$LEAK_P" "DNS = $LEAK_TUNNEL_DNS" "0.0.0.0/0, ::/0" "${1:-}"; }

# DNS around the tunnel fails at once (rejected, not a timeout) and reaches no one.
dns_rejected() { # PHASE
	check "$1_dns_udp_v4_rejected_fast" probe_fast_reject "dns-$LEAK_WORLD4"
	check "$1_dns_tcp_v4_rejected_fast" probe_fast_reject "dnstcp-$LEAK_WORLD4"
	check "$1_dot_v4_rejected_fast" probe_fast_reject "dot-$LEAK_WORLD4"
	check "$1_dns_udp_v6_rejected_fast" probe_fast_reject "dns-$LEAK_WORLD6"
	check "$1_dot_v6_rejected_fast" probe_fast_reject "dot-$LEAK_WORLD6"
}

# Everything the client and the container send around the tunnel is blocked.
no_leak() { # PHASE
	leak_reset
	leak_probe_both
	check "$1_no_leak" leak_none
	dns_rejected "$1"
	check "$1_container_dns_rejected_fast" probe_fast_reject "dns-$LEAK_WORLD4" "$LPK"
}

# The shim of the profile is running, or started again after whatever a failed check left
# (so that one failure does not fail every later phase).
ensure_running() {
	local pid
	pid=$(leak_shim_pid "$LEAK_P")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && e2e_ready "$LEAK_P" && return 0
	[ -n "$pid" ] && { e2e_shim_kill "$LEAK_P" KILL; wait "$pid" 2>/dev/null; }
	leak_cleanup "$LEAK_P" exit-code
	leak_helper_alive || e2e_helper_start
	e2e_shim_start "$LEAK_P"
	leak_shim_ready "$LEAK_P" 20 >/dev/null
}
# tundctl's view of the switch: status (text, --json) and doctor (as root: the kernel's rules).
status_says() { # TEXT [PROFILE]
	local out
	out=$(ctl status "${@:2}" 2>&1)
	grep -qF "$1" <<<"$out" || { echo "$out" | tail -n 5; return 1; }
}
status_json_switch() { # True|False: whether the profile's switch has a session
	ctl status --json | jq -e --arg p "$LEAK_P" --arg s "$1" '
		{"profile": $p, "session": ($s == "True")} as $want |
		any(.kill_switches[]; . == $want) and
		(($want.session | not) or .sessions[0].applied.kill_switch == true)'
}
doctor_says() { # REGEX
	local out
	out=$(ctl doctor 2>&1)
	grep -qE "$1" <<<"$out" || { echo "$out" | grep -i kill; return 1; }
}
phase() { echo "--- $* ($(($(date +%s) - T0)) s)"; }

phase "0. baselines"
# --- 0. the harness: the world is quiet, and it counts each kind of probe ---
leak_reset
sleep 1
check idle_world_quiet leak_none
leak_reset
leak_probe_client
check baseline_counts_each_kind leak_seen dns lan bypass icmp4 icmp6 tcp4 tcp6 udp4 udp6
check baseline_ping_reaches_world probe_ok "ping-$LEAK_WORLD4"
check baseline_underlay_dns_answers probe_answer "dns-$LEAK_WORLD4"
check baseline_underlay_dns6_answers probe_answer "dns-$LEAK_WORLD6"
check baseline_tcp_connects probe_is "tcp-$LEAK_WORLD4" connected
check baseline_tcp6_connects probe_is "tcp-$LEAK_WORLD6" connected
check baseline_dot_connects probe_is "dot-$LEAK_WORLD4" connected
check baseline_dns_tcp6_connects probe_is "dnstcp-$LEAK_WORLD6" connected
# a datagram to the endpoint's port that is not WireGuard's is no "wg" to the world
leak_reset
cprobe udp "$LEAK_WORLD4" 51820 0.2 >/dev/null
check baseline_endpoint_datagram_counted leak_seen udp4
leak_reset
leak_probe_ct
check baseline_container_counted leak_seen dns icmp4 icmp6 tcp4 tcp6 udp4 udp6
check baseline_container_reaches_world probe_ok "ping-$LEAK_WORLD4" "$LPK"
check baseline_no_table ks_absent

phase "0. a tunnel without a switch"
# A running full tunnel alone does not stop a leak: the underlay's own network is on-link.
profile ""
e2e_shim_start "$LEAK_P"
check plain_up leak_shim_ready "$LEAK_P" 20
check plain_ping_through_tunnel cns ping -c 1 -W 2 203.0.113.1
leak_reset
leak_probe_client
check plain_onlink_leak_counted leak_seen dns icmp4 icmp6 tcp4 tcp6 udp4 udp6
check plain_no_table ks_absent
e2e_shim_stop "$LEAK_P"
leak_cleanup "$LEAK_P" success

# --- 1. the boot state: tund-netshimd --killswitch, before any shim ---
phase "1. boot state"
profile "KillSwitch = yes"
check boot_killswitch_exit_0 leak_killswitch "$LEAK_P"
check boot_table_present ks_present
check boot_profile_chain ks_chain "$LEAK_P"
check boot_no_tunnel_link bash -c "! cns ip link show tund-$LEAK_P >/dev/null 2>&1"
no_leak boot
check boot_tunnel_dns_around_tunnel_rejected_fast probe_fast_reject "dns-$LEAK_TUNNEL_DNS"
check boot_lan_dns_rejected_fast probe_fast_reject "dns-$LEAK_LAN4"

# --- 6. --killswitch-off lifts it ---
phase "6. --killswitch-off"
check off_exit_0 leak_killswitch_off "$LEAK_P"
check off_table_gone ks_absent
leak_reset
leak_probe_client
check off_traffic_flows_again leak_seen dns icmp4 icmp6 tcp4 tcp6 udp4 udp6
check off_ping_reaches_world probe_ok "ping-$LEAK_WORLD4"

# the exceptions, in the boot state: each reachable only when configured
phase "1b. AllowedBypass, AllowLAN"
profile "KillSwitch = yes
AllowedBypass = $LEAK_BYPASS4/32, $LEAK_BYPASS6/128"
check bypass_killswitch_exit_0 leak_killswitch "$LEAK_P"
leak_reset
leak_probe_client
check bypass_counted leak_seen bypass
check bypass_v4_reachable probe_ok "ping-$LEAK_BYPASS4"
check bypass_v6_reachable probe_ok "ping-$LEAK_BYPASS6"
check bypass_nothing_else leak_none bypass
dns_rejected bypass
check bypass_off leak_killswitch_off "$LEAK_P"
profile "KillSwitch = yes
AllowLAN = yes"
check lan_killswitch_exit_0 leak_killswitch "$LEAK_P"
leak_reset
leak_probe_client
check lan_counted leak_seen lan
check lan_v4_reachable probe_ok "ping-$LEAK_LAN4"
check lan_v6_reachable probe_ok "ping-$LEAK_LAN6"
# the underlay's own network (198.51.100.0/24) is no LAN: RFC 1918, link-local, ULA, multicast
check lan_nothing_else leak_none lan
check lan_dns_to_lan_rejected_fast probe_fast_reject "dns-$LEAK_LAN4"
dns_rejected lan
check lan_off leak_killswitch_off "$LEAK_P"

# --- 2. the shim starting: the switch is in place before the TUN, and while the shim waits
# for a helper that is not there yet (its socket refuses: the shim retries) ---
phase "2. starting"
profile "KillSwitch = yes"
check starting_no_table_before ks_absent
leak_kill tund-helperd TERM || leak_kill systemd-socket- TERM
wait "$HELPER_PID" 2>/dev/null
e2e_shim_start "$LEAK_P"
# best effort: the table is there when the link first is
if wait_for 10 cns ip link show "tund-$LEAK_P"; then
	check starting_switch_before_tun ks_present
else
	fail starting_switch_before_tun "no link tund-$LEAK_P within 10 s: $(tail -n 2 "$W/shim-$LEAK_P.log" | tr '\n' ' ')"
fi
check starting_waits_for_helper wait_for 10 grep -q 'STATUS=waiting for tund-helperd' "$W/notify-$LEAK_P"
check starting_switch_installed ks_present
no_leak starting
check starting_tunnel_dns_around_tunnel_rejected_fast probe_fast_reject "dns-$LEAK_TUNNEL_DNS"
check starting_not_ready_yet bash -c "! grep -q READY=1 '$W/notify-$LEAK_P'"
e2e_helper_start
check starting_then_ready leak_shim_ready "$LEAK_P" 20

# --- 3. running: the tunnel works, nothing else leaves ---
phase "3. running"
ensure_running
check running_ping_peer cns ping -c 1 -W 2 192.0.2.1
check running_ping_v4_through_tunnel cns ping -c 1 -W 2 203.0.113.1
check running_ping_v6_through_tunnel cns ping -c 1 -W 2 2001:db8:2::1
check running_table_present ks_present
# What an admin sees: the session's switch, and doctor's look at its rules (as root here).
check running_status_shows_switch status_says "Kill switch: on" "$LEAK_P"
check running_status_json_switch status_json_switch True
check running_doctor_switch_holds doctor_says "^ok +kill switch $LEAK_P +holds: [0-9]+ rules"
no_leak running
check running_tunnel_dns_answers probe_answer "dns-$LEAK_TUNNEL_DNS"
check running_resolved_answers_through_tunnel bash -c "resolvectl_ns query --cache=no host.corp.example | grep -q 192.0.2.53"
check running_container_into_tunnel ip netns exec "$CT" ping -c 1 -W 2 203.0.113.1
check running_container_into_tunnel_v6 ip netns exec "$CT" ping -c 1 -W 2 2001:db8:2::1
leak_reset
cns ping -c 2 -i 0.2 -W 2 203.0.113.1 >/dev/null
check running_tunnel_is_wireguard_udp leak_seen wg
check running_tunnel_nothing_in_clear leak_none

# --- 4. SIGKILL of each process: the switch outlives it, and a failed ExecStopPost= keeps it ---
kill_case() { # COMM [SERVICE_RESULT]
	local t=${1//-/_} pid
	phase "4. SIGKILL $1"
	ensure_running
	leak_reset
	leak_kill "$1" KILL || fail "kill_${t}_setup" "never saw $1"
	leak_probe_client # while it is dead and the rest reverts
	check "kill_${t}_dead_no_leak" leak_none
	check "kill_${t}_dns_rejected_fast" probe_fast_reject "dns-$LEAK_WORLD4"
	leak_shim_gone "$LEAK_P" 20 || {
		fail "kill_${t}_shim_ends" "still running"
		e2e_shim_kill "$LEAK_P" KILL
	}
	pid=$(leak_shim_pid "$LEAK_P")
	wait "$pid" 2>/dev/null
	check "kill_${t}_switch_outlives_shim" ks_present
	shift
	leak_cleanup "$LEAK_P" "$@"
	check "kill_${t}_switch_stays_after_cleanup_${1:-no_result}" ks_present
	if [ "$t" = tund_netshimd ]; then # no session now: status and doctor say it holds
		check "kill_${t}_status_holds_without_session" status_says "kill switch of $LEAK_P holds without a session"
		check "kill_${t}_status_json_without_session" status_json_switch False
		check "kill_${t}_doctor_warns" doctor_says "^warn +kill switch $LEAK_P +holds: .*no session"
	fi
	leak_reset
	leak_probe_client
	check "kill_${t}_after_cleanup_no_leak" leak_none
	check "kill_${t}_after_cleanup_dns_rejected_fast" probe_fast_reject "dns-$LEAK_WORLD4"
	if [ "$t" = tund_netshimd ]; then
		leak_reset
		leak_probe_ct
		check "kill_${t}_container_no_leak" leak_none
	fi
	leak_helper_alive || e2e_helper_start
	e2e_shim_start "$LEAK_P"
	check "kill_${t}_comes_back" leak_shim_ready "$LEAK_P" 20
	check "kill_${t}_tunnel_works_again" cns ping -c 1 -W 2 203.0.113.1
}
kill_case wireguard-go exit-code
kill_case tund-tunnel
kill_case tund-helperd exit-code
kill_case tund-netshimd signal

# --- 5. a deliberate stop: ExecStopPost= with SERVICE_RESULT=success lifts the switch ---
phase "5. deliberate stop"
ensure_running
e2e_shim_stop "$LEAK_P"
check stop_exit_0 test "$E2E_RC" = 0
check stop_cleanup_success leak_cleanup "$LEAK_P" success
check stop_table_gone ks_absent
leak_reset
leak_probe_client
check stop_traffic_flows_around_again leak_seen dns icmp4 icmp6 tcp4 tcp6 udp4 udp6
check stop_ping_reaches_world probe_ok "ping-$LEAK_WORLD4"
check stop_underlay_dns_answers probe_answer "dns-$LEAK_WORLD4"
leak_reset
leak_probe_ct
check stop_container_flows_again leak_seen icmp4 tcp4 udp4

# --- 1c. the boot state, then the shim on top of it (the order at boot) ---
phase "1c. boot state, then the shim"
check boot_then_shim_killswitch leak_killswitch "$LEAK_P"
e2e_shim_start "$LEAK_P"
check boot_then_shim_ready leak_shim_ready "$LEAK_P" 20
check boot_then_shim_tunnel_works cns ping -c 1 -W 2 203.0.113.1
check boot_then_shim_dns_through_tunnel bash -c "resolvectl_ns query --cache=no host.corp.example | grep -q 192.0.2.53"

# --- 8. two kill-switch profiles: their exceptions combine, the last stop lifts the table ---
phase "8. two profiles"
ensure_running
LAB=leaklab
C2KEY=$(wg genkey)
sns wg set "$SIF" peer "$(echo "$C2KEY" | wg pubkey)" allowed-ips 192.0.2.3/32
ip -n "$SRV" addr add 203.0.113.129/32 dev lo
cat >"$W/etc/$LAB.conf" <<CONF
[Interface]
PrivateKey = $C2KEY
Address = 192.0.2.3/32
[Peer]
PublicKey = $SPUB
Endpoint = 198.51.100.1:51820
AllowedIPs = 203.0.113.128/25
[Tund]
InterfaceName = tund-$LAB
KillSwitch = yes
CONF
chmod 600 "$W/etc/$LAB.conf"
e2e_shim_start "$LAB"
check two_split_up leak_shim_ready "$LAB" 20
check two_chains ks_chain "$LEAK_P"
check two_chains_lab ks_chain "$LAB"
check two_full_tunnel_works cns ping -c 1 -W 2 203.0.113.1
check two_split_tunnel_works cns ping -c 1 -W 2 203.0.113.129
leak_reset
leak_probe_client
check two_no_leak leak_none
e2e_shim_stop "$LAB"
leak_cleanup "$LAB" success
check two_one_stopped_table_stays ks_present
check two_one_stopped_its_chain_gone ks_no_chain "$LAB"
check two_one_stopped_other_chain_stays ks_chain "$LEAK_P"
check two_one_stopped_full_still_works cns ping -c 1 -W 2 203.0.113.1
leak_reset
leak_probe_client
check two_one_stopped_no_leak leak_none
e2e_shim_stop "$LEAK_P"
leak_cleanup "$LEAK_P" success
check two_last_stopped_table_gone ks_absent

# --- 9. another program deletes the switch while the shim runs: the shim puts it back ---
phase "9. deleted by another program"
profile "KillSwitch = yes"
e2e_shim_start "$LEAK_P"
check deleted_up leak_shim_ready "$LEAK_P" 20
cns nft delete table inet tund
check deleted_switch_restored wait_for 5 ks_present
check deleted_restore_logged grep -q "kill switch of $LEAK_P was deleted by another program: restored" "$W/shim-$LEAK_P.log"
leak_reset
leak_probe_client
check deleted_then_no_leak leak_none
check deleted_tunnel_still_works cns ping -c 1 -W 2 203.0.113.1
e2e_shim_stop "$LEAK_P"
leak_cleanup "$LEAK_P" success
check deleted_stop_table_gone ks_absent

# --- 10. a host name endpoint: its lookup (through resolved, to the underlay's resolver) may
# leave, for that name only; the tunnel comes up from the boot state ---
phase "10. host name endpoint"
profile "KillSwitch = yes"
sed -i "s/^Endpoint = .*/Endpoint = $LEAK_ENDPOINT_NAME:51820/" "$W/etc/$LEAK_P.conf"
check name_killswitch leak_killswitch "$LEAK_P"
check name_spec_has_name cns grep -qx "name $LEAK_ENDPOINT_NAME" "/run/tund/killswitch/$LEAK_P.ks"
: >"$W/dns-$LEAK_WORLD4.log"
e2e_shim_start "$LEAK_P"
check name_up leak_shim_ready "$LEAK_P" 20
# The first handshake gets through: the shim let the name's address through with the network
# settings, before the tunnel gave the engine its peers (WireGuard would retry only 5 s later).
check name_tunnel_works cns ping -c 1 -W 3 203.0.113.1
check name_lookup_reached_underlay grep -q "^$LEAK_ENDPOINT_NAME " "$W/dns-$LEAK_WORLD4.log"
check name_endpoint_resolved cns grep -q "^endpoint 198.51.100.1/32 51820$" "/run/tund/killswitch/$LEAK_P.ks"
# Another name through the same resolver does not get out.
: >"$W/dns-$LEAK_WORLD4.log"
cns timeout 3 "$RESOLVED_ROOT/usr/bin/resolvectl" query --cache=no other.leak.example >/dev/null 2>&1
check name_other_name_stays_in bash -c "! grep -q . '$W/dns-$LEAK_WORLD4.log'"
# A crash: the name's address stays allowed (the spec keeps it) and the tunnel comes back.
leak_kill tund-netshimd KILL
leak_shim_gone "$LEAK_P" 20
leak_cleanup "$LEAK_P" signal
check name_after_crash_address_kept cns grep -q "^endpoint 198.51.100.1/32 51820$" "/run/tund/killswitch/$LEAK_P.ks"
# The helper ends the dead shim's session (its tunnel exits) before a new one may start.
wait_for 10 bash -c "! cns pgrep -x tund-tunnel >/dev/null"
e2e_shim_start "$LEAK_P"
check name_comes_back leak_shim_ready "$LEAK_P" 20
e2e_shim_stop "$LEAK_P"
leak_cleanup "$LEAK_P" success
check name_stop_table_gone ks_absent

[ "$LEAK_FAILED" = 0 ] || e2e_logs
echo "run time: $(($(date +%s) - T0)) s"
