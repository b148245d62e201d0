#!/bin/bash
# tund-netshimd against a stand-in helper, in a namespace: READY only after the settings are
# applied, refusals, a stop leaves the namespace identical, SIGKILL then --cleanup / restart
# leaves no duplicates, shim-first start, TunnelExited, profile errors.
. "$(dirname "$0")/lib.sh"

NS=$(ns_add shim) || { fail setup "cannot create namespace"; exit 1; }
W=$(mktemp -d /tmp/tund-t-shim-XXXXXX)
T_FILES+=("$W")
IF=tns$$
IF=${IF:0:15}
mkdir -p "$W/etc" "$W/state" "$W/wg"
chmod 700 "$W/etc"
cat >"$W/etc/work.conf" <<CONF
[Interface]
PrivateKey = $(wg genkey)
Address = 192.0.2.2/32, 2001:db8:77::2/128
MTU = 1400

[Peer]
PublicKey = $(wg genkey | wg pubkey)
Endpoint = 203.0.113.1:51820
AllowedIPs = 198.51.100.0/24, 2001:db8:100::/48
PersistentKeepalive = 25

[Tund]
InterfaceName = $IF
CONF
chmod 600 "$W/etc/work.conf"

SHIM=(ip netns exec "$NS" "$B/tund-netshimd" --config-dir "$W/etc" --shim-socket "$W/shim.sock"
	--state-dir "$W/state" --uapi-dir "$W/wg" --engine-group "" --start-timeout 10)
FAKE="$B/test/helpers/netshim-fake-helper"

start_fake() { # MODE
	: >"$W/fake.out"
	ip netns exec "$NS" "$FAKE" "$W/shim.sock" "${1:-normal}" >"$W/fake.out" 2>&1 &
	FAKE_PID=$!
	T_PIDS+=("$FAKE_PID")
	wait_for 5 grep -q LISTENING "$W/fake.out"
}
stop_fake() { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }
start_shim() { # [PROFILE]
	: >"$W/notify"
	NOTIFY_SOCKET="$W/notify.sock" "${SHIM[@]}" "${1:-work}" >"$W/shim.log" 2>&1 &
	SHIM_PID=$!
	T_PIDS+=("$SHIM_PID")
}
ready() { grep -q 'READY=1' "$W/notify"; }

notify_listen "$W/notify.sock" "$W/notify" || { fail setup "notify socket"; exit 1; }
BEFORE=$(ns_dump "$NS")

# --- start: READY=1 comes after the settings were applied ---
start_fake normal
start_shim
if wait_for 10 ready; then pass start_ready; else fail start_ready "$(tail -5 "$W/shim.log")"; fi
check ready_after_apply grep -q '^APPLIED' "$W/fake.out"
check fds_handed_over grep -q "FDS tun=$IF" "$W/fake.out"
# IFF_TUN without IFF_NO_PI for Debian's engine (TUNGETIFF cannot tell: IFF_NOFILTER shares the bit)
check tun_pi_flavour bash -c "[ \$(ip netns exec $NS cat /sys/class/net/$IF/tun_flags) = 0x1 ]"
check address_v4 bash -c "ip -n $NS addr show dev $IF | grep -q 192.0.2.2/32"
check address_v6 bash -c "ip -n $NS addr show dev $IF | grep -q 2001:db8:77::2/128"
check routes_proto_tund bash -c "ip -n $NS route show proto 116 | grep -q '198.51.100.0/24 dev $IF'"
check routes6_proto_tund bash -c "ip -n $NS -6 route show proto 116 | grep -q '2001:db8:100::/48 dev $IF'"
check link_up_mtu bash -c "ip -n $NS link show $IF | grep -q 'mtu 1400.*state UNKNOWN\|mtu 1400.*UP'"
check state_file_saved test -s "$W/state/work.state"
check uapi_socket test -S "$W/wg/$IF.sock"
if wait_for 8 grep -q 'STATUS=connected to 203.0.113.1:51820, handshake' "$W/notify"; then
	pass status_text
else
	fail status_text "$(tail -3 "$W/notify")"
fi

# --- stop: StopSession, revert, namespace as before ---
kill -TERM "$SHIM_PID"
wait "$SHIM_PID"
rc=$?
if [ "$rc" = 0 ]; then pass stop_exit_0; else fail stop_exit_0 "exit $rc"; fi
check stop_sent_stopsession grep -q '^STOP' "$W/fake.out"
check stopping_notified grep -q 'STOPPING=1' "$W/notify"
AFTER=$(ns_dump "$NS")
if [ "$BEFORE" = "$AFTER" ]; then pass stop_leaves_namespace_identical; else
	fail stop_leaves_namespace_identical "$(diff <(echo "$BEFORE") <(echo "$AFTER") | head -5)"
fi
check stop_removes_state bash -c "! test -e $W/state/work.state"
check stop_removes_uapi bash -c "! test -e $W/wg/$IF.sock"
stop_fake

# --- a tunnel asking for a route outside AllowedIPs is refused; nothing stays ---
start_fake evil
start_shim
wait "$SHIM_PID"
rc=$?
if [ "$rc" = 1 ]; then
	pass refused_settings_exit_1
else
	fail refused_settings_exit_1 "exit $rc"
fi
check refused_named grep -q 'APPLY-ERROR code=3 .*route 203.0.113.0/24 is outside the profile' "$W/fake.out"
if [ "$BEFORE" = "$(ns_dump "$NS")" ]; then
	pass refused_leaves_nothing
else
	fail refused_leaves_nothing "dump differs"
fi
stop_fake

# --- the shim grants its profile, no more: a full tunnel's settings as tund-tunnel derives them
# (the endpoint's /32 excluded) are applied; anything else is refused, naming the field and the
# value, and nothing is applied ---
IF2=tnf$$
IF2=${IF2:0:15}
cat >"$W/etc/full.conf" <<CONF
[Interface]
PrivateKey = $(wg genkey)
Address = 10.9.0.2/32, fd00:9::2/128

[Peer]
PublicKey = $(wg genkey | wg pubkey)
Endpoint = 203.0.113.1:51820
AllowedIPs = 0.0.0.0/0, ::/0

[Tund]
InterfaceName = $IF2
CONF
chmod 600 "$W/etc/full.conf"
start_fake tunnel
start_shim full
if wait_for 10 ready; then pass policy_tunnel_settings_applied; else
	fail policy_tunnel_settings_applied "$(grep APPLY "$W/fake.out") $(tail -3 "$W/shim.log")"
fi
check policy_endpoint_excluded bash -c "ip -n $NS route show table all | grep -q '^[a-z]* *203.0.113.1 '"
kill -TERM "$SHIM_PID"
wait "$SHIM_PID"
if [ "$BEFORE" = "$(ns_dump "$NS")" ]; then
	pass policy_tunnel_settings_reverted
else
	fail policy_tunnel_settings_reverted "$(diff <(echo "$BEFORE") <(ns_dump "$NS") | head -5)"
fi
stop_fake

policy_refused() { # NAME PROFILE MODE TEXT: the stand-in asks for MODE; refused with TEXT
	local rc
	start_fake "$3"
	start_shim "$2"
	if ! wait_for 15 grep -qE '^(APPLIED|APPLY-ERROR)' "$W/fake.out" ||
		grep -q '^APPLIED' "$W/fake.out"; then
		kill -TERM "$SHIM_PID"
		wait "$SHIM_PID"
		fail "$1" "not refused: $(grep -E '^APPL' "$W/fake.out")"
		stop_fake
		return
	fi
	wait "$SHIM_PID"
	rc=$?
	if [ "$rc" != 1 ]; then
		fail "$1" "exit $rc"
	elif ! grep -qF "APPLY-ERROR code=3 $2: refused: $4" "$W/fake.out"; then
		fail "$1" "$(grep APPLY "$W/fake.out")"
	elif ! grep -qF "Refused network settings from the tunnel: $4" "$W/shim.log"; then
		fail "$1" "not in the shim's log: $(tail -3 "$W/shim.log")"
	elif [ "$BEFORE" != "$(ns_dump "$NS")" ]; then
		fail "$1" "the namespace changed: $(diff <(echo "$BEFORE") <(ns_dump "$NS") | head -5)"
	else
		pass "$1"
	fi
	stop_fake
}
policy_refused policy_excluded_halves full "tunnel+exclude=0.0.0.0/1+exclude=128.0.0.0/1" \
	"excluded route 0.0.0.0/1 is not an endpoint host route (/32 or /128) nor one of the profile's ExcludedRoutes="
policy_refused policy_excluded_other_host full "tunnel+exclude=198.51.100.9/32" \
	"excluded route 198.51.100.9/32 is not the endpoint of a peer"
policy_refused policy_mtu_68 full "tunnel+mtu=68" "MTU 68 is not the profile's MTU 1420"
policy_refused policy_mtu_65535 full "tunnel+mtu=65535" "MTU 65535 is not the profile's MTU 1420"
policy_refused policy_mtu_not_profiles work "mtu=1500" "MTU 1500 is not the profile's MTU 1400"
policy_refused policy_route_not_allowed_ips full "tunnel+route=10.0.0.0/8" \
	"route 10.0.0.0/8 is not one of the profile's AllowedIPs"
policy_refused policy_route_outside work "route=203.0.113.0/24" \
	"route 203.0.113.0/24 is outside the profile's AllowedIPs"
policy_refused policy_dns_server full "tunnel+dns=192.0.2.53" \
	"DNS server 192.0.2.53 is not one of the profile's DNS="

# --- SIGKILL while running, then the unit's ExecStopPost: nothing left ---
start_fake normal
start_shim
wait_for 10 ready || fail kill_setup "not ready"
kill -KILL "$SHIM_PID"
wait "$SHIM_PID" 2>/dev/null
wait_for 5 grep -q SHIM-GONE "$W/fake.out"
check kill_leaves_state_file test -s "$W/state/work.state"
"${SHIM[@]}" --cleanup work >"$W/cleanup.log" 2>&1
rc=$?
if [ "$rc" = 0 ]; then
	pass cleanup_exit_0
else
	fail cleanup_exit_0 "exit $rc: $(cat "$W/cleanup.log")"
fi
if [ "$BEFORE" = "$(ns_dump "$NS")" ]; then
	pass cleanup_leaves_namespace_identical
else
	fail cleanup_leaves_namespace_identical "$(diff <(echo "$BEFORE") <(ns_dump "$NS") | head -5)"
fi
check cleanup_removes_state bash -c "! test -e $W/state/work.state"
if "${SHIM[@]}" --cleanup work >/dev/null 2>&1; then
	pass cleanup_idempotent
else
	fail cleanup_idempotent "second run failed"
fi

# --- SIGKILL, then a restart reconciles: no duplicates ---
start_shim
wait_for 10 ready || fail restart_setup "not ready"
kill -KILL "$SHIM_PID"
wait "$SHIM_PID" 2>/dev/null
wait_for 5 grep -q SHIM-GONE "$W/fake.out"
stop_fake
start_fake normal
start_shim
if wait_for 10 ready; then pass restart_after_kill; else fail restart_after_kill "$(tail -3 "$W/shim.log")"; fi
n=$(ip -n "$NS" route show proto 116 | grep -c 198.51.100.0/24)
if [ "$n" = 1 ]; then
	pass restart_no_duplicate_routes
else
	fail restart_no_duplicate_routes "$n copies"
fi

# --- TunnelExited: revert and exit non-zero ---
kill -USR1 "$FAKE_PID"
wait "$SHIM_PID"
rc=$?
if [ "$rc" = 1 ]; then pass tunnel_exited_exit_1; else fail tunnel_exited_exit_1 "exit $rc"; fi
check tunnel_exited_reason_logged grep -q 'the tunnel exited with status 1: wireguard-go exited: test says so' "$W/shim.log"
if [ "$BEFORE" = "$(ns_dump "$NS")" ]; then
	pass tunnel_exited_leaves_nothing
else
	fail tunnel_exited_leaves_nothing "dump differs"
fi
stop_fake

# --- shim first: it waits for the helper's socket and says so ---
start_shim
if wait_for 5 grep -q 'STATUS=waiting for tund-helperd' "$W/notify"; then pass shim_first_waits; else
	fail shim_first_waits "$(tail -3 "$W/notify")"
fi
start_fake normal
if wait_for 10 ready; then pass shim_first_then_helper; else fail shim_first_then_helper "$(tail -3 "$W/shim.log")"; fi
kill -TERM "$SHIM_PID"
wait "$SHIM_PID"
stop_fake

# --- a helper that fails the session: clear error, nothing left ---
start_fake fail
start_shim
wait "$SHIM_PID"
rc=$?
if [ "$rc" = 1 ]; then pass helper_error_exit_1; else fail helper_error_exit_1 "exit $rc"; fi
check helper_error_logged grep -q 'the session did not start: wireguard-go exited with status 1' "$W/shim.log"
if [ "$BEFORE" = "$(ns_dump "$NS")" ]; then
	pass helper_error_leaves_nothing
else
	fail helper_error_leaves_nothing "dump differs"
fi
stop_fake

# --- profile errors: exit 78 (no restart), file:line named ---
sed -i 's/^PostUp.*//' "$W/etc/work.conf"
echo "PostUp = iptables -F" >>"$W/etc/work.conf"
"${SHIM[@]}" work >"$W/bad.log" 2>&1
rc=$?
if [ "$rc" = 78 ]; then pass bad_profile_exit_78; else fail bad_profile_exit_78 "exit $rc"; fi
check bad_profile_names_line grep -q "work.conf:[0-9]*: PostUp" "$W/bad.log"
chmod 644 "$W/etc/work.conf"
"${SHIM[@]}" work >"$W/bad.log" 2>&1
check readable_profile_refused grep -qi "readable\|permission\|mode" "$W/bad.log"
if [ "$BEFORE" = "$(ns_dump "$NS")" ]; then
	pass bad_profile_leaves_nothing
else
	fail bad_profile_leaves_nothing "dump differs"
fi
