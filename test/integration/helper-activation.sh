#!/bin/bash
# tund-helperd under socket activation (systemd-socket-activate: named fds, exec on the first
# connection, same pid): started by a connection on either socket, in any fd order, served at
# once, and gone again after the idle period.
. "$(dirname "$0")/lib.sh"

command -v systemd-socket-activate >/dev/null || { skip helper-activation "no systemd-socket-activate"; exit 0; }
helper_test_setup helper-activation ha
mkdir -m 0755 "$R/s1" "$R/s2" "$R/s3"
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }

# activate DIR ORDER...: listens on DIR/<name>.sock in the given order, pid in APID
activate() {
	local dir=$1 names="" args=()
	shift
	for n in "$@"; do
		args+=(-l "$dir/$n.sock")
		names=${names:+$names:}$n
	done
	bg_start systemd-socket-activate "${args[@]}" --fdname="$names" "$H" \
		--tunnel "$R/libexec/tund-tunnel" --tunnel-user nobody --idle-exit 1 >>"$LOG" 2>&1
	APID=$!
	wait_for 5 test -S "$dir/$1.sock" -a -S "$dir/$2.sock"
}

# 1. The first connection on the control socket starts it.
activate "$R/s1" control shim
sleep 0.2
if [ "$(comm_of "$APID")" = systemd-socket- ]; then
	pass helper-activation-waits-for-a-connection
else
	fail helper-activation-waits-for-a-connection "comm $(comm_of "$APID")"
fi
out=$("$C" ctl "$R/s1/control.sock" ping 2>&1)
case "$out" in "pong version="*" pid=$APID "*) pass helper-activated-by-control ;; *) fail helper-activated-by-control "$out" ;; esac
if [ "$(comm_of "$APID")" = tund-helperd ]; then
	pass helper-activation-execs-helper
else
	fail helper-activation-execs-helper "comm $(comm_of "$APID")"
fi
if wait_for 5 sh -c "! kill -0 $APID 2>/dev/null"; then
	wait "$APID"
	rc=$?
	if [ "$rc" = 0 ]; then
		pass helper-activated-idle-exit
	else
		fail helper-activated-idle-exit "status $rc"
	fi
else
	fail helper-activated-idle-exit "still running"
fi

# 2. The first connection on the shim socket starts it, fds passed in the other order, and a
#    whole session runs.
activate "$R/s2" shim control
out=$(ip netns exec "$NS" "$C" shim "$R/s2/shim.sock" --profile act --ifname "tha$$" --stop-after-ms 100 2>&1)
case "$out" in *started*stopped*) pass helper-activated-by-shim-session ;; *) fail helper-activated-by-shim-session "$out" ;; esac
if grep -q 'ready (tunnel .* sockets from systemd)' "$LOG"; then
	pass helper-activation-uses-named-fds
else
	fail helper-activation-uses-named-fds "$(tail -3 "$LOG")"
fi
if wait_for 5 sh -c "! kill -0 $APID 2>/dev/null"; then
	pass helper-activated-idle-exit-after-session
else
	fail helper-activated-idle-exit-after-session "still running"
fi

# 3. Without a socket named "shim" it refuses to start, saying why.
bg_start systemd-socket-activate -l "$R/s3/control.sock" -l "$R/s3/other.sock" --fdname=control:other \
	"$H" --tunnel "$R/libexec/tund-tunnel" --tunnel-user nobody >"$R/s3.log" 2>&1
P=$!
wait_for 5 test -S "$R/s3/control.sock"
"$C" ctl "$R/s3/control.sock" ping >/dev/null 2>&1
wait_for 5 sh -c "! kill -0 $P 2>/dev/null"
if grep -q 'no socket named "shim"' "$R/s3.log"; then
	pass helper-activation-needs-both-names
else
	fail helper-activation-needs-both-names "$(cat "$R/s3.log")"
fi
exit 0
