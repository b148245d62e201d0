#!/bin/bash
# tundctl against a real tund-helperd (--listen-dir) in a namespace, with a session started by
# the helper's test client acting as a network shim (fake tunnel): every subcommand, human and
# --json output (fields checked with jq, lib.sh's jcheck), exit codes, permission refusals for a
# non-root user, colour only on a terminal.
#
# up/down: only their "systemd is not PID 1" error is checked here (this machine has no
# systemd as PID 1); the real StartUnit/JobRemoved path belongs to the systemd-nspawn system
# test of the packaging issue.
. "$(dirname "$0")/lib.sh"

CTL="$B/tundctl"
# the helper verifies the tunnel's path: a checkout under /tmp would not pass
FAKE_TUNNEL=$(trusted_copy "$B/test/helpers/helperd-fake-tunnel") || { echo "FAIL: setup: trusted copy"; exit 1; }
CLIENT="$B/test/helpers/helperd-client"
for f in "$CTL" "$B/tund-helperd" "$FAKE_TUNNEL" "$CLIENT"; do
	[ -x "$f" ] || { fail setup "$f not built"; exit 1; }
done

W=$(mktemp -d /tmp/tund-t-ctl-XXXXXX) || exit 1
T_FILES+=("$W")
chmod 755 "$W" # the non-root checks run tundctl as nobody
mkdir -p "$W/etc" && chmod 700 "$W/etc"
NS=$(ns_add ctl) || { fail setup "cannot create namespace"; exit 1; }
SOCK="$W/run/control.sock"
VERSION=$(cat "$TOP/VERSION")

ctl() { ip netns exec "$NS" "$CTL" --socket "$SOCK" --config-dir "$W/etc" "$@"; }
CTLN=$(trusted_copy "$CTL") || { fail setup "cannot copy $CTL"; exit 1; } # nobody can run it
as_nobody() { ip netns exec "$NS" setpriv --reuid nobody --regid nogroup --clear-groups "$@"; }
rebinds() { grep -c 'fake: burst line 0 ' "$W/helper.log"; }
watchers_is() { ip netns exec "$NS" "$CLIENT" ctl "$SOCK" status | grep -q "watchers=$1"; }

# --- the helper, and a session "work" through the test client acting as the shim ---
# FAKE_TUNNEL_BURST=1: each Rebind makes the fake tunnel log one line, our rebind counter.
bg_start ip netns exec "$NS" env FAKE_TUNNEL_BURST=1 "$B/tund-helperd" --listen-dir "$W/run" \
	--idle-exit 0 --tunnel "$FAKE_TUNNEL" --tunnel-user nobody --control-group nogroup \
	>"$W/helper.log" 2>&1
HELPER_PID=${T_PIDS[-1]}
wait_for 5 test -S "$SOCK" || { fail setup "helper did not create $SOCK: $(tail -3 "$W/helper.log")"; exit 1; }
bg_start ip netns exec "$NS" "$CLIENT" shim "$W/run/shim.sock" --profile work --ifname tund-work \
	>"$W/shim-work.log" 2>&1
wait_for 10 grep -q '^started' "$W/shim-work.log" ||
	{ fail setup "session work did not start: $(cat "$W/shim-work.log")"; exit 1; }

# --- version ---
ctl version >"$W/out" 2>&1
check version_human grep -q "^tundctl $VERSION\$" "$W/out"
check version_helper grep -q "^tund-helperd $VERSION (pid $HELPER_PID," "$W/out"
ctl version --json >"$W/v.json"
# shellcheck disable=SC2016 # $names in the jq program are jq's
jcheck version_json "$W/v.json" '.schema == 1 and .tundctl == $v and .helper.pid == $hp and has("helper_error") and
	.helper_error == null' --arg v "$VERSION" --argjson hp "$HELPER_PID"
ctl --version >"$W/out" 2>&1
check version_option grep -q "^tundctl $VERSION" "$W/out"
ip netns exec "$NS" "$CTL" --socket "$W/none.sock" version --json >"$W/v2.json"
jcheck version_json_no_helper "$W/v2.json" 'has("helper") and .helper == null and (.helper_error | contains("cannot reach"))'

# --- status ---
ctl status >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" = 0 ] && grep -Eq '^work +running +tund-work +192\.0\.2\.1:51820 +[0-9]+ d( [0-9]+ h)? ago +1\.2 KiB +5\.5 KiB +none/split +0$' "$W/out"; then
	pass status_table
else
	fail status_table "rc=$rc $(cat "$W/out" "$W/err")"
fi
check status_header grep -Eq '^PROFILE +STATE +INTERFACE +ENDPOINT +HANDSHAKE +RX +TX +DNS +ROUTES$' "$W/out"
check status_helper_line grep -q "^tund-helperd $VERSION (pid $HELPER_PID, up .*): 1 session, 1 client, 0 watching" "$W/out"
# the fake peer's handshake is from 2023: stale
check status_warning_stale grep -q '^work: warning: peer xTIBA5rb…: stale handshake' "$W/out"
check status_no_color_when_piped bash -c "! grep -q \$'\\x1b' '$W/out'"
ctl status work >"$W/out" 2>&1
check status_detail grep -Eq '^ +Interface: tund-work \(index [0-9]+\)$' "$W/out"
check status_detail_peer grep -q 'Peer: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=' "$W/out"
ctl status --json >"$W/s.json"
# shellcheck disable=SC2016 # $names in the jq program are jq's
jcheck status_json_schema "$W/s.json" '.schema == 1 and .helper.pid == $hp and .clients == 1' --argjson hp "$HELPER_PID"
jcheck status_json_session "$W/s.json" '[.sessions[] | [.profile, .ifname, .state, .engine_version]] ==
	[["work", "tund-work", "running", "fake-1.0"]]'
jcheck status_json_settings "$W/s.json" '.sessions[0].settings | .addresses == ["192.0.2.2/32"] and .mtu == 1420'
jcheck status_json_applied "$W/s.json" '.sessions[0] | .applied.ifname == "tund-work" and .applied.routes_applied == 0 and
	.dns.backend == "none" and .dns.mode == "split"'
jcheck status_json_peer "$W/s.json" '.sessions[0].peers[0] | .public_key == "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=" and
	.endpoint == "192.0.2.1:51820" and .last_handshake_sec == 1700000000'
jcheck status_json_peer_fields "$W/s.json" '.sessions[0].peers[0] | .rx_bytes == 1234 and .tx_bytes == 5678 and
	.handshake_age_sec > 180 and .has_preshared_key == false'
jcheck status_json_warnings "$W/s.json" 'any(.sessions[0].warnings[]; contains("stale handshake"))'
jcheck status_json_pids "$W/s.json" '.sessions[0] | .tunnel_pid > 0 and .engine_pid == .tunnel_pid and .shim_pid > 0 and
	.started_usec > 0'
ctl status work --json >"$W/s1.json"
jcheck status_json_one "$W/s1.json" '(.sessions | length) == 1 and .sessions[0].profile == "work"'
ctl status nope >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" = 3 ] && grep -q 'no session for profile nope' "$W/err"; then pass status_unknown_profile_exit3; else fail status_unknown_profile_exit3 "rc=$rc $(cat "$W/err")"; fi
ctl status nope --json >"$W/e.json" 2>/dev/null
jcheck status_unknown_json_error "$W/e.json" '.schema == 1 and .error.exit_code == 3 and (.error.message | contains("nope"))'
ctl status 'bad/name' >/dev/null 2>&1
check status_bad_name_exit2 test $? = 2
TUND_CONTROL_SOCKET="$SOCK" ip netns exec "$NS" "$CTL" status >"$W/out" 2>&1
check socket_from_env grep -q '^work ' "$W/out"

# --- helper not reachable ---
ip netns exec "$NS" "$CTL" --socket "$W/none.sock" status >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" = 3 ] && grep -qF "tundctl: cannot reach tund-helperd at $W/none.sock: No such file or directory (is tund-helper-control.socket enabled?)" "$W/err"; then
	pass not_running_exit3
else
	fail not_running_exit3 "rc=$rc $(cat "$W/err")"
fi
ip netns exec "$NS" "$CTL" --socket "$W/none.sock" --json status >"$W/e.json" 2>/dev/null
jcheck not_running_json "$W/e.json" '.error.exit_code == 3 and (.error.message | contains("cannot reach"))'

# --- peers ---
ctl peers >"$W/out" 2>&1
check peers_table grep -Eq '^work +xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= +192\.0\.2\.1:51820 +[0-9]+ d( [0-9]+ h)? ago +1\.2 KiB +5\.5 KiB +off +-$' "$W/out"
check peers_header grep -Eq '^PROFILE +PUBLIC KEY +ENDPOINT +HANDSHAKE +RX +TX +KEEPALIVE +ALLOWED IPS$' "$W/out"
ctl peers --json >"$W/p.json"
jcheck peers_json "$W/p.json" '.schema == 1 and [.profiles[].profile] == ["work"] and
	.profiles[0].peers[0].public_key == "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=" and
	.profiles[0].peers[0].rx_bytes == 1234'
jcheck peers_json_no_secret_fields "$W/p.json" 'all(.profiles[].peers[]; keys == (["public_key", "endpoint", "last_handshake_sec",
	"handshake_age_sec", "rx_bytes", "tx_bytes", "allowed_ips", "persistent_keepalive",
	"has_preshared_key", "stale"] | sort))'
ctl peers work --json >"$W/p1.json"
jcheck peers_json_one "$W/p1.json" '(.profiles | length) == 1'
ctl peers nope >/dev/null 2>&1
check peers_unknown_exit3 test $? = 3

# --- watch ---
: >"$W/watch.json"
ip netns exec "$NS" "$CTL" --socket "$SOCK" watch --json >"$W/watch.json" 2>"$W/watch.err" &
WATCH_PID=$!
T_PIDS+=("$WATCH_PID")
wait_for 5 watchers_is 1
N0=$(rebinds)
ctl rebind work >/dev/null 2>&1
# a second session: status and log events
bg_start ip netns exec "$NS" "$CLIENT" shim "$W/run/shim.sock" --profile home --ifname tund-home \
	>"$W/shim-home.log" 2>&1
HOME_PID=${T_PIDS[-1]}
wait_for 10 grep -q '^started' "$W/shim-home.log"
wait_for 5 grep -q '"profile":"home"' "$W/watch.json"
sleep 0.3
kill -INT "$WATCH_PID"
wait_for 5 bash -c "! kill -0 $WATCH_PID 2>/dev/null"
kill "$WATCH_PID" 2>/dev/null # only if SIGINT did not end it: then rc is 143
wait "$WATCH_PID"
rc=$?
check watch_sigint_exit0 test "$rc" = 0
jcheck watch_json_events "$W/watch.json" 'length > 0 and all(.[]; .schema == 1 and .time_usec > 0) and
	any(.[]; .event == "log" and .profile == "work" and (.log.message | startswith("fake: burst line 0"))) and
	any(.[]; .profile == "home" and .event == "status") and
	any(.[]; .profile == "home" and .event == "peers" and .peers.peers[0].rx_bytes == 1234)' -s
# human: one line per event with a timestamp; --count ends it
ip netns exec "$NS" "$CTL" --socket "$SOCK" watch work -n 1 >"$W/watch.out" 2>&1 &
WATCH_PID=$!
T_PIDS+=("$WATCH_PID")
wait_for 5 watchers_is 1
ctl rebind work >/dev/null 2>&1
wait_for 5 bash -c "! kill -0 $WATCH_PID 2>/dev/null"
wait "$WATCH_PID"
rc=$?
if [ "$rc" = 0 ] && grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} work log info: fake: burst line 0' "$W/watch.out"; then
	pass watch_human_line
else
	fail watch_human_line "rc=$rc $(cat "$W/watch.out")"
fi
# the helper going away ends watch with exit 3
kill "$HOME_PID" 2>/dev/null
wait "$HOME_PID" 2>/dev/null

# --- rebind ---
N0=$(rebinds)
ctl rebind --all >"$W/out" 2>&1
rc=$?
wait_for 5 test "$(rebinds)" -gt "$N0"
if [ "$rc" = 0 ] && grep -q '^Rebound every session.$' "$W/out" && [ "$(rebinds)" -gt "$N0" ]; then pass rebind_all; else fail rebind_all "rc=$rc $(cat "$W/out") rebinds $N0 -> $(rebinds)"; fi
ctl rebind work --json >"$W/r.json" 2>&1
jcheck rebind_json "$W/r.json" '. == {"schema": 1, "profile": "work", "all": false, "coalesce": false, "ok": true}'
# --coalesce (NetworkManager's hook): a second coalescing request for the same network change
# (here: none since) is answered without rebinding again; a plain rebind always rebinds.
N1=$(rebinds)
ctl rebind --all --coalesce --json >"$W/r.json" 2>&1
jcheck rebind_coalesce_json "$W/r.json" '.coalesce == true and .all == true and .ok == true'
wait_for 5 test "$(rebinds)" -gt "$N1"
check rebind_coalesce_again_ok ctl rebind --all --coalesce
sleep 1
check rebind_coalesce_once test "$(rebinds)" = $((N1 + 1))
check rebind_plain_after_coalesce ctl rebind --all
wait_for 5 test "$(rebinds)" = $((N1 + 2))
check rebind_plain_rebinds test "$(rebinds)" = $((N1 + 2))
ctl rebind nope >/dev/null 2>"$W/err"
check rebind_unknown_exit3 test $? = 3
ctl rebind >/dev/null 2>"$W/err"
rc=$?
if [ "$rc" = 2 ] && grep -q 'name a profile or --all' "$W/err"; then pass rebind_usage_exit2; else fail rebind_usage_exit2 "rc=$rc $(cat "$W/err")"; fi

# --- permissions: nobody is in the control group (nogroup) here: reads yes, rebind no ---
N0=$(rebinds)
as_nobody "$CTLN" --socket "$SOCK" rebind --all >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" = 4 ] && grep -q 'permission denied' "$W/err" && grep -q 'root' "$W/err"; then pass nobody_rebind_exit4; else fail nobody_rebind_exit4 "rc=$rc $(cat "$W/err")"; fi
check nobody_rebind_no_effect test "$(rebinds)" = "$N0"
as_nobody "$CTLN" --socket "$SOCK" --json rebind --all >"$W/e.json" 2>/dev/null
jcheck nobody_rebind_json "$W/e.json" '.error.exit_code == 4'
as_nobody "$CTLN" --socket "$SOCK" status >/dev/null 2>"$W/err"
check nobody_status_allowed test $? = 0
chmod 0600 "$SOCK"
as_nobody "$CTLN" --socket "$SOCK" status >/dev/null 2>"$W/err"
rc=$?
chmod 0660 "$SOCK"
if [ "$rc" = 4 ] && grep -q "cannot reach tund-helperd at $SOCK: Permission denied" "$W/err"; then pass nobody_socket_exit4; else fail nobody_socket_exit4 "rc=$rc $(cat "$W/err")"; fi

# --- up/down: no systemd as PID 1 here ---
if [ -d /run/systemd/system ]; then
	skip up_down_no_systemd "systemd is PID 1 on this machine: not starting host units from a test"
else
	ctl up work >/dev/null 2>"$W/err"
	rc=$?
	if [ "$rc" = 3 ] && grep -q 'systemd is not running as PID 1' "$W/err" && grep -q 'tund@work.service' "$W/err"; then pass up_no_systemd_exit3; else fail up_no_systemd_exit3 "rc=$rc $(cat "$W/err")"; fi
	ctl down work --no-block --json >"$W/e.json" 2>/dev/null
	jcheck down_no_systemd_json "$W/e.json" '.error.exit_code == 3 and (.error.message | contains("PID 1"))'
	ctl up >/dev/null 2>&1
	check up_usage_exit2 test $? = 2
fi

# --- profiles: enabled from multi-user.target.wants (bind-mounted in a private mount namespace) ---
cat >"$W/etc/work.conf" <<CONF
[Interface]
PrivateKey = $(wg genkey)
Address = 192.0.2.2/32
[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
AllowedIPs = 0.0.0.0/0
CONF
sed 's/^Address.*/Address = 192.0.2.3\/32/' "$W/etc/work.conf" >"$W/etc/home.conf"
printf '[Interface]\nPrivateKey = %s\nBogus = 1\n' "$(wg genkey)" >"$W/etc/bad.conf"
: >"$W/etc/README"
chmod 600 "$W/etc/"*.conf
WANTS=/etc/systemd/system/multi-user.target.wants
mkdir -p "$W/wants"
ln -s /lib/systemd/system/tund@.service "$W/wants/tund@work.service"
if [ -d "$WANTS" ]; then
	unshare --mount --propagation private bash -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' _ \
		"$W/wants" "$WANTS" ip netns exec "$NS" "$CTL" --socket "$SOCK" --config-dir "$W/etc" profiles --json >"$W/pr.json" 2>"$W/err"
	jcheck profiles_json_names "$W/pr.json" '[.profiles[].name] == ["bad", "home", "work"] and .helper_reachable == true'
	jcheck profiles_json_work "$W/pr.json" '[.profiles[] | select(.name == "work")][0] == {"name": "work", "enabled": true,
		"active": true, "state": "running", "valid": true, "error": null}'
	jcheck profiles_json_home "$W/pr.json" '[.profiles[] | select(.name == "home") | [.enabled, .active, .valid]] ==
		[[false, false, true]]'
	# shellcheck disable=SC2016 # $names in the jq program are jq's
	jcheck profiles_json_bad "$W/pr.json" '[.profiles[] | select(.name == "bad") | [.valid, .error]] == [[false, $e]]' \
		--arg e "$W/etc/bad.conf:3: Bogus: unknown key in this section"
	unshare --mount --propagation private bash -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' _ \
		"$W/wants" "$WANTS" ip netns exec "$NS" "$CTL" --socket "$SOCK" --config-dir "$W/etc" profiles >"$W/out" 2>&1
	check profiles_human_work grep -Eq '^work +enabled +running +yes$' "$W/out"
	check profiles_human_home grep -Eq '^home +disabled +inactive +yes$' "$W/out"
	check profiles_human_bad grep -Eq '^bad +disabled +inactive +no$' "$W/out"
else
	skip profiles_enabled "$WANTS does not exist"
fi
ip netns exec "$NS" "$CTL" --socket "$W/none.sock" --config-dir "$W/etc" profiles --json >"$W/pr2.json" 2>/dev/null
jcheck profiles_json_helper_down "$W/pr2.json" '.helper_reachable == false and all(.profiles[]; has("active") and .active == null)'

# --- doctor ---
ctl doctor >"$W/out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -Eq "^ok +helper +tund-helperd $VERSION reachable at $SOCK" "$W/out"; then pass doctor_helper_ok; else fail doctor_helper_ok "rc=$rc $(cat "$W/out")"; fi
check doctor_shim_socket grep -Eq "^ok +shim-socket +$W/run/shim.sock: mode 0600 root:root" "$W/out"
check doctor_control_group_warn grep -Eq "^warn +control-socket +$SOCK: mode 0660, group nogroup, expected group tund" "$W/out"
check doctor_session grep -Eq '^(ok|warn) +session work +interface tund-work \(index [0-9]+\) (up|down), 0 routes and 0 policy rules present' "$W/out"
ctl doctor --json >"$W/d.json"
jcheck doctor_json "$W/d.json" '.schema == 1 and .ok == true and ([.checks[] | {(.name): .status}] | add).helper == "ok" and
	all(.checks[]; .status | IN("ok", "warn", "fail", "skip"))'
if [ -x /usr/bin/wireguard-go ]; then
	jcheck doctor_json_engine "$W/d.json" '[.checks[] | select(.name == "engine")][0] | .status == "ok" and
		(.message | contains("TUN flavour"))'
fi
ip netns exec "$NS" "$CTL" --socket "$W/none.sock" doctor --json >"$W/d2.json" 2>/dev/null
rc=$?
check doctor_helper_down_exit1 test "$rc" = 1
jcheck doctor_json_helper_down "$W/d2.json" '.ok == false and
	[.checks[] | select(.name == "helper" or .name == "control-socket") | .status] == ["fail", "fail"]'

# --- -h on every subcommand ---
for v in status peers watch up down rebind check profiles doctor version; do
	ctl "$v" -h >"$W/out" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && grep -q "^Usage: tundctl \[OPTIONS\] $v" "$W/out"; then pass "help_$v"; else fail "help_$v" "rc=$rc $(head -3 "$W/out")"; fi
done
"$CTL" frobnicate >/dev/null 2>&1
check unknown_command_exit2 test $? = 2
"$CTL" --json frobnicate >"$W/e.json" 2>/dev/null
jcheck unknown_command_json "$W/e.json" '.error.exit_code == 2'

# --- colour only on a terminal (script gives tundctl a pty) ---
if command -v script >/dev/null; then
	TERM=xterm script -qec "ip netns exec $NS $CTL --socket $SOCK status" /dev/null >"$W/tty.out" 2>&1
	check color_on_tty grep -q $'\x1b\\[' "$W/tty.out"
	TERM=xterm NO_COLOR=1 script -qec "ip netns exec $NS $CTL --socket $SOCK status" /dev/null >"$W/tty.out" 2>&1
	check no_color_env bash -c "! grep -q \$'\\x1b' '$W/tty.out'"
	TERM=dumb script -qec "ip netns exec $NS $CTL --socket $SOCK status" /dev/null >"$W/tty.out" 2>&1
	check no_color_dumb_term bash -c "! grep -q \$'\\x1b' '$W/tty.out'"
	TERM=xterm script -qec "ip netns exec $NS $CTL --socket $SOCK --no-color status" /dev/null >"$W/tty.out" 2>&1
	check no_color_option bash -c "! grep -q \$'\\x1b' '$W/tty.out'"
else
	skip color_on_tty "script(1) missing"
fi

# --- watch ends with exit 3 when the helper goes away ---
ip netns exec "$NS" "$CTL" --socket "$SOCK" watch >"$W/watch.out" 2>"$W/watch.err" &
WATCH_PID=$!
T_PIDS+=("$WATCH_PID")
wait_for 5 watchers_is 1
kill "$HELPER_PID"
wait_for 10 bash -c "! kill -0 $WATCH_PID 2>/dev/null"
wait "$WATCH_PID"
rc=$?
if [ "$rc" = 3 ] && grep -q 'closed the connection' "$W/watch.err"; then pass watch_helper_gone_exit3; else fail watch_helper_gone_exit3 "rc=$rc $(cat "$W/watch.err")"; fi
