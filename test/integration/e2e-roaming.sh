#!/bin/bash
# Roaming and sleep (issue 19), end to end: a running session follows its peer and its own
# network without a restart, with traffic flowing through the tunnel all along (a background
# ping), and without NetworkManager or tundctl doing anything. One session (a full tunnel with a
# kill switch, to a host name) goes through the first three:
#   stale  the server's WireGuard port is dropped: the session says `stale` (tundctl status,
#          --json, the shim's STATUS=) and returns to running by itself once the drop is lifted
#   sleep  a stand-in logind (test/helpers/fake-logind) on the private system bus emits
#          PrepareForSleep(true) then (false): tund-helperd rebinds on resume
#   name   the endpoint's host name moves to another address: the tunnel re-resolves it, moves
#          the engine and swaps the full tunnel's endpoint exclusion, and the kill switch lets
#          the new address through
#   path   (a new session) the client's IPv4 default route moves to a second link and the old
#          path dies: the helper sees it on rtnetlink and rebinds, once for the one change
#   path6  the same for IPv6 with the old path alive: only the rebind moves the engine's
#          (pinned) source address to the new path, which the server sees
# Not here: the wall-clock jump (it would set the host's clock).
# The helper runs with short test timers (--reresolve-after, --stale-after). The timing bounds
# are generous (the machine is noisy): nothing here asserts how fast anything happens.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"

RERESOLVE=3 STALE=4
FAKE_LOGIND=$B/test/helpers/fake-logind
command -v nft >/dev/null || { fail setup "nft (Debian package nftables) is missing"; exit 1; }
[ -x "$FAKE_LOGIND" ] || { fail setup "$FAKE_LOGIND not built"; exit 1; }
if ! e2e_setup ro; then fail setup "could not build the namespaces"; exit 1; fi

# until SECONDS CMD...: poll CMD (quietly) until it succeeds, for at most SECONDS of wall time
# (lib.sh's wait_for counts 50 ms steps, which a slow CMD such as a ping stretches).
until_ok() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}
# The helper's log (the tunnel's lines are relayed to it): a mark, and what came after one.
log_mark() { wc -l <"$W/helper.log"; }
log_since() { tail -n +$(($1 + 1)) "$W/helper.log"; }
log_since_has() { log_since "$1" | grep -iEq "$2"; } # MARK ERE
one_line() { # NAME PATTERN: exactly one tunnel line "tunnel: PATTERN" since the mark $M
	local n
	n=$(log_since "$M" | grep -c "tunnel: $2")
	if [ "$n" = 1 ]; then pass "$1"; else fail "$1" "$n lines: $(log_since "$M" | grep -E 'tunnel: (stale|running again)' | tr '\n' ' ')"; fi
}
# the session's "state endpoint tunnel_pid engine_pid" as tundctl status --json says
sess() {
	ctl status --json 2>/dev/null | jq -r --arg p "$1" '.sessions[] | select(.profile == $p) |
		[(.peers // [])[] | .endpoint // "" | if . == "" then "-" else . end] as $eps |
		"\(.state) \(if $eps == [] then "-" else $eps | join(",") end) \(.tunnel_pid) \(.engine_pid)"'
}
sess_state_is() { [ "$(sess "$1" | cut -d' ' -f1)" = "$2" ]; }          # PROFILE STATE
sess_endpoint_is() { [ "$(sess "$1" | cut -d' ' -f2)" = "$2" ]; }       # PROFILE ENDPOINT
text_state_is() { ctl status | awk -v p="$1" -v s="$2" '$1 == p { f = ($2 == s) } END { exit !f }'; }
last_status() { grep -o 'STATUS=[^|]*' "$W/notify-$1" | tail -n 1 | cut -d= -f2-; }
notify_stale() { last_status "$1" | grep -q '^stale'; }
notify_not_stale() { [ -n "$(last_status "$1")" ] && ! notify_stale "$1"; }
# host pids that must not change while a session roams: shim, helper, tunnel, engine
pids_of() { echo "$(e2e_child_pid "${SHIM_PID[$1]}") $(e2e_child_pid "$HELPER_PID") $(sess "$1" | cut -d' ' -f3-)"; }
# the full tunnel's endpoint exclusions: throw routes of tund's tables (proto tund = 116)
throws() { ip -n "$RNS" -4 route show table all | awk '$1 == "throw" && / proto (tund|116)/ { print $2 }' | sort | tr '\n' ' '; }
ks_spec() { cns cat "/run/tund/killswitch/$1.ks"; }
export -f sess throws ks_spec
tun_ping() { cns ping -n -c 1 -W 1 203.0.113.1; }
tun_dead() { ! cns ping -n -c 2 -i 0.3 -W 1 203.0.113.1; }
# A ping through the tunnel in the background, 5 a second: the data that the health and
# re-resolve logic watch go unanswered when the path breaks.
pinger_start() {
	nsenter -t "$RNS_PID" -n -m -p -- ping -n -i 0.2 203.0.113.1 >>"$W/ping.log" 2>&1 &
	PINGER=$!
	T_PIDS+=("$PINGER")
}
pinger_stop() {
	kill "$(e2e_child_pid "$PINGER")" 2>/dev/null
	wait "$PINGER" 2>/dev/null
}
up() { # NAME
	e2e_shim_start "$1"
	until_ok 30 e2e_ready "$1" && until_ok 20 tun_ping && return 0
	e2e_logs
	return 1
}
down() { # NAME TEST
	e2e_shim_stop "$1"
	if [ "$E2E_RC" = 0 ]; then pass "$2"; else fail "$2" "exit $E2E_RC"; fi
}
same() { # NAME BEFORE NOW
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "before: $2, now: $3"; fi
}

# The endpoint's host name, in the client's own /etc/hosts (a bind-mounted copy: the resolver
# reads the file at every lookup; rewritten in place, never replaced, so the mount holds).
hosts_point() { printf '127.0.0.1 localhost\n::1 localhost\n%s vpn.tund.test\n' "$1" >"$W/hosts"; }
hosts_point 198.51.100.1
chmod 0644 "$W/hosts"
cns mount --bind "$W/hosts" /etc/hosts || { fail setup "cannot bind-mount the hosts copy"; exit 1; }
check hosts_name_resolves bash -c "cns getent ahostsv4 vpn.tund.test | grep -q '^198.51.100.1 '"
# the server keeps a second address when its first goes (else the kernel drops them together)
sns sysctl -qw net.ipv4.conf.all.promote_secondaries=1 net.ipv4.conf.eth0.promote_secondaries=1

e2e_default_route
e2e_helper_start "--reresolve-after=$RERESOLVE" "--stale-after=$STALE" || { fail setup "helper"; exit 1; }

# ============ the session that roams: a full tunnel with a kill switch, to a host name ============
echo "--- up"
e2e_profile roam "" "0.0.0.0/0, ::/0" "KillSwitch = yes"
sed -i 's/^Endpoint = .*/Endpoint = vpn.tund.test:51820/' "$W/etc/roam.conf"
if up roam; then pass roam_up; else fail roam_up "not ready or no traffic"; fi
check helper_took_test_options bash -c "! grep -iE 'unrecognized|unknown option|invalid option' '$W/helper.log'"
check roam_via_tunnel bash -c "ip -n $RNS route get 203.0.113.77 | grep -q 'dev tund-roam'"
# quiet as a kernel WireGuard device: no IPv6 link-local address, no multicast
check roam_tun_no_link_local bash -c "[ -z \"\$(ip -n $RNS -6 addr show dev tund-roam scope link)\" ]"
check roam_tun_no_multicast bash -c "! ip -n $RNS link show dev tund-roam | grep -q MULTICAST"
check roam_endpoint_before sess_endpoint_is roam 198.51.100.1:51820
check roam_exclusion_before bash -c "[ \"\$(throws)\" = '198.51.100.1 ' ]"
check roam_killswitch_before bash -c "ks_spec roam | grep -qx 'endpoint 198.51.100.1/32 51820'"
PIDS0=$(pids_of roam)
echo "pids (shim helper tunnel engine): $PIDS0"
check roam_pids_known bash -c "[ \$(wc -w <<<'$PIDS0') = 4 ]"
pinger_start

# ============ stale: the server's port is dropped, then let through again ============
echo "--- stale"
check stale_before_running until_ok 30 sess_state_is roam running
check stale_before_traffic until_ok 30 tun_ping
M=$(log_mark)
sns nft -f - <<'NFT'
table inet tundtroam {
	chain in {
		type filter hook input priority -10; policy accept;
		udp dport 51820 counter drop
	}
}
NFT
on_exit_do "sns nft delete table inet tundtroam"
check stale_drop_bites tun_dead
check stale_drop_counts bash -c "sns nft list table inet tundtroam | grep -Eq 'counter packets [1-9]'"
if until_ok 60 text_state_is roam stale; then pass stale_text; else fail stale_text "$(ctl status 2>&1 | tr '\n' ' ')"; fi
check stale_json sess_state_is roam stale
if until_ok 20 notify_stale roam; then pass stale_notify; else fail stale_notify "STATUS=$(last_status roam)"; fi
check stale_logged bash -c "tail -n +$((M + 1)) '$W/helper.log' | grep -iq 'stale'"
# one transition: a session that flaps (stale, running, stale) while nothing answers it says so
# here; what the server heard decides whether it was the peer's passive keepalive (below)
one_line stale_one_transition stale
sns nft delete table inet tundtroam
if until_ok 60 text_state_is roam running; then pass stale_back_running_text; else
	fail stale_back_running_text "$(ctl status 2>&1 | tr '\n' ' ')"
fi
check stale_back_running_json sess_state_is roam running
if until_ok 20 notify_not_stale roam; then pass stale_back_notify; else fail stale_back_notify "STATUS=$(last_status roam)"; fi
check stale_running_again_logged bash -c "tail -n +$((M + 1)) '$W/helper.log' | grep -iq 'running again'"
one_line stale_running_again_one_line 'running again'
# The tunnel says nothing of its own to the server (a full tunnel routes ff02::/16 there too):
# a router solicitation or MLD report from a link-local address would re-arm the server's
# passive keepalive, whose packet then reads as an answer in the middle of an outage.
if grep -q 'disallowed source' "$W/server-wg.log"; then
	fail stale_server_heard_no_junk "$(grep -c 'disallowed source' "$W/server-wg.log") packet(s) from a source it does not allow"
else pass stale_server_heard_no_junk; fi
check stale_traffic tun_ping
same stale_no_restart "$PIDS0" "$(pids_of roam)"

# ============ sleep: logind's PrepareForSleep on the private system bus ============
echo "--- sleep"
# So far the bus has had no logind: the helper started without one, quietly.
check sleep_no_logind_error bash -c "! grep -iE 'login1|logind|PrepareForSleep' '$W/helper.log' | grep -iE 'error|fail|cannot'"
check sleep_helper_alive kill -0 "$(e2e_child_pid "$HELPER_PID")"
# The bus policy (lib-resolved.sh) lets no one own org.freedesktop.login1: the daemon re-reads a
# copy that does (bind-mounted over its config inside the namespace: lib-resolved's file stays
# as it is), also allowing root to monitor the bus.
sed 's|</busconfig>|  <policy user="root">\
    <allow own="org.freedesktop.login1"/>\
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>\
  </policy>\
  <policy context="default">\
    <allow send_destination="org.freedesktop.login1"/>\
    <allow receive_sender="org.freedesktop.login1"/>\
  </policy>\
</busconfig>|' "$RESOLVED_DIR/bus.conf" >"$W/bus-login1.conf"
if ! cns mount --bind "$W/bus-login1.conf" "$RESOLVED_DIR/bus.conf" ||
	! rbusctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig >/dev/null; then
	fail sleep_bus_policy "could not reload the bus with the login1 policy"
fi
nsenter -t "$RNS_PID" -n -m -p -- timeout 60 busctl monitor \
	--match "type='signal',interface='org.freedesktop.login1.Manager',member='PrepareForSleep'" \
	>"$W/bus-monitor.log" 2>&1 &
T_PIDS+=($!)
mkfifo "$W/logind.in"
nsenter -t "$RNS_PID" -n -m -p -- "$FAKE_LOGIND" <"$W/logind.in" >"$W/logind.out" 2>"$W/logind.err" &
LOGIND=$!
T_PIDS+=("$LOGIND")
exec 7>"$W/logind.in"
on_exit_do "exec 7>&-"
logind_on_bus() {
	[ "$(rbusctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
		NameHasOwner s org.freedesktop.login1 2>/dev/null)" = "b true" ]
}
export -f logind_on_bus
if until_ok 10 logind_on_bus; then pass sleep_fake_logind_on_bus; else fail sleep_fake_logind_on_bus "$(cat "$W/logind.err")"; fi
ok_lines() { [ "$(grep -cx ok "$W/logind.out")" -ge "$1" ]; }
sleep 1 # the monitor subscribes
M=$(log_mark)
echo sleep >&7
check sleep_emitted until_ok 10 ok_lines 1
sleep 1 # the host sleeps here
echo wake >&7
check wake_emitted until_ok 10 ok_lines 2
check sleep_signals_on_bus until_ok 10 bash -c "grep -A4 'Member=PrepareForSleep' '$W/bus-monitor.log' | grep -q 'BOOLEAN true' &&
	grep -A4 'Member=PrepareForSleep' '$W/bus-monitor.log' | grep -q 'BOOLEAN false'"
if until_ok 20 log_since_has "$M" 'resume from sleep.*rebinding'; then pass sleep_resume_rebind_logged; else
	fail sleep_resume_rebind_logged "$(log_since "$M" | tail -n 5 | tr '\n' ' ')"
fi
sleep 2 # any further rebind would be logged by now
N=$(log_since "$M" | grep -ciE 'resume from sleep.*rebinding')
echo "sleep: $N helper rebind line(s) for one sleep/wake; tunnel: $(log_since "$M" | grep -ci 'rebind (')"
check sleep_one_rebind test "$N" = 1
check sleep_tunnel_rebound bash -c "tail -n +$((M + 1)) '$W/helper.log' | grep -iq 'rebind ('"
if until_ok 30 tun_ping; then pass sleep_traffic_after_wake; else fail sleep_traffic_after_wake "no answer"; fi
check sleep_still_running sess_state_is roam running
same sleep_no_restart "$PIDS0" "$(pids_of roam)"
exec 7>&-
wait "$LOGIND"
check fake_logind_exits_0_on_eof test $? = 0

# ============ name: the endpoint's name moves to a new address ============
echo "--- name"
check name_before_traffic until_ok 30 tun_ping
M=$(log_mark)
# The server answers on 198.51.100.3 from now on, and no longer on .1; the name follows.
sns ip addr add 198.51.100.3/24 dev eth0
hosts_point 198.51.100.3
sns ip addr del 198.51.100.1/24 dev eth0
check name_server_kept_new_address bash -c "ip -n $SRV -4 addr show dev eth0 | grep -q 'inet 198.51.100.3/24'"
check name_hosts_now_new bash -c "cns getent ahostsv4 vpn.tund.test | grep -q '^198.51.100.3 '"
if until_ok 90 sess_endpoint_is roam 198.51.100.3:51820; then pass name_endpoint_moved; else
	fail name_endpoint_moved "$(sess roam); $(log_since "$M" | tail -n 5 | tr '\n' ' ')"
fi
if until_ok 60 tun_ping; then pass name_traffic_resumes; else fail name_traffic_resumes "no answer through the tunnel"; fi
check name_moved_logged bash -c "tail -n +$((M + 1)) '$W/helper.log' | grep -i 'moved from' | grep -q '198.51.100.1.*198.51.100.3'"
check name_exclusion_swapped bash -c "[ \"\$(throws)\" = '198.51.100.3 ' ]"
# The kill switch lets the new address through; a host name's earlier addresses stay allowed
# (tund.conf(5): its lookup may fail while the switch holds), so the old one may stay too.
check name_killswitch_spec bash -c "ks_spec roam | grep -qx 'endpoint 198.51.100.3/32 51820'"
check name_killswitch_table bash -c "cns nft list table inet tund | grep -q 'daddr 198.51.100.3 udp dport 51820 accept'"
echo "name: the kill switch's endpoints: $(ks_spec roam | grep '^endpoint' | tr '\n' ';')"
check name_one_ready bash -c "[ \$(grep -c READY=1 '$W/notify-roam') = 1 ]"
same name_no_restart "$PIDS0" "$(pids_of roam)"
echo "name: $(log_since "$M" | grep -ciE 'resolv|moved from') re-resolve/move lines in the log"

pinger_stop
down roam roam_stop_exit_0
check roam_stop_leaves_no_exclusion bash -c "[ -z \"\$(throws)\" ]"

# what ExecStopPost= does after a deliberate stop: the kill switch goes
check roam_stop_cleanup cns env SERVICE_RESULT=success "$B/tund-netshimd" --config-dir "$W/etc" --cleanup roam
check roam_stop_killswitch_gone bash -c "! cns nft list table inet tund"

# ============ path: the default route moves to a second link ============
echo "--- path"
# The endpoint is on the server's loopback, reached through the client's default route (not on
# a link): path A is eth0 (198.51.100.0/24, the gateway .1 is back), path B a second veth pair
# (198.51.100.128/25: more specific than A's /24 on both sides).
sns ip addr add 198.51.100.1/24 dev eth0
sns ip addr add 203.0.113.250/32 dev lo
vc="tvc2$$" vs="tvs2$$"
if ! { ip link add "${vc:0:15}" type veth peer name "${vs:0:15}" &&
	ip link set "${vc:0:15}" netns "$RNS" && ip link set "${vs:0:15}" netns "$SRV" &&
	ip -n "$RNS" link set "${vc:0:15}" name eth1 && ip -n "$SRV" link set "${vs:0:15}" name eth1 &&
	ip -n "$RNS" addr add 198.51.100.130/25 dev eth1 && ip -n "$SRV" addr add 198.51.100.129/25 dev eth1 &&
	ip -n "$RNS" link set eth1 up && ip -n "$SRV" link set eth1 up; }; then
	fail path_setup "second veth pair"
fi
check path_b_link_works cns ping -n -c 1 -W 2 -I eth1 198.51.100.129
check path_endpoint_via_default bash -c "ip -n $RNS route get 203.0.113.250 | grep -q 'via 198.51.100.1 dev eth0'"
e2e_profile path "" "0.0.0.0/0, ::/0"
sed -i 's/^Endpoint = .*/Endpoint = 203.0.113.250:51820/' "$W/etc/path.conf"
if up path; then pass path_up; else fail path_up "not ready or no traffic"; fi
check path_endpoint_before sess_endpoint_is path 203.0.113.250:51820
check path_server_sees_a bash -c "sns wg show $SIF endpoints | grep -q '198.51.100.2:'"
PIDS0=$(pids_of path)
pinger_start
sleep 2 # let any event of the session's own start settle
M=$(log_mark)
# One change: the default route now goes through B, and A dies at the far end (the client keeps
# its address on A, whose link only loses carrier). (Debian's wireguard-go follows an IPv4 route
# move by itself here: its IPv4 source is not pinned, so traffic resuming proves no rebind; the
# log does. IPv6, below, pins it.)
ip -n "$RNS" route replace default via 198.51.100.129 dev eth1 && ip -n "$SRV" link set eth0 down
check path_endpoint_via_b bash -c "ip -n $RNS route get 203.0.113.250 | grep -q 'via 198.51.100.129 dev eth1'"
check path_a_dead bash -c "! cns ping -n -c 1 -W 1 -I eth0 198.51.100.1"
if until_ok 60 tun_ping; then pass path_traffic_resumes; else fail path_traffic_resumes "no answer through the tunnel"; fi
check path_server_sees_b bash -c "sns wg show $SIF endpoints | grep -q '198.51.100.130:'"
if until_ok 20 log_since_has "$M" 'network change.*rebinding'; then pass path_rebind_logged; else
	fail path_rebind_logged "$(log_since "$M" | tail -n 5 | tr '\n' ' ')"
fi
sleep 2 # any further rebind would be logged by now
N=$(log_since "$M" | grep -ciE 'network change.*rebinding')
echo "path: $N helper rebind line(s) for one change; tunnel: $(log_since "$M" | grep -ci 'rebind (')"
log_since "$M" | grep -i rebind | head -n 10
check path_one_rebind test "$N" = 1
same path_no_restart "$PIDS0" "$(pids_of path)"
pinger_stop
down path path_stop_exit_0

# ============ path6: the IPv6 default route moves while the old path still works ============
# wireguard-go pins an IPv6 source address (the one its peer's packets came to) and keeps sending
# from it, through whatever route, until a send fails or a handshake goes unanswered for 15 s.
# With the old path alive nothing fails: only a rebind (endpoints set again, which forgets the
# source) makes the server see the client come from path B.
echo "--- path6"
sns ip link set eth0 up
sns ip addr replace 2001:db8:ff::1/64 dev eth0 nodad
sns ip addr add 2001:db8:fe::1/64 dev eth1 nodad
sns ip addr add 2001:db8:e::1/128 dev lo
ip -n "$RNS" addr add 2001:db8:fe::2/64 dev eth1 nodad
ip -n "$RNS" -6 route replace default via 2001:db8:ff::1 dev eth0
check path6_b_link_works until_ok 10 cns ping -6 -n -c 1 -W 1 -I eth1 2001:db8:fe::1
check path6_endpoint_via_a until_ok 10 bash -c "ip -n $RNS -6 route get 2001:db8:e::1 | grep -q 'via 2001:db8:ff::1 dev eth0'"
e2e_profile path6 "" "0.0.0.0/0, ::/0"
sed -i 's/^Endpoint = .*/Endpoint = [2001:db8:e::1]:51820/' "$W/etc/path6.conf"
if up path6; then pass path6_up; else fail path6_up "not ready or no traffic"; fi
check path6_endpoint_before sess_endpoint_is path6 '[2001:db8:e::1]:51820'
check path6_exclusion bash -c "ip -n $RNS -6 route show table all | grep -Eq '^throw 2001:db8:e::1 .*proto (tund|116)'"
check path6_server_sees_a until_ok 10 bash -c "sns wg show $SIF endpoints | grep -qF '[2001:db8:ff::2]:'"
PIDS0=$(pids_of path6)
pinger_start
sleep 2
M=$(log_mark)
ip -n "$RNS" -6 route replace default via 2001:db8:fe::1 dev eth1
check path6_endpoint_via_b bash -c "ip -n $RNS -6 route get 2001:db8:e::1 | grep -q 'via 2001:db8:fe::1 dev eth1'"
check path6_a_still_works cns ping -6 -n -c 1 -W 2 -I eth0 2001:db8:ff::1
if until_ok 30 bash -c "sns wg show $SIF endpoints | grep -qF '[2001:db8:fe::2]:'"; then pass path6_server_sees_b; else
	fail path6_server_sees_b "the server still sees $(sns wg show "$SIF" endpoints | cut -f2 | tr '\n' ' ')"
fi
check path6_traffic tun_ping
if until_ok 20 log_since_has "$M" 'network change.*rebinding'; then pass path6_rebind_logged; else
	fail path6_rebind_logged "$(log_since "$M" | tail -n 5 | tr '\n' ' ')"
fi
sleep 2
N=$(log_since "$M" | grep -ciE 'network change.*rebinding')
echo "path6: $N helper rebind line(s) for one change"
check path6_one_rebind test "$N" = 1
# NetworkManager's hook runs `tundctl rebind --all` right after the very change the helper saw:
# the change is acted on once, not twice (whichever comes first, the helper's settle timer or
# the hook's request).
M=$(log_mark)
ip -n "$RNS" -6 route replace default via 2001:db8:ff::1 dev eth0
check hook_rebind_ok ctl rebind --all --coalesce
if until_ok 20 log_since_has "$M" 'tunnel: rebind \(network change\)'; then pass hook_change_rebound; else
	fail hook_change_rebound "$(log_since "$M" | tail -n 5 | tr '\n' ' ')"
fi
sleep 2
echo "hook: $(log_since "$M" | grep -c 'tunnel: rebind (') tunnel rebind(s) for one change and a tundctl rebind"
log_since "$M" | grep -i rebind | head -n 10
if [ "$(log_since "$M" | grep -c 'tunnel: rebind (')" = 1 ]; then pass hook_not_twice; else
	fail hook_not_twice "$(log_since "$M" | grep -v 'engine\[' | tail -n 15 | tr '\n' ' ')"
fi
if log_since "$M" | grep -q 'rebound for this network change already'; then pass hook_said_so; else
	fail hook_said_so "$(log_since "$M" | tail -n 5 | tr '\n' ' ')"
fi
same path6_no_restart "$PIDS0" "$(pids_of path6)"
pinger_stop
down path6 path6_stop_exit_0
