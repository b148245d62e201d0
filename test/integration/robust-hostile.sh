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

# The hostile clients: one Python program, one mode per case; prints what it saw.
cat >"$R/hostile.py" <<'EOF'
import os, resource, select, socket, struct, sys, time

path, mode = sys.argv[1], sys.argv[2]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

def wait_eof(s, limit):
    """Seconds until the peer closed (reading and discarding its bytes), or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            try:
                if not s.recv(4096):
                    return time.monotonic() - t0
            except ConnectionResetError:
                return time.monotonic() - t0
    return None

if mode == "slow-handshake":
    # "tund ctl 1.0\n", one byte per second: 13 s if nobody cut it short.
    s, line, t0 = connect(), b"tund ctl 1.0\n", time.monotonic()
    for i in range(len(line)):
        try:
            s.send(line[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            break
        if wait_eof(s, 1.0) is not None:
            break
    else:
        print("completed the line: not cut"); sys.exit(1)
    print("closed after %.1f s, %d of %d bytes sent" % (time.monotonic() - t0, i + 1, len(line)))
elif mode in ("stall-header", "stall-body"):
    s = connect()
    s.sendall(b"tund ctl 1.0\n")
    t0 = time.monotonic()
    if mode == "stall-header":
        s.sendall(b"\x00\x10")                            # half a header
    else:
        s.sendall(struct.pack(">I", 1 << 20) + b"x" * 1000)  # 1 MiB announced, 1000 bytes sent
    dt = wait_eof(s, 30)
    print("closed after %.1f s" % dt if dt is not None else "still open after 30 s")
elif mode == "flood":
    # N connections at once, each says its handshake line and then stays (a patient watcher
    # would look the same); counts those the helper closed at once. Then waits for "release"
    # on stdin and closes them all.
    n = int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    socks, refused = [], 0
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            pass  # backlog full: counts as in flight
        except OSError:
            refused += 1; s.close(); continue
        socks.append(s)
    for s in socks:
        try:
            s.send(b"tund ctl 1.0\n")
        except OSError:
            pass
    time.sleep(2)
    closed = 0
    for s in socks:
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    closed += 1; break
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print("connections=%d held=%d closed=%d refused=%d" % (n, n - closed - refused, closed, refused),
          flush=True)
    sys.stdin.readline()
    for s in socks:
        s.close()
    print("released", flush=True)
EOF

# --- a slow handshake is cut by the handshake timeout (5 s), a stalled frame by the frame
# timeout (10 s); they run side by side, with 20 slow handshakes to see nothing is held ---
for i in $(seq 20); do
	python3 "$R/hostile.py" "$CTL" slow-handshake >"$R/slow-$i.out" 2>&1 &
	T_PIDS+=($!)
done
python3 "$R/hostile.py" "$CTL" stall-header >"$R/stall-header.out" 2>&1 &
T_PIDS+=($!)
SH=$!
python3 "$R/hostile.py" "$CTL" stall-body >"$R/stall-body.out" 2>&1 &
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
[ "$n" = 20 ] && pass hostile-slow-handshakes-all-cut || fail hostile-slow-handshakes-all-cut "$n of 20"
grep -q 'Control client pid [0-9]* closed: control peer sent no handshake in time' "$LOG" &&
	pass hostile-slow-handshake-logged || fail hostile-slow-handshake-logged "$(tail -3 "$LOG")"
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
grep -q 'closed: control peer stalled in a frame (1000 of 1048576 bytes in 10000 ms)' "$LOG" &&
	pass hostile-stalled-frame-logged || fail hostile-stalled-frame-logged "$(tail -3 "$LOG")"
wait_for 5 bash -c "[ \$(ls /proc/$HPID/fd | wc -l) -le $FDS0 ]"
FDS_AFTER=$(nfds)
[ "$FDS_AFTER" -le "$FDS0" ] && pass hostile-slow-clients-hold-nothing-after ||
	fail hostile-slow-clients-hold-nothing-after "fds: $FDS0 before, $FDS_SLOW during, $FDS_AFTER after"
echo "fds: before $FDS0, with 22 slow clients $FDS_SLOW, after $FDS_AFTER"

# --- a flood of 3,000 connections meets the limit, not the fd limit ---
coproc FLOOD { python3 "$R/hostile.py" "$CTL" flood 3000 2>&1; }
FLOOD_PID_=$FLOOD_PID
T_PIDS+=("$FLOOD_PID_")
read -r -t 30 flood_line <&"${FLOOD[0]}"
echo "flood: $flood_line"
held=$(echo "$flood_line" | sed -n 's/.* held=\([0-9]*\) .*/\1/p')
FDS_FLOOD=$(nfds)
alive && pass hostile-flood-helper-up || fail hostile-flood-helper-up "helper died: $(tail -3 "$LOG")"
[ "$held" = "$MAX_CONTROL" ] && pass hostile-flood-meets-connection-limit ||
	fail hostile-flood-meets-connection-limit "$flood_line"
[ "$FDS_FLOOD" -le $((MAX_CONTROL + FDS0 + 8)) ] && pass hostile-flood-fds-bounded ||
	fail hostile-flood-fds-bounded "$FDS_FLOOD fds with $held connections held"
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
wait_for 10 ping_ok && pass hostile-served-after-flood || fail hostile-served-after-flood "$("$C" ctl "$CTL" ping 2>&1)"
wait_for 10 bash -c "[ \$(ls /proc/$HPID/fd | wc -l) -le $FDS0 ]" &&
	pass hostile-flood-fds-released || fail hostile-flood-fds-released "$(nfds) fds, $FDS0 before"
out=$("$C" ctl "$CTL" status)
echo "$out" | grep -q '^helper pid=[0-9]* sessions=0 clients=1 ' && pass hostile-flood-clients-forgotten ||
	fail hostile-flood-clients-forgotten "$out"
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
[ "$rc" = 0 ] && pass hostile-helper-clean-exit || fail hostile-helper-clean-exit "exit status $rc: $(tail -5 "$LOG")"
exit 0
