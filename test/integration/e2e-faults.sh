#!/bin/bash
# Fault injection: SIGKILL of the shim, the helper, tund-tunnel and wireguard-go, each while
# starting, running and stopping. After each, once the cleanup systemd would run has run
# (ExecStopPost= --cleanup; the helper restarted on the next connection), nothing is left —
# link, address, route, rule, DNS setting, socket, process — and the VPN comes back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"

if ! e2e_setup ft; then fail setup "could not build the namespaces"; exit 1; fi
e2e_default_route
# A full tunnel with full DNS: its policy rules and DNS settings are what outlive a link.
e2e_profile ft "DNS = 192.0.2.1, corp.example" "0.0.0.0/0, ::/0"
BASE=$(e2e_dump)
e2e_helper_start || { fail setup "helper"; exit 1; }

# The process itself: not a short-lived `wireguard-go --version` run by a version check (the
# engine proper runs as `wireguard-go -f tund-ft`).
pid_of() {
	cns ps -e -o pid=,comm=,args= | awk -v c="$1" '$2 == c && !/--version/ &&
		(c != "wireguard-go" || / tund-ft$/) { print $1; exit }'
}
# Kill the target, retrying while it is not there yet or exits under our hands.
kill_in() {
	local p i
	for ((i = 0; i < 400; i++)); do
		p=$(pid_of "$1")
		[ -n "$p" ] && cns kill -9 "$p" 2>/dev/null && return 0
		sleep 0.005
	done
	return 1
}
helper_alive() { [ -n "$(pid_of tund-helperd)" ]; }
wait_gone() { wait_for 10 bash -c "[ -z \"\$(cns ps -e -o comm= | grep -x '$1')\" ]"; }

# What systemd would do after the failure: ExecStopPost= of tund@.service, and a helper
# that is started again by the next connection to its socket.
recover() {
	wait "${SHIM_PID[ft]}" 2>/dev/null
	cns "$B/tund-netshimd" --cleanup --config-dir "$W/etc" ft >>"$W/cleanup.log" 2>&1
	helper_alive || e2e_helper_start
}

clean_after() { # CASE
	local now
	# an orphaned engine exits once its UAPI socket file is gone: allow it a moment
	if wait_for 10 bash -c '[ "$(e2e_dump)" = "$BASE" ]' 2>/dev/null || [ "$(e2e_dump)" = "$BASE" ]; then
		pass "$1_nothing_left"
	else
		now=$(e2e_dump)
		fail "$1_nothing_left" "$(diff <(echo "$BASE") <(echo "$now") | head -6 | tr '\n' ' ')"
	fi
}
export BASE
export -f e2e_dump ns_dump

comes_back() { # CASE
	e2e_shim_start ft
	if wait_for 20 e2e_ready ft && cns ping -c 1 -W 3 203.0.113.1 >/dev/null; then
		pass "$1_comes_back"
	else
		fail "$1_comes_back" "$(tail -3 "$W/shim-ft.log" | tr '\n' ' ')"
	fi
	e2e_shim_stop ft
	[ "$E2E_RC" = 0 ] || fail "$1_clean_stop_after" "exit $E2E_RC"
}

# kill_case TARGET PHASE
kill_case() {
	local target=$1 phase=$2 name="kill_${1//-/_}_$2" i
	: >"$W/notify-ft"
	e2e_shim_start ft
	case $phase in
	starting)
		# as soon as the target exists, before READY=1; the helper once the shim reached it (a
		# helper killed before the shim connects is just not there yet: the shim waits for it,
		# as it must, and nothing ends — a slow start, under ASan say, hit exactly that)
		[ "$target" = tund-helperd ] &&
			wait_for 20 grep -qE 'STATUS=(connecting to|starting the tunnel)' "$W/notify-ft"
		kill_in "$target" || fail "${name}_setup" "never saw $target" ;;
	running)
		wait_for 20 e2e_ready ft || fail "${name}_setup" "not ready"
		cns ping -c 1 -W 3 203.0.113.1 >/dev/null
		kill_in "$target" ;;
	stopping)
		wait_for 20 e2e_ready ft || fail "${name}_setup" "not ready"
		e2e_shim_kill ft TERM
		kill_in "$target" ;;
	esac
	# the shim must end by itself (revert and exit) unless it was the victim
	local pid=${SHIM_PID[ft]}
	if wait_for 20 bash -c "! kill -0 $pid 2>/dev/null"; then pass "${name}_shim_ends"; else
		fail "${name}_shim_ends" "still running"
		e2e_shim_kill ft KILL
	fi
	recover
	clean_after "$name"
	comes_back "$name"
}

for phase in starting running stopping; do
	for target in tund-netshimd tund-helperd tund-tunnel wireguard-go; do
		kill_case "$target" "$phase"
	done
done

# --- every pending tundctl call ends in an error within its timeout ---
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
e2e_shim_start ft
wait_for 20 e2e_ready ft || fail pending_setup "not ready"
# a watch open when the helper dies ends at once: "not running" (3)
nsenter -t "$RNS_PID" -n -m -p -- "$B/tundctl" --socket /run/tund/control.sock watch >/dev/null 2>&1 &
WP=$!
sleep 0.5
t0=$(date +%s%N)
kill_in tund-helperd
wait "$WP"
rc=$?
dt=$(ms_since "$t0")
if [ "$rc" = 3 ] && [ "$dt" -lt 5000 ]; then pass pending_watch_ends_when_helper_killed; else
	fail pending_watch_ends_when_helper_killed "exit $rc after $dt ms"
fi
recover
clean_after pending_helper_killed

# a request relayed to a hung tunnel (SIGSTOP) fails by the client's timeout, not a hang
e2e_shim_start ft
wait_for 20 e2e_ready ft || fail pending_setup2 "not ready"
TP=$(pid_of tund-tunnel)
cns kill -STOP "$TP"
t0=$(date +%s%N)
out=$(ctl --timeout 3 peers 2>&1)
rc=$?
dt=$(ms_since "$t0")
cns kill -CONT "$TP"
if [ "$rc" != 0 ] && [ "$dt" -lt 6000 ]; then pass pending_peers_hung_tunnel_times_out; else
	fail pending_peers_hung_tunnel_times_out "exit $rc after $dt ms: $out"
fi
case "$out" in *"no answer from tund-helperd within 3.0 s"*) pass pending_error_says_why ;;
*) fail pending_error_says_why "$out" ;; esac
check helper_still_answers ctl status
e2e_shim_stop ft
if [ "$E2E_RC" = 0 ]; then pass pending_clean_stop; else fail pending_clean_stop "exit $E2E_RC"; fi
clean_after pending_hung_tunnel
