# libnetcfg against the kernel: addresses, MTU, routes, full-tunnel rules, idempotence, exact
# revert, invalid input, crash + reconcile, 10,000 routes. Runs in a private network (and
# pid/mount) namespace with its own dbus + systemd-resolved and a TUN link.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-resolved.sh"

TOOL=$B/test/helpers/netcfg-tool
TUNHOLD=$B/test/helpers/tunhold
STATE=/run/tund-t-netcfg.state # inside the namespace's private /run

resolved_ns_start nc || { fail setup "private resolved namespace did not start"; exit 1; }
# `ip ... proto tund`: our rt_protos.d file bind-mounted inside the namespace only.
PROTOS=$RESOLVED_DIR/rt_protos.d
mkdir -p "$PROTOS" && cp /etc/iproute2/rt_protos.d/* "$PROTOS"/ 2>/dev/null
cp "$TOP/data/rt_protos.d/tund.conf" "$PROTOS"/
rns mount --bind "$PROTOS" /etc/iproute2/rt_protos.d

# TUN links: tund-t0 is the tunnel, tund-t1 a second one; tund-lan0 stands in for the physical
# uplink (main default).
rns "$TUNHOLD" tund-t0 >/dev/null &
T_PIDS+=($!)
rns "$TUNHOLD" tund-lan0 >/dev/null &
T_PIDS+=($!)
rns "$TUNHOLD" tund-t1 >/dev/null & # a second tunnel
T_PIDS+=($!)
for l in tund-t0 tund-lan0 tund-t1; do
	wait_for 5 rns test -e /sys/class/net/$l || { fail setup "no TUN link $l"; exit 1; }
done
rns ip link set tund-lan0 up
rns ip route add default dev tund-lan0
IF=tund-t0

# A snapshot of everything libnetcfg may touch; "before == after" means exact revert. The
# qdisc is left out: the kernel attaches the default one the first time a link goes up.
snapshot() {
	rns ip -j addr show | sed 's/"qdisc":"[a-z_]*",//g'
	rns ip -j link show $IF | sed 's/"qdisc":"[a-z_]*",//g'
	for f in -4 -6; do
		rns ip $f -j route show table all
		rns ip $f -j rule show
	done
	resolvectl_ns status $IF
}
tund_routes() { rns ip -4 route show table all proto tund; rns ip -6 route show table all proto tund; }
tund_rules() { rns ip rule show | grep -c '^217[0-9][0-9]:'; rns ip -6 rule show | grep -c '^217[0-9][0-9]:'; }
same_as() { local now; now=$(snapshot 2>&1); [ "$now" = "$1" ] || { diff <(echo "$1") <(echo "$now") | head -n 20; return 1; }; }

# A refusal: the error matches PATTERN and the namespace is as it was (BASELINE).
expect_error_from() { # BASELINE NAME PATTERN ARGS...
	local base=$1 name=$2 pat=$3 out
	shift 3
	if out=$(rns "$TOOL" "$@" 2>&1); then fail "$name" "succeeded: $out"; return; fi
	if ! grep -q -- "$pat" <<<"$out"; then fail "$name" "unclear error: $out"; return; fi
	if ! same_as "$base" >/dev/null; then fail "$name" "namespace changed"; return; fi
	pass "$name"
}
expect_error() { expect_error_from "$BEFORE" "$@"; }

BEFORE=$(snapshot 2>&1)

# --- addresses, MTU, routes ---
SPLIT=(--addr 192.0.2.2/24 --addr 2001:db8::2/64 --mtu 1380
	--route 198.51.100.0/24 --route 203.0.113.0/25 --route 2001:db8:1::/48)
out=$(rns "$TOOL" "${SPLIT[@]}" --state $STATE apply $IF 2>&1)
check apply_reports_counts grep -q 'addresses=2 routes=3 rules=0 table=254' <<<"$out"
check apply_mtu_and_up sh -c "ip netns exec $RNS ip link show $IF | grep -q 'mtu 1380' && ip netns exec $RNS ip link show $IF | grep -q ',UP'"
check apply_addresses sh -c "ip -n $RNS addr show $IF | grep -q 'inet 192.0.2.2/24' && ip -n $RNS addr show $IF | grep -q 'inet6 2001:db8::2/64'"
n_routes_is() { local n; n=$(tund_routes | wc -l); [ "$n" = "$1" ] || { echo "$n routes:"; tund_routes; return 1; }; }
check apply_routes_proto_tund n_routes_is 3
check apply_route_in_main sh -c "ip -n $RNS route get 198.51.100.9 | grep -q 'dev $IF'"
check state_saved rns grep -q '^route 198.51.100.0/24 254 1 ' $STATE
AFTER1=$(snapshot 2>&1)

# --- idempotence: same settings again, from a fresh process and twice in one ---
check apply_again_new_process rns "$TOOL" "${SPLIT[@]}" apply $IF
check apply_twice_same_process rns "$TOOL" "${SPLIT[@]}" --twice apply $IF
check apply_idempotent same_as "$AFTER1"

# --- a changed apply replaces the previous one (same context, via state) ---
check revert_split rns "$TOOL" --state $STATE revert
check revert_exact same_as "$BEFORE"
check revert_again_noop sh -c "! ip netns exec $RNS test -e $STATE"

# --- full tunnel: tund's table and rules, excluded routes honoured, engine exempt ---
FULL=(--addr 192.0.2.2/24 --route 0.0.0.0/0 --route ::/0 --exclude 203.0.113.7/32
	--exclude 2001:db8:ff::/48 --fwmark 0x7475)
out=$(rns "$TOOL" "${FULL[@]}" --state $STATE apply $IF 2>&1)
check full_reports grep -q 'routes=4 rules=4 table=29813 fwmark=29813' <<<"$out"
check full_rules_v4 rns sh -c "ip rule | grep -q '^21700:.*lookup main suppress_prefixlength 0 proto tund' && ip rule | grep -q '^21701:.*not from all fwmark 0x7475 lookup 29813 proto tund'"
check full_rules_v6 rns sh -c "ip -6 rule | grep -q '^21700:.*lookup main suppress_prefixlength 0 proto tund' && ip -6 rule | grep -q '^21701:.*not from all fwmark 0x7475 lookup 29813 proto tund'"
check full_default_via_tunnel sh -c "ip -n $RNS route get 198.51.100.1 | grep -q 'dev $IF table 29813'"
check full_engine_exempt sh -c "ip -n $RNS route get 198.51.100.1 mark 0x7475 | grep -q 'dev tund-lan0'"
check full_excluded_bypasses sh -c "ip -n $RNS route get 203.0.113.7 | grep -q 'dev tund-lan0'"
check full_throw_routes rns sh -c "ip route show table 29813 | grep -q '^throw 203.0.113.7 proto tund' && ip -6 route show table 29813 | grep -q '^throw 2001:db8:ff::/48 dev lo proto tund'"
# A second full tunnel (another link, same table and rule priorities): refused, and undoing
# its attempt removes only what it created, not the rules and throw routes the first shares.
AFTER_FULL=$(snapshot 2>&1)
expect_error_from "$AFTER_FULL" full_second_refused_first_intact \
	'table 29813 sends 0.0.0.0/0 to dev tund-t0\|table 29813 sends ::/0 to dev tund-t0' \
	--addr 192.0.2.3/24 --route 0.0.0.0/0 --route ::/0 --exclude 203.0.113.7/32 \
	--exclude 2001:db8:ff::/48 --fwmark 0x7475 apply tund-t1
check full_revert rns "$TOOL" --state $STATE revert
check full_revert_exact same_as "$BEFORE"
check full_revert_no_rules test "$(tund_rules | tr '\n' ' ')" = "0 0 "

# --- invalid input: a clear error, nothing half-applied ---
expect_error invalid_host_bits 'has host bits set (did you mean 198.51.100.0/24?)' \
	--addr 192.0.2.2/24 --route 198.51.100.7/24 apply $IF
expect_error invalid_prefix_len 'prefix length /33 is out of range' --route 198.51.100.0/33 apply $IF
expect_error invalid_unknown_link 'no such link' --route 198.51.100.0/24 apply tund-tnone
expect_error invalid_tilde_domain 'without "~"' --dns 192.0.2.53 --routing '~corp.example' apply $IF
expect_error invalid_routed_and_excluded 'both routed and excluded' --route 0.0.0.0/0 \
	--route 203.0.113.0/24 --exclude 203.0.113.0/24 apply $IF
# The kernel refuses ::1 on a non-loopback link after the first address, a route and the
# link-up went in: all of that must be rolled back.
expect_error kernel_failure_rolls_back 'adding address ::1/128' --addr 192.0.2.2/24 \
	--mtu 1400 --route 198.51.100.0/24 --addr ::1/128 apply $IF

# --- a prefix another link already routes (another profile, the LAN): the kernel's EEXIST
# is not "already ours". Refused naming that link, like wg-quick; the other route stays. ---
rns ip route add 203.0.113.128/25 dev tund-lan0
rns ip -6 route add 2001:db8:77::/48 dev tund-lan0 metric 1024
BEFORE_LAN=$(snapshot 2>&1)
expect_error_from "$BEFORE_LAN" overlap_v4_refused \
	'route 203.0.113.128/25 overlaps a route that is already there: table main sends 203.0.113.128/25 to dev tund-lan0' \
	--addr 192.0.2.2/24 --route 198.51.100.0/24 --route 203.0.113.128/25 apply $IF
expect_error_from "$BEFORE_LAN" overlap_v6_refused 'table main sends 2001:db8:77::/48 to dev tund-lan0' \
	--addr 2001:db8::2/64 --route 2001:db8:77::/48 apply $IF
check overlap_other_route_kept rns sh -c "ip route show 203.0.113.128/25 | grep -q 'dev tund-lan0' && ip -6 route show 2001:db8:77::/48 | grep -q 'dev tund-lan0'"
# The kernel's own prefix route of our address is ours: the same prefix in AllowedIPs is fine.
check overlap_own_prefix_route_ok rns "$TOOL" --addr 192.0.2.2/24 --route 192.0.2.0/24 \
	--state $STATE apply $IF
check overlap_own_revert rns "$TOOL" --state $STATE revert
rns ip route del 203.0.113.128/25 dev tund-lan0
rns ip -6 route del 2001:db8:77::/48 dev tund-lan0
check overlap_cleanup_exact same_as "$BEFORE"

# --- crash: kill -9 the applying process, then reconcile ---
rns "$TOOL" "${FULL[@]}" --dns 192.0.2.53 --search corp.example --hold apply $IF >"$RESOLVED_DIR/hold.out" &
HOLD=$!
T_PIDS+=("$HOLD")
wait_for 10 grep -q ifname= "$RESOLVED_DIR/hold.out"
kill -9 $HOLD
wait $HOLD 2>/dev/null
check crash_left_routes test "$(tund_routes | wc -l)" -gt 0
check crash_reconcile rns "$TOOL" reconcile $IF
check crash_no_tund_routes test "$(tund_routes | wc -l)" = 0
check crash_no_rules test "$(tund_rules | tr '\n' ' ')" = "0 0 "
IDX=$(rns cat /sys/class/net/$IF/ifindex)
check crash_dns_reverted test "$(rbusctl get-property org.freedesktop.resolve1 \
	/org/freedesktop/resolve1/link/_3$IDX org.freedesktop.resolve1.Link DNS)" = 'a(iay) 0'
check reconcile_idempotent rns "$TOOL" reconcile $IF
check reconcile_link_gone rns "$TOOL" reconcile tund-tgone0
rns ip link set $IF down
rns ip addr flush dev $IF
rns ip link set $IF mtu 1500
check crash_cleanup_exact same_as "$BEFORE"

# --- 10,000 routes, applied and reverted ---
seq 0 9999 | awk '{ printf "2001:db8:%x::/48\n", $1 }' >"$RESOLVED_DIR/routes"
t0=$(date +%s%N)
out=$(rns "$TOOL" --addr 192.0.2.2/24 --routes-file "$RESOLVED_DIR/routes" --state $STATE apply $IF 2>&1)
t1=$(date +%s%N)
check scale_apply_10000 grep -q 'routes=10000' <<<"$out"
check scale_10000_in_kernel test "$(rns ip -6 route show proto tund | wc -l)" = 10000
check scale_revert_10000 rns "$TOOL" --state $STATE revert
t2=$(date +%s%N)
check scale_revert_exact same_as "$BEFORE"
echo "10000 routes: apply $(((t1 - t0) / 1000000)) ms, revert $(((t2 - t1) / 1000000)) ms"
# the same, killed halfway: reconcile finds what the kernel got
rns "$TOOL" --addr 192.0.2.2/24 --routes-file "$RESOLVED_DIR/routes" apply $IF >/dev/null 2>&1 &
P=$!
sleep 0.05
kill -9 $P 2>/dev/null
wait $P 2>/dev/null
check scale_crash_reconcile rns "$TOOL" reconcile $IF
check scale_crash_no_routes test "$(tund_routes | wc -l)" = 0
