# The kill switch at boot (issue 18), in a boot of its own: sourced by system-test.sh at its
# end, after the first boot is done (its helpers and variables are in scope: W, DEB, SYS,
# overlay, in_tree, veth, wg_server, show, cx, check, elapsed). A switch would block the first
# boot's tunnels too, so it gets a third overlay and a network of its own:
#   the container (KNS): eth0 198.51.102.2/24, 2001:db8:102::2/64, default routes via the world;
#   the world (WNS): eth0 198.51.102.1/24, 2001:db8:102::1/64 -- the underlay, the profile's
#   endpoint, and later its wireguard-go peer (10.78.0.1, fd78::1 behind the tunnel); an
#   nf_tables counter of its own there counts everything that arrives from the container but
#   WireGuard (UDP to 51820 of at least 40 bytes), DHCP, neighbour discovery and multicast
#   membership reports (MLD, which the switch lets out, and IGMP, counted apart): the leaks.
# One profile, ks (KillSwitch = yes, full tunnel), enabled before boot; the peer is not
# started. Then: the switch is set before network-pre.target; nothing leaks while the tunnel
# has no handshake; a profile that fails for good keeps the switch (and tundctl says it holds
# without a session); once the peer runs the tunnel passes traffic and still nothing leaks; a
# SIGKILLed shim keeps the switch while it restarts; `systemctl stop tund@ks` lifts it; so
# does a purge.
need nft nftables
elapsed "kill switch boot: start"
"$SYS/nspawn-down.sh" "$NAME" "$NP" # one system at a time

overlay ks || { fail ks_boot "overlay mount failed"; return; }
K=$OVL
cp "$DEB" "$K/tmp/tund.deb"
in_tree "$K" dpkg -i /tmp/tund.deb >"$W/ks-dpkg-i.log" 2>&1 || { fail ks_boot "dpkg -i: $(tail -n 3 "$W/ks-dpkg-i.log")"; return; }
rm -f "$K/tmp/tund.deb"

KNS=$(ns_add sysk) && WNS=$(ns_add sysw) || { fail ks_boot "namespaces"; return; }
CNS=$KNS veth "$WNS" eth0 198.51.102 &&
	ip -n "$KNS" addr add 2001:db8:102::2/64 dev eth0 nodad && ip -n "$WNS" addr add 2001:db8:102::1/64 dev eth0 nodad &&
	ip -n "$KNS" route add default via 198.51.102.1 && ip -n "$KNS" -6 route add default via 2001:db8:102::1 ||
	{ fail ks_boot "veth"; return; }
# The leak counter (and what leaked, by protocol and destination), from before the boot.
ip netns exec "$WNS" nft -f - <<'NFT' 2>"$W/ks-nft.log" || { fail ks_boot "the world's counter: $(tr '\n' ' ' <"$W/ks-nft.log")"; return; }
table inet tsysleak {
	counter leaked { }
	counter wg { }
	counter igmpreports { }
	set seen4 { type inet_proto . ipv4_addr; flags dynamic; }
	set seen6 { type inet_proto . ipv6_addr; flags dynamic; }
	chain pre {
		type filter hook prerouting priority -400; policy accept;
		iifname != "eth0" accept
		udp dport 51820 udp length >= 40 counter name "wg" accept
		udp dport { 67, 547 } accept
		icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept
		meta l4proto igmp counter name "igmpreports" accept
		meta nfproto ipv4 add @seen4 { meta l4proto . ip daddr }
		meta nfproto ipv6 add @seen6 { meta l4proto . ip6 daddr }
		counter name "leaked"
	}
}
NFT
leaked() { ip netns exec "$WNS" nft list counter inet tsysleak "${1:-leaked}" | awk '{for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}'; }
what_leaked() { local f; for f in seen4 seen6; do ip netns exec "$WNS" nft list set inet tsysleak $f | tr -d '\n\t' | grep -o 'elements = {[^}]*}'; done; }
# no_leak: nothing more arrived from the container since the last leak_mark
leak_mark() { leak_base=$(leaked); }
no_leak() { local n; n=$(leaked); [ "$n" = "$leak_base" ] || { echo "$((n - leak_base)) packets leaked (protocol . destination, since the start: $(what_leaked))"; return 1; }; }
leak_base=0
ks_table() { nsenter -t "$L" -n nft list table inet tund; } # the container's, with this machine's nft
export -f ks_table

KSKEY=$(wg genkey) KCKEY=$(wg genkey)
KSPUB=$(echo "$KSKEY" | wg pubkey) KCPUB=$(echo "$KCKEY" | wg pubkey)
KSIF="tkw$$"
KSIF=${KSIF:0:15}
cat >"$K/etc/tund/ks.conf" <<CONF
# system test profile: full tunnel with a kill switch
[Interface]
PrivateKey = $KCKEY
Address = 10.78.0.2/32, fd78::2/128

[Peer]
PublicKey = $KSPUB
Endpoint = 198.51.102.1:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25

[Tund]
InterfaceName = tund-ks
KillSwitch = yes
CONF
chmod 0600 "$K/etc/tund/ks.conf"
in_tree "$K" systemctl enable tund@ks.service >"$W/ks-enable.log" 2>&1 ||
	{ fail ks_boot "systemctl enable tund@ks: $(cat "$W/ks-enable.log")"; return; }
sed 's/^/    enable: /' "$W/ks-enable.log"
check ks_enable_also_switch bash -c "test -L '$K/etc/systemd/system/multi-user.target.wants/tund@ks.service' &&
	test -L '$K/etc/systemd/system/multi-user.target.wants/tund-killswitch@ks.service'"

# What must not get out (or in) while the switch holds, all at once, as ordinary processes:
# root's pings to the underlay and elsewhere, UDP from nobody, root (to the endpoint itself)
# and the engine's user (to another port), TCP, DNS over UDP and TCP (timed: rejected at once).
cat >"$K/usr/local/sbin/tsys-ks-probe" <<'PROBE'
#!/bin/bash
U=198.51.102.1 U6=2001:db8:102::1
Q='\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01'
as() { local u=$1 g=$2; shift 2; setpriv --reuid "$u" --regid "$g" --clear-groups "$@"; } # USER GROUP CMD...
res() { if "${@:2}" >/dev/null 2>&1; then echo "$1 got-through"; else echo "$1 blocked"; fi; }
dns() { # tcp|udp
	local t=$(date +%s%N) out rc=0
	out=$(as nobody nogroup timeout 3 bash -c 'exec 3<>/dev/$1/$2/53 && printf "$3" >&3 && read -r -t 2 -u 3 x' sh "$1" $U "$Q" 2>&1) || rc=$?
	echo "dns_$1 $([ $rc = 0 ] && echo got-through || echo blocked) $((($(date +%s%N) - t) / 1000000)) ms rc $rc: $(echo $out)"
}
res ping_underlay ping -n -c 1 -W 1 $U &
res ping_other ping -n -c 1 -W 1 203.0.113.9 &
res ping6_underlay ping -6 -n -c 1 -W 1 $U6 &
res ping6_other ping -6 -n -c 1 -W 1 2001:db8:ffff::9 &
res udp_nobody as nobody nogroup bash -c "echo leak >/dev/udp/$U/9" &
res udp_root_to_endpoint bash -c "echo leak >/dev/udp/$U/51820" &
res udp_engine_other_port as tund-engine tund-engine bash -c "echo leak >/dev/udp/$U/9" &
res tcp_nobody as nobody nogroup timeout 1 bash -c "exec 3<>/dev/tcp/$U/22" &
dns udp &
dns tcp &
wait
PROBE
chmod 0755 "$K/usr/local/sbin/tsys-ks-probe"
ks_probe() { # PHASE: the probe, and pings into the container from the world, in $W/ks-probe-PHASE
	local p=() # (wait for these only: the shell's other children are the peers and containers)
	{
		cx /usr/local/sbin/tsys-ks-probe &
		p+=($!)
		{ ip netns exec "$WNS" ping -n -c 1 -W 1 198.51.102.2 >/dev/null 2>&1 && echo "inbound_ping got-through" || echo "inbound_ping blocked"; } &
		p+=($!)
		{ ip netns exec "$WNS" ping -6 -n -c 1 -W 1 2001:db8:102::2 >/dev/null 2>&1 && echo "inbound_ping6 got-through" || echo "inbound_ping6 blocked"; } &
		p+=($!)
		wait "${p[@]}"
	} >"$W/ks-probe-$1" 2>&1
	sed "s/^/    probe $1: /" "$W/ks-probe-$1"
	echo "    probe $1: the switch's drop counters (input output forward): $(ks_table 2>/dev/null | grep -o 'counter packets [0-9]*' | awk '{printf "%s ", $3}')"
}
ks_checks() { # PHASE: nothing got through, DNS failed at once, nothing arrived in the world since leak_mark
	check "ks_${1}_probes_blocked" bash -c "! grep -v ' blocked' '$W/ks-probe-$1'"
	check "ks_${1}_dns_rejected_fast" bash -c "[ \$(grep -c -i -E '^dns_(udp|tcp) blocked [0-9]{1,3} ms rc [0-9]+: .*(refused|not permitted)' '$W/ks-probe-$1') = 2 ]"
	check "ks_${1}_no_leak" no_leak
}

# --- the boot: the switch is set before network-pre.target; the peer is down ---
KNAME="tsysk$$"
"$SYS/nspawn-boot.sh" "$KNAME" "$K" --network-namespace-path="/run/netns/$KNS" \
	--capability=CAP_NET_ADMIN >"$W/ks-console.log" 2>&1 &
KNP=$!
on_exit_do "'$SYS/nspawn-down.sh' '$KNAME' '$KNP'"
L=
for _ in $(seq 200); do
	L=$(ps --ppid "$KNP" -o pid=,comm= | awk '$2 == "systemd" {print $1; exit}')
	[ -n "$L" ] && break
	kill -0 "$KNP" 2>/dev/null || break
	sleep 0.05
done
[ -n "$L" ] || { fail ks_boot "no systemd in the container: $(tail -n 5 "$W/ks-console.log" | tr '\n' ' ')"; return; }
wait_for 20 cx test -S /run/systemd/private
state=$(cx timeout 60 systemctl is-system-running --wait 2>&1)
elapsed "kill switch boot: booted ($state)"
if [ "$state" = running ]; then pass ks_boot; else
	fail ks_boot "state $state: $(cx systemctl --failed --no-legend 2>&1 | tr '\n' ' ')"
fi
check ks_switch_unit_active_exited test "$(show tund-killswitch@ks.service ActiveState)/$(show tund-killswitch@ks.service SubState)/$(show tund-killswitch@ks.service Result)" = active/exited/success
ks_t=$(show tund-killswitch@ks.service ActiveEnterTimestampMonotonic)
pre_t=$(show network-pre.target ActiveEnterTimestampMonotonic)
echo "monotonic: tund-killswitch@ks started $(show tund-killswitch@ks.service ExecMainStartTimestampMonotonic), active $ks_t, network-pre.target $pre_t, tund@ks started $(show tund@ks.service ExecMainStartTimestampMonotonic); systemd-resolved started $(show systemd-resolved.service ExecMainStartTimestampMonotonic)"
check ks_switch_before_network_pre bash -c "cx systemctl show -P Before tund-killswitch@ks.service | grep -qw network-pre.target &&
	[ '$(show network-pre.target ActiveState)' = active ] && [ 0 -lt '$ks_t' ] && [ '$ks_t' -le '$pre_t' ]"
cx journalctl -b --no-pager -o cat | grep -i -E 'ordering cycle|to break ordering|deleted to break' >"$W/ks-cycles.log"
sed 's/^/    journal: /' "$W/ks-cycles.log"
check ks_no_ordering_cycle test ! -s "$W/ks-cycles.log"
cx systemd-analyze verify --man=no tund-killswitch@ks.service tund@ks.service >"$W/ks-verify.log" 2>&1
sed 's/^/    systemd-analyze verify: /' "$W/ks-verify.log"
check ks_units_verify bash -c "! grep -i -E 'cycle|tund' '$W/ks-verify.log'"
ks_table >"$W/ks-table.txt" 2>&1
sed 's/^/    nft: /' "$W/ks-table.txt"
check ks_table_at_boot bash -c "for c in input output forward; do grep -q \"chain \$c {\" '$W/ks-table.txt' || exit 1; done &&
	[ \$(grep -c 'policy drop;' '$W/ks-table.txt') = 3 ] &&
	grep -q 'chain ks-ks-in {' '$W/ks-table.txt' && grep -q 'chain ks-ks-out {' '$W/ks-table.txt' && grep -q 'chain ks-ks-fwd {' '$W/ks-table.txt'"
check ks_spec_file bash -c "[ \"\$(cx stat -c '%a %U' /run/tund/killswitch/ks.ks)\" = '644 tund-netshim' ] &&
	cx grep -qx 'endpoint 198.51.102.1/32 51820' /run/tund/killswitch/ks.ks"
# The shim is ready once the tunnel runs, handshake or not: with the peer down it is active
# and says it waits for one.
echo "    tund@ks: $(show tund@ks.service ActiveState)/$(show tund@ks.service SubState): $(show tund@ks.service StatusText)"
check ks_peer_down_no_handshake bash -c "! cx ping -n -c 1 -W 1 10.78.0.1 >/dev/null &&
	cx systemctl show -P StatusText tund@ks.service | grep -Eq 'no handshake|waiting for the first handshake'"
# What arrived in the world during the boot, also before the switch was set (the veth has its
# addresses and routes from the start: as if something configured the network before
# network-pre.target).
check ks_boot_no_leak_before_probes no_leak
echo "    IGMP reports from the container during the boot: $(leaked igmpreports)"
leak_mark
ks_probe boot
ks_checks boot
cx tundctl status --json >"$W/ks-status-boot.json" 2>&1
# shellcheck disable=SC2016 # $names in the jq program are jq's
jcheck ks_boot_status_session_switch "$W/ks-status-boot.json" '([.sessions[] | {(.profile): .}] | add) as $s |
	$s.ks.applied.kill_switch == true and .kill_switches == [{"profile": "ks", "session": true}]'
elapsed "kill switch boot: boot checked"

# --- a profile that fails for good (its mode is wrong: exit 78, no restart) keeps the switch ---
leak_mark
cx chmod 0644 /etc/tund/ks.conf
cx systemctl kill -s KILL tund@ks.service
ks_failed() { [ "$(cx systemctl show -P ActiveState tund@ks.service)" = failed ]; }
if wait_for 15 ks_failed && [ "$(show tund@ks.service ExecMainStatus)" = 78 ]; then pass ks_failed_for_good; else
	fail ks_failed_for_good "$(cx systemctl status --no-pager tund@ks 2>&1 | tail -n 6 | tr '\n' ' ')"
fi
check ks_failed_keeps_switch bash -c "ks_table | grep -q 'chain ks-ks-out {' && cx test -e /run/tund/killswitch/ks.ks &&
	! cx ip link show tund-ks >/dev/null 2>&1 && [ -z \"\$(cx ip route show table all proto tund)\" ]"
cx journalctl --no-pager -o cat -u tund@ks.service | grep -i 'kill switch' | sed 's/^/    journal: /'
ks_probe failed
ks_checks failed
cx tundctl status >"$W/ks-status-failed.txt" 2>&1
sed 's/^/    tundctl status: /' "$W/ks-status-failed.txt"
check ks_status_holds_without_session grep -q 'kill switch of ks holds without a session' "$W/ks-status-failed.txt"
cx tundctl status --json >"$W/ks-status-failed.json" 2>&1
jcheck ks_status_json_holds_without_session "$W/ks-status-failed.json" '(.sessions // []) == [] and
	.kill_switches == [{"profile": "ks", "session": false}]'
elapsed "kill switch boot: failure checked"

# --- the peer comes up: the tunnel passes traffic, nothing else gets out ---
leak_mark
cx chmod 0600 /etc/tund/ks.conf
wg_server "$WNS" "$KSIF" "$KSKEY" "$KCPUB" 10.78.0.2/32,fd78::2/128 10.78.0.1/24 fd78::1/64
peer_t=$(date +%s)
ks_ping() { cx ping -n -c 1 -W 1 10.78.0.1 >/dev/null && cx ping -6 -n -c 1 -W 1 fd78::1 >/dev/null; }
export -f ks_ping
cx systemctl reset-failed tund@ks.service
if cx systemctl start tund@ks.service && wait_for 30 ks_ping; then
	pass ks_peer_up_tunnel_works
	echo "    tunnel passes traffic $(($(date +%s) - peer_t)) s after the peer started"
else
	fail ks_peer_up_tunnel_works "$(cx systemctl status --no-pager tund@ks 2>&1 | tail -n 8 | tr '\n' ' ')"
fi
check ks_up_route_via_tunnel bash -c "cx ip route get 203.0.113.9 | grep -q 'dev tund-ks' && cx ip -6 route get 2001:db8:ffff::9 | grep -q 'dev tund-ks'"
check ks_up_engine_udp_allowed test "$(leaked wg)" -gt 0
ks_probe up
ks_checks up
cx tundctl status --json >"$W/ks-status-up.json" 2>&1
# shellcheck disable=SC2016 # $names in the jq program are jq's
jcheck ks_up_status_session_switch "$W/ks-status-up.json" '([.sessions[] | {(.profile): .}] | add) as $s |
	$s.ks.state == "running" and $s.ks.applied.kill_switch == true and
	.kill_switches == [{"profile": "ks", "session": true}]'
elapsed "kill switch boot: tunnel checked"

# --- a SIGKILLed shim: the switch holds while Restart=on-failure brings the tunnel back ---
leak_mark
restarts=$(show tund@ks.service NRestarts)
cx systemctl kill -s KILL tund@ks.service
ks_restarting() { [ "$(cx systemctl show -P SubState tund@ks.service)" = auto-restart ]; }
ks_back() {
	[ "$(cx systemctl show -P NRestarts tund@ks.service)" -gt "$restarts" ] &&
		[ "$(cx systemctl is-active tund@ks.service)" = active ] && ks_ping
}
export restarts
export -f ks_restarting ks_back
wait_for 10 ks_restarting
check ks_kill_keeps_switch bash -c "ks_table | grep -q 'chain ks-ks-out {'"
ks_probe killed
ks_checks killed
if wait_for 30 ks_back; then pass ks_kill_recovered; else
	fail ks_kill_recovered "$(cx journalctl --no-pager -n 15 -u tund@ks 2>&1 | tr '\n' ' ')"
fi
check ks_kill_recovered_no_leak no_leak
elapsed "kill switch boot: SIGKILL checked"

# --- systemctl restart keeps it: the stop half's cleanup sees a restart job, not a stop ---
ks_watch_gap() { # until $W/ks-restart-done exists: a line per moment without the table
	while [ ! -e "$W/ks-restart-done" ]; do
		ks_table >/dev/null 2>&1 || echo "no table at $(date +%s.%N)"
		sleep 0.02
	done >"$W/ks-restart-gaps"
}
ks_watch_gap &
gap_pid=$!
T_PIDS+=("$gap_pid")
if cx systemctl restart tund@ks.service; then pass ks_restart_runs; else fail ks_restart_runs "systemctl restart failed"; fi
touch "$W/ks-restart-done"
wait "$gap_pid"
check ks_restart_no_gap bash -c "! grep . '$W/ks-restart-gaps'"
check ks_restart_logged bash -c "cx journalctl --no-pager -u tund@ks | grep -q 'stays in force across the restart'"
cx journalctl --no-pager -u tund@ks | grep -iE 'kill switch|job|systemd|lift|stopping|restart' | tail -n 30 | sed 's/^/    restart journal: /'
check ks_restart_tunnel_works wait_for 15 ks_ping

# --- a deliberate stop lifts it: the underlay answers again, and the counter sees it ---
if cx systemctl stop tund@ks.service && ! ks_table >/dev/null 2>&1; then pass ks_stop_lifts_switch; else
	fail ks_stop_lifts_switch "$(ks_table 2>&1 | head -n 3 | tr '\n' ' ')"
fi
check ks_stop_removes_spec bash -c '! cx test -e /run/tund/killswitch/ks.ks'
# The probe itself, without a switch: what it sends gets out (and the counter sees it).
ks_probe lifted
check ks_stop_probes_get_through bash -c "[ \$(grep -c -E '^(ping_underlay|ping6_underlay|udp_nobody|udp_root_to_endpoint|udp_engine_other_port|inbound_ping|inbound_ping6) got-through' '$W/ks-probe-lifted') = 7 ]"
check ks_stop_counter_sees_it test "$(leaked)" -gt 0
echo "    after the stop: tund-killswitch@ks $(show tund-killswitch@ks.service ActiveState)/$(show tund-killswitch@ks.service SubState)"

# --- a purge while a switch holds without a session (as at boot, before the tunnel is up)
# lifts it: nothing of tund would be left to ---
cx systemctl restart tund-killswitch@ks.service
check ks_purge_switch_was_set bash -c "ks_table | grep -q 'chain ks-ks-out {'"
if cx env DEBIAN_FRONTEND=noninteractive dpkg --purge tund >"$W/ks-purge.log" 2>&1; then pass ks_purge_runs; else
	fail ks_purge_runs "$(tail -n 5 "$W/ks-purge.log" | tr '\n' ' ')"
fi
check ks_purge_lifts_switch bash -c '! ks_table >/dev/null 2>&1'
check ks_purge_nothing_running bash -c 'u=$(cx systemctl list-units --no-legend --state=active "tund*" 2>&1); [ -z "$u" ] || { echo "$u"; false; }'
echo "--- journal of the kill switch boot's tund units"
cx journalctl --no-pager -o short-monotonic -u 'tund*' | tail -n 40 | sed 's/^/    /'
elapsed "kill switch boot: done"
