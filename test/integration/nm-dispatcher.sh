#!/bin/bash
# The NetworkManager dispatcher hook tools/nm-dispatcher/90-tund, run exactly as
# NetworkManager runs it: `env -i` scratch environment (no PATH) with NM_DISPATCHER_ACTION,
# DEVICE_IFACE, CONNECTIVITY_STATE..., cwd /, $1 = interface, $2 = action. The only addition is
# TUND_NM_TUNDCTL (the tundctl to run) and, for the real run, TUND_CONTROL_SOCKET.
#   - which actions act, which are ignored (stub tundctl recording its calls)
#   - exit 3 (tund not running) is success without a log line; failures and timeouts log
#   - one syslog line per action (a /dev/log listener in a private mount namespace)
#   - the real effect: a rebind reaches the tunnels of a tund-helperd in a namespace
#   - the file rules NetworkManager applies, shellcheck, the conf.d snippet
. "$(dirname "$0")/lib.sh"

HOOK="$TOP/tools/nm-dispatcher/90-tund"
SNIPPET="$TOP/tools/nm-dispatcher/90-tund-unmanaged.conf"
W=$(mktemp -d /tmp/tund-t-nm-XXXXXX) || exit 1
T_FILES+=("$W")

# --- the file rules of NetworkManager's dispatcher (nm-dispatcher: check_permissions) ---
st=$(stat -c '%u %a' "$HOOK")
uid=${st%% *} mode=${st#* }
check hook_owned_by_root test "$uid" = 0
check hook_not_group_other_writable test $((0$mode & 022)) = 0
check hook_executable test -x "$HOOK"
check hook_not_setuid test $((0$mode & 06000)) = 0
check hook_posix_sh_syntax sh -n "$HOOK"
if command -v shellcheck >/dev/null; then
	check hook_shellcheck shellcheck -s sh "$HOOK"
else
	skip hook_shellcheck "shellcheck not installed"
fi
check snippet_keyfile_section grep -qx '\[keyfile\]' "$SNIPPET"
check snippet_unmanaged grep -qx 'unmanaged-devices+=interface-name:tund-\*' "$SNIPPET"

# --- a stub tundctl: records argv, cwd and PATH; exits $W/stub-rc; sleeps $W/stub-sleep ---
STUB="$W/tundctl-stub"
cat >"$STUB" <<EOF
#!/bin/sh
echo "args=\$* cwd=\$(pwd) path=\$PATH" >>"$W/calls"
[ -f "$W/stub-sleep" ] && sleep "\$(cat "$W/stub-sleep")"
echo "stub said no" >&2
exit "\$(cat "$W/stub-rc" 2>/dev/null || echo 0)"
EOF
chmod 755 "$STUB"

# /dev/log for logger: a datagram listener, bound over /dev in a private mount namespace
mkdir -p "$W/dev"
: >"$W/dev/null"
: >"$W/syslog"
bg_start python3 "$TOP/test/integration/dgram-listener.py" "$W/dev/log" "$W/syslog"
wait_for 5 test -S "$W/dev/log" || { fail setup "no /dev/log listener"; exit 1; }

# run_hook IFACE ACTION [VAR=VALUE...]: as NetworkManager would, with TUND_NM_TUNDCTL=$STUB
# unless a TUND_NM_TUNDCTL= is given. Sets HOOK_RC and HOOK_SECONDS.
run_hook() {
	local iface=$1 action=$2 start
	shift 2
	start=$(date +%s)
	unshare --mount --propagation private sh -c '
		mount --bind /dev/null "$1/null" && mount --bind "$1" /dev || exit 99
		shift
		cd / && exec "$@"' _ "$W/dev" \
		env -i NM_DISPATCHER_ACTION="$action" DEVICE_IFACE="$iface" DEVICE_IP_IFACE="$iface" \
		CONNECTION_ID="Wired connection 1" CONNECTION_UUID=6f2d2a1e-0000-4000-8000-000000000001 \
		TUND_NM_TUNDCTL="$STUB" TUND_NM_FOREGROUND=1 "$@" "$HOOK" "$iface" "$action" >"$W/hook.out" 2>&1
	HOOK_RC=$?
	HOOK_SECONDS=$(($(date +%s) - start))
}
calls() { [ -f "$W/calls" ] && wc -l <"$W/calls" || echo 0; }
reset() { rm -f "$W/calls" "$W/stub-sleep"; echo "${1:-0}" >"$W/stub-rc"; : >"$W/syslog"; }

# --- actions that act ---
for a in up dhcp4-change dhcp6-change; do
	reset 0
	run_hook eth0 "$a"
	if [ "$HOOK_RC" = 0 ] && [ "$(calls)" = 1 ] &&
		grep -qx "args=--timeout 4 --no-color rebind --all --coalesce cwd=/ path=/usr/sbin:/usr/bin:/sbin:/bin" "$W/calls"; then
		pass "hook_acts_on_$a"
	else
		fail "hook_acts_on_$a" "rc=$HOOK_RC calls=$(calls) $(cat "$W/calls" "$W/hook.out" 2>/dev/null)"
	fi
	wait_for 2 grep -q 'tund-nm' "$W/syslog"
	if [ "$(grep -c 'tund-nm' "$W/syslog")" = 1 ] && grep -q "tund-nm.*rebound tund tunnels after $a of eth0" "$W/syslog"; then
		pass "hook_logs_one_line_$a"
	else
		fail "hook_logs_one_line_$a" "$(cat "$W/syslog")"
	fi
done
reset 0
run_hook "" connectivity-change CONNECTIVITY_STATE=FULL
check hook_acts_on_connectivity_full test "$HOOK_RC:$(calls)" = "0:1"

# --- ignored: other connectivity states, other and unknown actions, tund's own links ---
for c in LIMITED PORTAL NONE UNKNOWN ""; do
	reset 0
	run_hook "" connectivity-change CONNECTIVITY_STATE="$c"
	check "hook_ignores_connectivity_${c:-unset}" test "$HOOK_RC:$(calls)" = "0:0"
done
for a in down pre-up pre-down vpn-up vpn-down hostname reapply dhcp4-lease-changed some-future-action ""; do
	reset 0
	run_hook eth0 "$a"
	check "hook_ignores_action_${a:-none}" test "$HOOK_RC:$(calls)" = "0:0"
done
for i in tund-work tund-x wg0 wg-home lo; do
	reset 0
	run_hook "$i" up
	check "hook_ignores_iface_$i" test "$HOOK_RC:$(calls)" = "0:0"
done
reset 0
run_hook eth0 up DEVICE_IFACE=tund-work
check hook_ignores_device_iface_tund test "$HOOK_RC:$(calls)" = "0:0"
check hook_ignored_logs_nothing test ! -s "$W/syslog"

# --- tund not running: success, quietly ---
reset 3
run_hook eth0 up
sleep 0.3
check hook_not_running_is_success test "$HOOK_RC:$(calls)" = "0:1"
check hook_not_running_no_log bash -c "! grep -q tund-nm '$W/syslog'"
reset 0
run_hook eth0 up TUND_NM_TUNDCTL=/nonexistent/tundctl
check hook_no_tundctl_is_success test "$HOOK_RC" = 0

# --- failures are logged, with tundctl's message ---
reset 1
run_hook eth0 dhcp4-change
wait_for 2 grep -q 'tund-nm' "$W/syslog"
check hook_failure_exit1 test "$HOOK_RC" = 1
check hook_failure_logged grep -q 'tund-nm.*tundctl rebind --all after dhcp4-change of eth0 failed (exit 1): stub said no' "$W/syslog"

# --- never holds NetworkManager up: a hanging tundctl is cut off after 5 s ---
reset 0
echo 30 >"$W/stub-sleep"
run_hook eth0 up
if [ "$HOOK_RC" = 1 ] && [ "$HOOK_SECONDS" -le 8 ]; then pass hook_timeout_bounded; else fail hook_timeout_bounded "rc=$HOOK_RC took ${HOOK_SECONDS}s"; fi
wait_for 2 grep -q 'timed out' "$W/syslog"
check hook_timeout_logged grep -q 'tund-nm.*tundctl rebind --all after up of eth0 timed out' "$W/syslog"

# --- the real thing: tundctl against a helper with a session; the rebind reaches the tunnel ---
for f in "$B/tundctl" "$B/tund-helperd" "$B/test/helpers/helperd-fake-tunnel" "$B/test/helpers/helperd-client"; do
	[ -x "$f" ] || { skip hook_real_rebind "$f not built"; exit 0; }
done
NS=$(ns_add nm) || { fail setup "cannot create namespace"; exit 1; }
chmod 755 "$W"
FAKE_TUNNEL=$(trusted_copy "$B/test/helpers/helperd-fake-tunnel") || { fail setup "trusted copy"; exit 1; }
bg_start ip netns exec "$NS" env FAKE_TUNNEL_BURST=1 "$B/tund-helperd" --listen-dir "$W/run" \
	--idle-exit 0 --tunnel "$FAKE_TUNNEL" --tunnel-user nobody \
	--control-group nogroup >"$W/helper.log" 2>&1
wait_for 5 test -S "$W/run/control.sock" || { fail setup "helper: $(tail -3 "$W/helper.log")"; exit 1; }
bg_start ip netns exec "$NS" "$B/test/helpers/helperd-client" shim "$W/run/shim.sock" \
	--profile work --ifname tund-nmw >"$W/shim.log" 2>&1
wait_for 10 grep -q '^started' "$W/shim.log" || { fail setup "session: $(cat "$W/shim.log")"; exit 1; }
rebinds() { grep -c 'fake: burst line 0 ' "$W/helper.log"; }
n0=$(rebinds)
: >"$W/syslog"
run_hook_ns() { # like run_hook, inside the namespace, with the real tundctl
	local iface=$1 action=$2
	shift 2
	unshare --mount --propagation private sh -c '
		mount --bind /dev/null "$1/null" && mount --bind "$1" /dev || exit 99
		shift
		cd / && exec "$@"' _ "$W/dev" \
		ip netns exec "$NS" env -i NM_DISPATCHER_ACTION="$action" DEVICE_IFACE="$iface" \
		DEVICE_IP_IFACE="$iface" TUND_NM_TUNDCTL="$B/tundctl" TUND_NM_FOREGROUND=1 "$@" "$HOOK" "$iface" "$action" \
		>"$W/hook.out" 2>&1
	HOOK_RC=$?
}
run_hook_ns eth0 up TUND_CONTROL_SOCKET="$W/run/control.sock"
wait_for 5 test "$(rebinds)" -gt "$n0"
if [ "$HOOK_RC" = 0 ] && [ "$(rebinds)" = $((n0 + 1)) ]; then pass hook_real_rebind; else fail hook_real_rebind "rc=$HOOK_RC rebinds $n0 -> $(rebinds) $(cat "$W/hook.out")"; fi
wait_for 2 grep -q 'tund-nm' "$W/syslog"
check hook_real_logged grep -q 'tund-nm.*rebound tund tunnels after up of eth0' "$W/syslog"
n0=$(rebinds)
run_hook_ns tund-nmw up TUND_CONTROL_SOCKET="$W/run/control.sock"
sleep 0.5
check hook_real_own_link_ignored test "$HOOK_RC:$(rebinds)" = "0:$n0"
: >"$W/syslog"
run_hook_ns eth0 up TUND_CONTROL_SOCKET="$W/run/nothing-here.sock"
sleep 0.3
check hook_real_not_running_quiet test "$HOOK_RC" = 0
check hook_real_not_running_no_log bash -c "! grep -q tund-nm '$W/syslog'"
