#!/bin/bash
# tund-helperd started with Debian's and systemd's default soft fd limit (1,024) starts a session
# while 1,100 control clients are connected, so that the fds it hands the tunnel are numbered
# above that limit. The spawn child used to restore the 1,024 limit before it moved those fds
# and failed "at setting up the fd map: Too many open files". Also checks that the limits are
# the deliberate ones: the helper's soft limit raised to its hard limit, the tunnel's the 1,024
# the helper was given.
. "$(dirname "$0")/lib.sh"

L=$B/test/helpers/robust-load
helper_test_setup nofile nf "$L"
N=1100
IF=tn$$

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((N + 200)) ]; then
	fail nofile-setup "the hard fd limit is $hard: this test needs $((N + 200))"
	exit 1
fi
(
	ulimit -Sn 1024
	exec ip netns exec "$NS" "$H" --listen-dir "$R/sock" --tunnel "$R/libexec/tund-tunnel" \
		--tunnel-user nobody --control-group nogroup --idle-exit 0 --stop-timeout 2
) >>"$LOG" 2>&1 &
HPID=$!
T_PIDS+=("$HPID")
wait_for 5 test -S "$R/sock/shim.sock" || { fail nofile-setup "helper: $(tail -3 "$LOG")"; exit 1; }
soft_of() { awk '/^Max open files/ {print $4}' "/proc/$1/limits"; }

s=$(soft_of "$HPID")
if [ "$s" = "$hard" ]; then
	pass nofile-helper-raised-soft-to-hard
else
	fail nofile-helper-raised-soft-to-hard "soft limit $s, hard $hard"
fi

# 1,100 clients with a request always in flight, for long enough to start a session.
"$L" "$R/sock/control.sock" --clients "$N" --watchers 0 --stalled 0 --seconds 10 \
	>"$R/load.out" 2>"$R/load.err" &
LPID=$!
T_PIDS+=("$LPID")
wait_for 20 grep -q '^running' "$R/load.out" || { fail nofile-clients "$(cat "$R/load.err")"; exit 1; }
# "running" means every connect() returned, which a listen backlog allows before the helper has
# accepted them all: wait until it holds them (on a slow machine that takes a moment).
nfds() { ls "/proc/$HPID/fd" | wc -l; }
if wait_for 20 bash -c "[ \$(ls /proc/$HPID/fd | wc -l) -gt $((N + 3)) ]"; then
	pass nofile-helper-holds-over-1024-fds
else
	fail nofile-helper-holds-over-1024-fds "$(nfds) fds open"
fi

ip netns exec "$NS" "$C" shim "$R/sock/shim.sock" --profile nf --ifname "$IF" \
	--stop-after-ms 1500 >"$R/shim.out" 2>&1 &
SP=$!
T_PIDS+=("$SP")
if wait_for 15 grep -q '^started' "$R/shim.out"; then
	pass nofile-session-starts-with-1100-clients
	tp=$(sed -n 's/^started tunnel_pid=\([0-9]*\).*/\1/p' "$R/shim.out")
	s=$(soft_of "$tp")
	if [ "$s" = 1024 ]; then
		pass nofile-tunnel-gets-original-limit
	else
		fail nofile-tunnel-gets-original-limit "tunnel pid $tp soft limit $s"
	fi
	# The fd map the tunnel was given (3 channel, 4 TUN, 5 UAPI), and nothing numbered high.
	top=$(ls "/proc/$tp/fd" | sort -n | tail -1)
	if [ "$(readlink "/proc/$tp/fd/4")" = /dev/net/tun ] && [ "$top" -lt 16 ] &&
		readlink "/proc/$tp/fd/3" | grep -q '^socket:' &&
		readlink "/proc/$tp/fd/5" | grep -q '^socket:'; then
		pass nofile-tunnel-fd-map
	else
		fail nofile-tunnel-fd-map "tunnel fds: $(ls -l "/proc/$tp/fd" | tail -n +2 | tr '\n' ' ')"
	fi
else
	fail nofile-session-starts-with-1100-clients "$(cat "$R/shim.out") $(grep -i spawn "$LOG" | tail -2)"
fi
wait "$SP"
if grep -q '^stopped' "$R/shim.out"; then
	pass nofile-session-stops
else
	fail nofile-session-stops "$(cat "$R/shim.out")"
fi
rc=0
wait "$LPID" || rc=$?
sc=$(grep '^calls=' "$R/load.out")
echo "load: $sc"
if [ "$rc" = 0 ] && [[ "$sc" == *" failed=0 lost=0 not_ready=0 "* ]]; then
	pass nofile-clients-served
else
	fail nofile-clients-served "exit $rc: $sc $(head -3 "$R/load.err")"
fi
kill -TERM "$HPID"
rc=0
wait "$HPID" || rc=$?
if [ "$rc" = 0 ]; then
	pass nofile-helper-clean-exit
else
	fail nofile-helper-clean-exit "exit status $rc: $(tail -5 "$LOG")"
fi
exit 0
