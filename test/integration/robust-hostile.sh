#!/bin/bash
# Hostile peers against tund-helperd (--listen-dir, in a namespace of ours): a handshake
# trickled one byte per second, a frame begun and never finished, a flood of 3,000
# connections, a shim connection from a non-root uid. The helper stays up, its fds stay
# bounded, and well-behaved clients are served afterwards. Limits: tund-helperd(8) "LIMITS".
. "$(dirname "$0")/lib.sh"

helper_test_setup hostile rh
CTL=$R/sock/control.sock
MAX_CONTROL=2048 # HELPER_CONTROL_MAX_CONNECTIONS

# The helper itself (ip netns exec execs it: $! is the helper's pid).
ip netns exec "$NS" "$H" --listen-dir "$R/sock" --tunnel "$R/libexec/tund-tunnel" \
	--tunnel-user nobody --control-group nogroup --idle-exit 0 >>"$LOG" 2>&1 &
HPID=$!
T_PIDS+=("$HPID")
wait_for 5 test -S "$R/sock/shim.sock" || { fail hostile-setup "helper: $(tail -3 "$LOG")"; exit 1; }

nfds() { ls "/proc/$HPID/fd" 2>/dev/null | wc -l; }
alive() { kill -0 "$HPID" 2>/dev/null; }
ping_ok() { "$C" ctl "$CTL" ping | grep -q '^pong '; }
check hostile-helper-up ping_ok
FDS0=$(nfds)

# The hostile clients: one Python program (hostile-client.py), one mode per case; prints what it saw.
HOSTILE=$TOP/test/integration/hostile-client.py
# --- a slow handshake is cut by the handshake timeout (5 s), a stalled frame by the frame
# timeout (10 s); they run side by side, with 20 slow handshakes to see nothing is held ---
for i in $(seq 20); do
	python3 "$HOSTILE" "$CTL" slow-handshake >"$R/slow-$i.out" 2>&1 &
	T_PIDS+=($!)
done
python3 "$HOSTILE" "$CTL" stall-header >"$R/stall-header.out" 2>&1 &
T_PIDS+=($!)
SH=$!
python3 "$HOSTILE" "$CTL" stall-body >"$R/stall-body.out" 2>&1 &
T_PIDS+=($!)
SB=$!
# all 22 accepted and held for now
wait_for 4 bash -c "[ \$(ls /proc/$HPID/fd | wc -l) -ge $((FDS0 + 22)) ]"
FDS_SLOW=$(nfds)
wait_for 12 bash -c "[ \$(grep -l '^closed after' $R/slow-*.out 2>/dev/null | wc -l) = 20 ]"
out=$(cat "$R/slow-1.out")
secs=$(echo "$out" | sed -n 's/^closed after \([0-9]*\)\..*/\1/p')
if [ -n "$secs" ] && [ "$secs" -ge 4 ] && [ "$secs" -le 7 ]; then
	pass hostile-slow-handshake-cut-by-timeout
else
	fail hostile-slow-handshake-cut-by-timeout "$out"
fi
n=$(grep -l '^closed after' "$R"/slow-*.out | wc -l)
if [ "$n" = 20 ]; then
	pass hostile-slow-handshakes-all-cut
else
	fail hostile-slow-handshakes-all-cut "$n of 20"
fi
if grep -q 'Control client pid [0-9]* closed: control peer sent no handshake in time' "$LOG"; then
	pass hostile-slow-handshake-logged
else
	fail hostile-slow-handshake-logged "$(tail -3 "$LOG")"
fi
check hostile-served-during-slow-clients ping_ok

wait "$SH" "$SB"
for c in header body; do
	out=$(cat "$R/stall-$c.out")
	secs=$(echo "$out" | sed -n 's/^closed after \([0-9]*\)\..*/\1/p')
	if [ -n "$secs" ] && [ "$secs" -ge 9 ] && [ "$secs" -le 13 ]; then
		pass "hostile-stalled-frame-$c-cut-by-frame-timeout"
	else
		fail "hostile-stalled-frame-$c-cut-by-frame-timeout" "$out"
	fi
done
if grep -q 'closed: control peer stalled in a frame (1000 of 1048576 bytes in 10000 ms)' "$LOG"; then
	pass hostile-stalled-frame-logged
else
	fail hostile-stalled-frame-logged "$(tail -3 "$LOG")"
fi
wait_for 5 bash -c "[ \$(ls /proc/$HPID/fd | wc -l) -le $FDS0 ]"
FDS_AFTER=$(nfds)
if [ "$FDS_AFTER" -le "$FDS0" ]; then
	pass hostile-slow-clients-hold-nothing-after
else
	fail hostile-slow-clients-hold-nothing-after "fds: $FDS0 before, $FDS_SLOW during, $FDS_AFTER after"
fi
echo "fds: before $FDS0, with 22 slow clients $FDS_SLOW, after $FDS_AFTER"

# --- a flood of 3,000 connections meets the limit, not the fd limit ---
coproc FLOOD { python3 "$HOSTILE" "$CTL" flood 3000 2>&1; }
FLOOD_PID_=$FLOOD_PID
T_PIDS+=("$FLOOD_PID_")
read -r -t 30 flood_line <&"${FLOOD[0]}"
echo "flood: $flood_line"
held=$(echo "$flood_line" | sed -n 's/.* held=\([0-9]*\) .*/\1/p')
FDS_FLOOD=$(nfds)
if alive; then
	pass hostile-flood-helper-up
else
	fail hostile-flood-helper-up "helper died: $(tail -3 "$LOG")"
fi
if [ "$held" = "$MAX_CONTROL" ]; then
	pass hostile-flood-meets-connection-limit
else
	fail hostile-flood-meets-connection-limit "$flood_line"
fi
if [ "$FDS_FLOOD" -le $((MAX_CONTROL + FDS0 + 8)) ]; then
	pass hostile-flood-fds-bounded
else
	fail hostile-flood-fds-bounded "$FDS_FLOOD fds with $held connections held"
fi
echo "helper fds during the flood: $FDS_FLOOD (limit $MAX_CONTROL control connections)"
# At the limit a newcomer is closed at once: it fails fast, it does not hang.
t0=$(date +%s%N)
out=$("$C" ctl "$CTL" ping 2>&1)
ms=$((($(date +%s%N) - t0) / 1000000))
if ! echo "$out" | grep -q '^pong' && [ "$ms" -lt 3000 ]; then
	pass hostile-flood-newcomer-refused-fast
else
	fail hostile-flood-newcomer-refused-fast "$out after $ms ms"
fi
echo release >&"${FLOOD[1]}"
read -r -t 30 done_line <&"${FLOOD[0]}"
wait "$FLOOD_PID_" 2>/dev/null
if wait_for 10 ping_ok; then
	pass hostile-served-after-flood
else
	fail hostile-served-after-flood "$("$C" ctl "$CTL" ping 2>&1)"
fi
if wait_for 10 bash -c "[ \$(ls /proc/$HPID/fd | wc -l) -le $FDS0 ]"; then
	pass hostile-flood-fds-released
else
	fail hostile-flood-fds-released "$(nfds) fds, $FDS0 before"
fi
out=$("$C" ctl "$CTL" status)
if echo "$out" | grep -q '^helper pid=[0-9]* sessions=0 clients=1 '; then
	pass hostile-flood-clients-forgotten
else
	fail hostile-flood-clients-forgotten "$out"
fi
grep '^VmHWM' "/proc/$HPID/status" | sed 's/^/helper after the flood: /'

# --- the shim socket: a non-root uid is refused per connection (not only by the mode) ---
chmod 0666 "$R/sock/shim.sock" # only to reach the per-connection check
CN=$(trusted_copy "$C") || { fail hostile-setup "cannot copy $C"; exit 1; } # nobody can run it
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CN" shim-hello "$R/sock/shim.sock" 2>&1)
chmod 0600 "$R/sock/shim.sock"
if echo "$out" | grep -q '^refused' && grep -q 'Refusing shim connection from pid [0-9]* uid 65534' "$LOG"; then
	pass hostile-shim-non-root-refused
else
	fail hostile-shim-non-root-refused "$out"
fi
check hostile-helper-still-up ping_ok

# --- and it exits cleanly (under ASan: no leak at exit either) ---
kill -TERM "$HPID"
rc=0
wait "$HPID" || rc=$?
if [ "$rc" = 0 ]; then
	pass hostile-helper-clean-exit
else
	fail hostile-helper-clean-exit "exit status $rc: $(tail -5 "$LOG")"
fi
exit 0
