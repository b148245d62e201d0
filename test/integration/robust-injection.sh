#!/bin/bash
# Text from peers is inert (ARCHITECTURE.md; issue 15, item 5). A tunnel (the fake, with
# FAKE_TUNNEL_TEXT) sends "x\nREADY=1\nMAINPID=1" and an ANSI escape as its peer's endpoint,
# a warning, its start error and the log line it exits with; the real tund-helperd relays them
# to the real tund-netshimd (its NOTIFY_SOCKET captured) and to tundctl. No notification gets
# a READY=1 or MAINPID= line from that text, every log line stays one line, and no ESC byte
# reaches STATUS=, a log, or tundctl's human output; --json escapes it faithfully.
. "$(dirname "$0")/lib.sh"

helper_test_setup inj ri "$B/tund-netshimd" "$B/tundctl"
HOSTILE=$'x\nREADY=1\nMAINPID=1\n\e[31mred\e[0m'
SANE='x?READY=1?MAINPID=1??[31mred?[0m' # what every sink shows instead
ESC=$'\e'
mkdir -m 0700 "$R/etc" "$R/state" "$R/wg"
IF=tri$$

# The helper in our namespace (ip netns exec execs it), logging to stderr ($LOG).
ip netns exec "$NS" env TUND_LOG_STDERR=1 FAKE_TUNNEL_TEXT="$HOSTILE" \
	FAKE_TUNNEL_MODE_exit=exit FAKE_TUNNEL_MODE_serr=start-error \
	"$H" --listen-dir "$R/sock" --tunnel "$R/libexec/tund-tunnel" --tunnel-user nobody \
	--control-group nogroup --idle-exit 0 >>"$LOG" 2>&1 &
T_PIDS+=($!)
wait_for 5 test -S "$R/sock/shim.sock" || { fail inj-setup "helper: $(tail -3 "$LOG")"; exit 1; }

ctl() { "$B/tundctl" --socket "$R/sock/control.sock" --config-dir "$R/etc" "$@"; }

profile() { # NAME LETTER: a profile whose interface is $IF<LETTER>
	cat >"$R/etc/$1.conf" <<CONF
[Interface]
PrivateKey = $(wg genkey)
Address = 192.0.2.2/32

[Peer]
PublicKey = $(wg genkey | wg pubkey)
Endpoint = 203.0.113.1:51820
AllowedIPs = 198.51.100.0/24

[Tund]
InterfaceName = $IF$2
CONF
	chmod 600 "$R/etc/$1.conf"
}

# shim NAME: tund-netshimd for profile NAME; notifications in $R/NAME.notify (one datagram a
# line, fields joined by '|'), its log in $R/NAME.log, its pid in SHIM_PID.
shim() {
	notify_listen "$R/$1.sock" "$R/$1.notify" || { fail "inj-$1-setup" "notify socket"; return 1; }
	NOTIFY_SOCKET="$R/$1.sock" ip netns exec "$NS" "$B/tund-netshimd" --config-dir "$R/etc" \
		--shim-socket "$R/sock/shim.sock" --state-dir "$R/state" --uapi-dir "$R/wg" \
		--engine-group "" --start-timeout 10 "$1" >"$R/$1.log" 2>&1 &
	SHIM_PID=$!
	T_PIDS+=("$SHIM_PID")
}

# no_esc NAME FILE: no ESC byte in FILE.
no_esc() {
	if grep -q "$ESC" "$2"; then fail "$1" "ESC in $2: $(grep -n "$ESC" "$2" | head -3 | cat -v)"; else pass "$1"; fi
}
# one_line_each NAME FILE: no line of FILE is the rest of a line the hostile text split.
one_line_each() {
	if grep -Eq "^(READY=1|MAINPID=|$ESC)" "$2"; then
		fail "$1" "split lines in $2: $(grep -En "^(READY=1|MAINPID=|$ESC)" "$2" | head -3 | cat -v)"
	else
		pass "$1"
	fi
}
# notify_clean NAME FILE READY: no MAINPID= field in any datagram, READY=1 fields only in the
# shim's own "READY=1|STATUS=running on ..." (READY: how many of those there must be).
notify_clean() {
	local bad ready
	bad=$(awk -F'|' '{ for (i = 1; i <= NF; i++) if ($i ~ /^MAINPID=/ || ($i == "READY=1" && !(i == 1 && $2 ~ /^STATUS=running on /))) print NR": "$0 }' "$2")
	ready=$(grep -c '^READY=1|STATUS=running on ' "$2")
	if [ -z "$bad" ] && [ "$ready" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "$ready genuine READY=1, injected: $(echo "$bad" | head -3 | cat -v)"
	fi
}
# has NAME FILE TEXT: FILE contains TEXT (the hostile text arrived, in its inert form).
has() { if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "no '$3' in $2: $(tail -3 "$2" | cat -v)"; fi; }

profile run a
profile exit b
profile serr c

# A watcher sees every event of every session.
ctl watch >"$R/watch.out" 2>&1 &
WATCH_PID=$!
T_PIDS+=("$WATCH_PID")
wait_for 5 grep -q '^Watching' "$R/watch.out"

# --- a running session: its endpoint and warning are the hostile text ---
shim run || exit 1
if wait_for 15 grep -q '^STATUS=connected to ' "$R/run.notify"; then pass inj-run-status-updated; else
	fail inj-run-status-updated "$(cat -v "$R/run.notify" | tail -3) $(tail -3 "$R/run.log")"
fi
notify_clean inj-run-notify-no-injected-lines "$R/run.notify" 1
no_esc inj-run-notify-no-esc "$R/run.notify"
has inj-run-status-shows-endpoint-inert "$R/run.notify" "STATUS=connected to $SANE, handshake"

ctl status >"$R/status.out" 2>&1
no_esc inj-tundctl-status-no-esc "$R/status.out"
one_line_each inj-tundctl-status-one-line-each "$R/status.out"
has inj-tundctl-status-endpoint-inert "$R/status.out" "$SANE"
has inj-tundctl-status-last-error-inert "$R/status.out" "run: warning: last error: $SANE"
ctl status run >"$R/detail.out" 2>&1
no_esc inj-tundctl-detail-no-esc "$R/detail.out"
one_line_each inj-tundctl-detail-one-line-each "$R/detail.out"
has inj-tundctl-detail-endpoint-inert "$R/detail.out" "endpoint $SANE, handshake"
ctl peers >"$R/peers.out" 2>&1
no_esc inj-tundctl-peers-no-esc "$R/peers.out"
one_line_each inj-tundctl-peers-one-line-each "$R/peers.out"
has inj-tundctl-peers-endpoint-inert "$R/peers.out" "$SANE"
# --json: one line of valid JSON that gives back the endpoint exactly, the stored error inert
ctl status --json run >"$R/status.json" 2>&1
no_esc inj-tundctl-json-no-esc "$R/status.json"
# shellcheck disable=SC2016 # $names in the jq program are jq's
jcheck inj-tundctl-json-escapes "$R/status.json" 'endswith("\n") and (indices("\n") | length) == 1 and
	(fromjson | .sessions[0] | .peers[0].endpoint == $ep and .last_error == $err)' \
	-R -s --arg ep "$HOSTILE" --arg err "$SANE"

kill -TERM "$SHIM_PID"
wait "$SHIM_PID"
rc=$?
if [ "$rc" = 0 ]; then
	pass inj-run-stops-cleanly
else
	fail inj-run-stops-cleanly "exit $rc: $(tail -3 "$R/run.log")"
fi

# --- a tunnel that exits with the hostile text as its last word: TunnelExited.reason ---
shim exit || exit 1
wait "$SHIM_PID"
rc=$?
if [ "$rc" = 1 ]; then
	pass inj-exit-shim-fails
else
	fail inj-exit-shim-fails "exit $rc: $(tail -3 "$R/exit.log")"
fi
notify_clean inj-exit-notify-no-injected-lines "$R/exit.notify" 1
no_esc inj-exit-notify-no-esc "$R/exit.notify"
has inj-exit-status-reason-inert "$R/exit.notify" "STATUS=failed: the tunnel exited with status 2: $SANE"
no_esc inj-exit-shim-log-no-esc "$R/exit.log"
one_line_each inj-exit-shim-log-one-line-each "$R/exit.log"
has inj-exit-shim-log-reason-inert "$R/exit.log" "exit: the tunnel exited with status 2: $SANE"

# --- a tunnel that refuses to start with the hostile text: the StartSession error, relayed
# by the helper as the tunnel sent it (the shim alone must make it inert) ---
shim serr || exit 1
wait "$SHIM_PID"
rc=$?
if [ "$rc" = 1 ]; then
	pass inj-serr-shim-fails
else
	fail inj-serr-shim-fails "exit $rc: $(tail -3 "$R/serr.log")"
fi
notify_clean inj-serr-notify-no-injected-lines "$R/serr.notify" 0
no_esc inj-serr-notify-no-esc "$R/serr.notify"
has inj-serr-status-error-inert "$R/serr.notify" "STATUS=failed: the session did not start: $SANE"
no_esc inj-serr-shim-log-no-esc "$R/serr.log"
one_line_each inj-serr-shim-log-one-line-each "$R/serr.log"
has inj-serr-shim-log-error-inert "$R/serr.log" "serr: the session did not start: $SANE"

# --- the helper's log and the watcher's lines ---
kill "$WATCH_PID" 2>/dev/null
wait "$WATCH_PID" 2>/dev/null
no_esc inj-helper-log-no-esc "$LOG"
one_line_each inj-helper-log-one-line-each "$LOG"
has inj-helper-log-tunnel-text-inert "$LOG" "tunnel: $SANE"
no_esc inj-tundctl-watch-no-esc "$R/watch.out"
one_line_each inj-tundctl-watch-one-line-each "$R/watch.out"
has inj-tundctl-watch-log-inert "$R/watch.out" "log warning: $SANE"
