#!/bin/bash
# tund-helperd with a fake tunnel (test/helpers/helperd-fake-tunnel) and a test client acting as
# shim or admin tool: sessions, policies, the child's fd table and identity, failures, watch,
# SIGTERM and idle exit. Started directly with --listen-dir; systemd-socket-activate is in
# helper-activation.sh.
. "$(dirname "$0")/lib.sh"

helper_test_setup helper h
mkdir -m 1777 "$R/dump" # the fake tunnel (as nobody) writes what it was given here
IF=th$$ # interface names: th<pid><letter>, at most 15 characters

ctl() { "$C" ctl "$R/sock/control.sock" "$@"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
CN=$(trusted_copy "$C") || { fail helper-setup "cannot copy $C"; exit 1; } # nobody can run it

# shim NAME ARGS...: a shim client in our namespace, output in $R/shim-NAME.out, pid in SHIM_PID[NAME]
declare -gA SHIM_PID=()
shim() {
	local name=$1
	shift
	ip netns exec "$NS" "$C" shim "$R/sock/shim.sock" "$@" >"$R/shim-$name.out" 2>&1 &
	T_PIDS+=($!)
	SHIM_PID[$name]=$!
}
started() { grep -q '^started' "$R/shim-$1.out"; }
tunnel_pid() { sed -n 's/^started tunnel_pid=\([0-9]*\).*/\1/p' "$R/shim-$1.out"; }
gone() { [ ! -e "/proc/$1" ]; }
zombies() { ps -o stat= --ppid "$HPID" | grep -c '^Z' || true; }
fds_of() { ls "/proc/$1/fd" | sort -n | tr '\n' ' '; }

start_helper() {
	rm -f "$R/sock/"*.sock
	bg_start env FAKE_TUNNEL_DUMP="$R/dump" FAKE_TUNNEL_MODE_crash=kill9 \
		FAKE_TUNNEL_MODE_exit=exit FAKE_TUNNEL_MODE_serr=start-error \
		FAKE_TUNNEL_MODE_scrash=start-crash FAKE_TUNNEL_MODE_hang=hang \
		FAKE_TUNNEL_MODE_stubborn=stubborn FAKE_TUNNEL_MODE_nostop=nostop \
		FAKE_TUNNEL_BURST=500 \
		"$H" --listen-dir "$R/sock" --tunnel "$R/libexec/tund-tunnel" --tunnel-user nobody \
		--control-group nogroup --start-timeout 3 --stop-timeout 1 "$@" >>"$LOG" 2>&1
	HPID=$!
	wait_for 5 test -S "$R/sock/shim.sock"
}

start_helper --idle-exit 0 || { fail helper-start "no sockets: $(tail -3 "$LOG")"; exit 1; }

# --- sockets and the control API ---
check helper-listen-dir-modes test "$(stat -c '%a %U %G' "$R/sock/control.sock") $(stat -c '%a %U %G' "$R/sock/shim.sock")" \
	= "660 root nogroup 600 root root"
check helper-ping ctl ping
out=$(as_nobody "$CN" ctl "$R/sock/control.sock" status 2>&1)
case "$out" in "helper pid=$HPID "*) pass helper-policy-group-may-read ;; *) fail helper-policy-group-may-read "$out" ;; esac

# --- a session ---
fds_before=$(fds_of "$HPID")
shim a --profile a --ifname "${IF}a"
if wait_for 10 started a; then pass helper-start-session; else fail helper-start-session "$(cat "$R/shim-a.out")"; fi
TA=$(tunnel_pid a)
if grep -q '^apply addresses=1 mtu=1420' "$R/shim-a.out"; then
	pass helper-settings-relayed-to-shim
else
	fail helper-settings-relayed-to-shim "$(cat "$R/shim-a.out")"
fi
st=$(ctl status a)
if echo "$st" | grep -q "session profile=a ifname=${IF}a state=1 .*tunnel_pid=$TA .*engine_version=fake-1.0 applied_ifname=${IF}a addresses=1 peers=1"; then
	pass helper-status-session
else
	fail helper-status-session "$st"
fi

D=$R/dump/tunnel-$TA.txt
if [ -n "$TA" ] && [ -f "$D" ]; then
	check helper-child-fd-table grep -qx 'fds=0,1,2,3,4,5' "$D"
	check helper-child-fds-are-tun-and-uapi grep -q "tun_ifname=${IF}a" "$D"
	check helper-child-uapi-listening grep -qx 'uapi_listening=1' "$D"
	check helper-child-runs-as-tunnel-user grep -qP '^Uid:\t65534\t65534\t65534\t65534' "$D"
	check helper-child-groups grep -qP '^Groups:\t65534 ?$' "$D"
	check helper-child-no-new-privs grep -qP '^NoNewPrivs:\t1' "$D"
	# No capability at all, none to regain: effective, permitted, inheritable, ambient, bounding.
	check helper-child-no-capabilities sh -c "[ \$(grep -cP '^Cap(Eff|Prm|Inh|Amb|Bnd):\t0{16}$' '$D') = 5 ]"
	check helper-child-default-signals grep -qP '^SigBlk:\t0+$' "$D"
	check helper-child-no-ignored-signals sh -c "grep SigIgn '$D'; grep -qP '^SigIgn:\t0+$' '$D'"
else
	fail helper-child-fd-table "no dump for tunnel pid '$TA'"
fi

out=$(ctl peers a)
if echo "$out" | grep -q 'peer profile=a key=xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= endpoint=192.0.2.1:51820'; then
	pass helper-ctl-peers
else
	fail helper-ctl-peers "$out"
fi
out=$(ctl peers nosuch)
if echo "$out" | grep -q '^error code=4 '; then
	pass helper-ctl-peers-unknown
else
	fail helper-ctl-peers-unknown "$out"
fi

shim a2 --profile a --ifname "${IF}x"
wait_for 10 grep -q 'start-error' "$R/shim-a2.out"
if grep -q '^start-error code=5 msg=a session for profile a already exists' "$R/shim-a2.out"; then
	pass helper-second-session-same-profile-exists
else
	fail helper-second-session-same-profile-exists "$(cat "$R/shim-a2.out")"
fi

shim b --profile b --ifname "${IF}b" --get-peers
if wait_for 10 started b; then
	pass helper-two-concurrent-sessions
else
	fail helper-two-concurrent-sessions "$(cat "$R/shim-b.out")"
fi
if wait_for 5 grep -q '^peer profile=b key=' "$R/shim-b.out"; then
	pass helper-shim-get-peers
else
	fail helper-shim-get-peers "$(cat "$R/shim-b.out")"
fi
TB=$(tunnel_pid b)
out=$(ctl status)
if echo "$out" | grep -q "sessions=2 "; then
	pass helper-status-two-sessions
else
	fail helper-status-two-sessions "$out"
fi
out=$(ctl peers)
if echo "$out" | grep -q '^profiles=2'; then
	pass helper-ctl-peers-all
else
	fail helper-ctl-peers-all "$out"
fi

# --- policy ---
out=$(as_nobody "$CN" ctl "$R/sock/control.sock" stop a 2>&1)
if echo "$out" | grep -q '^error code=3 msg=CtlStopSession: permission denied: allowed for root only (you are uid 65534)'; then
	pass helper-policy-nobody-may-not-stop
else
	fail helper-policy-nobody-may-not-stop "$out"
fi
out=$(as_nobody "$CN" shim-hello "$R/sock/shim.sock" 2>&1)
if echo "$out" | grep -q 'Permission denied'; then
	pass helper-shim-socket-mode-keeps-nobody-out
else
	fail helper-shim-socket-mode-keeps-nobody-out "$out"
fi
chmod 0666 "$R/sock/shim.sock" # only to reach the per-connection check
out=$(as_nobody "$CN" shim-hello "$R/sock/shim.sock" 2>&1)
chmod 0600 "$R/sock/shim.sock"
if echo "$out" | grep -q '^refused' && grep -q 'Refusing shim connection from pid [0-9]* uid 65534' "$LOG"; then
	pass helper-shim-accept-refuses-nobody
else
	fail helper-shim-accept-refuses-nobody "$out"
fi

# --- stopping: by the shim, by the shim's death ---
kill -TERM "${SHIM_PID[a]}"
if wait_for 10 grep -q '^stopped' "$R/shim-a.out"; then
	pass helper-shim-stop-session-ack
else
	fail helper-shim-stop-session-ack "$(cat "$R/shim-a.out")"
fi
if wait_for 5 gone "$TA"; then
	pass helper-stop-reaps-tunnel
else
	fail helper-stop-reaps-tunnel "tunnel $TA still there"
fi
fds_base=$(fds_of "$HPID") # session b still runs: its channel and pidfd are open

kill -KILL "${SHIM_PID[b]}"
if wait_for 10 gone "$TB"; then pass helper-shim-disconnect-stops-tunnel; else fail helper-shim-disconnect-stops-tunnel "tunnel $TB still there"; fi
check helper-no-zombie test "$(zombies)" = 0
wait_for 5 sh -c "ctl() { \"$C\" ctl \"$R/sock/control.sock\" \"\$@\"; }; ctl status | grep -q 'sessions=0 '" || true
fds_after=$(fds_of "$HPID")
if [ "$fds_after" = "$fds_before" ]; then
	pass helper-no-leaked-fd
else
	fail helper-no-leaked-fd "before any session: $fds_before; during one: $fds_base; after all: $fds_after"
fi

# --- tunnel failures reach the shim ---
shim crash --profile crash --ifname "${IF}c"
wait_for 10 grep -q '^tunnel-exited' "$R/shim-crash.out"
if grep -q '^tunnel-exited status=-1 signal=9 reason=killed by signal 9' "$R/shim-crash.out"; then
	pass helper-tunnel-crash-reaches-shim
else
	fail helper-tunnel-crash-reaches-shim "$(cat "$R/shim-crash.out")"
fi
shim exit --profile exit --ifname "${IF}e"
wait_for 10 grep -q '^tunnel-exited' "$R/shim-exit.out"
if grep -q '^tunnel-exited status=2 signal=0 reason=fake: engine exited unexpectedly' "$R/shim-exit.out"; then
	pass helper-tunnel-exit-reason-reaches-shim
else
	fail helper-tunnel-exit-reason-reaches-shim "$(cat "$R/shim-exit.out")"
fi
if grep -q "MESSAGE_ID=d0a6a17819fe47c6b86f283a709e0dc7" "$LOG"; then
	pass helper-log-tunnel-exited-message-id
else
	fail helper-log-tunnel-exited-message-id "$(grep -i exit "$LOG" | tail -3)"
fi
shim serr --profile serr --ifname "${IF}s"
wait_for 10 grep -q 'start-error' "$R/shim-serr.out"
if grep -q '^start-error code=10 msg=fake: engine refused to start' "$R/shim-serr.out"; then
	pass helper-tunnel-start-error-relayed
else
	fail helper-tunnel-start-error-relayed "$(cat "$R/shim-serr.out")"
fi
shim scrash --profile scrash --ifname "${IF}d"
wait_for 10 grep -q 'start-error' "$R/shim-scrash.out"
if grep -q '^start-error code=8 msg=scrash: fake: engine failed to start' "$R/shim-scrash.out"; then
	pass helper-tunnel-dies-during-start
else
	fail helper-tunnel-dies-during-start "$(cat "$R/shim-scrash.out")"
fi
t0=$(date +%s)
shim hang --profile hang --ifname "${IF}h"
wait_for 10 grep -q 'start-error' "$R/shim-hang.out"
if grep -q '^start-error code=7 msg=hang: tunnel did not start within 3s' "$R/shim-hang.out"; then
	pass helper-tunnel-start-timeout
else
	fail helper-tunnel-start-timeout "$(cat "$R/shim-hang.out") after $(($(date +%s) - t0))s"
fi
shim nf --profile nf --ifname "${IF}n" --apply-fail
wait_for 10 grep -q 'start-error' "$R/shim-nf.out"
if grep -q '^start-error code=11 msg=fake: network settings failed: test: applying refused' "$R/shim-nf.out"; then
	pass helper-settings-error-relayed
else
	fail helper-settings-error-relayed "$(cat "$R/shim-nf.out")"
fi

# A tunnel that ignores StopRequest gets SIGTERM; one that ignores SIGTERM too gets SIGKILL.
shim nostop --profile nostop --ifname "${IF}o" --stop-after-ms 100
if wait_for 10 grep -q '^stopped' "$R/shim-nostop.out"; then
	pass helper-stop-escalates-to-sigterm
else
	fail helper-stop-escalates-to-sigterm "$(cat "$R/shim-nostop.out")"
fi
shim stubborn --profile stubborn --ifname "${IF}t" --stop-after-ms 100
wait_for 10 started stubborn
TS=$(tunnel_pid stubborn)
if wait_for 10 grep -q '^stopped' "$R/shim-stubborn.out" && gone "$TS" &&
	grep -q "Tunnel $TS did not exit after SIGTERM, sending SIGKILL" "$LOG"; then
	pass helper-stop-escalates-to-sigkill
else
	fail helper-stop-escalates-to-sigkill "$(cat "$R/shim-stubborn.out")"
fi
check helper-no-zombie-after-failures test "$(zombies)" = 0

# --- watch: a subscriber that never reads is dropped, the others get everything ---
shim w --profile w --ifname "${IF}w"
wait_for 10 started w
# (the client itself in the background, not a shell function's subshell: we kill it by pid)
"$C" ctl "$R/sock/control.sock" watch w --count 2000000 --quiet --stall >"$R/watch-stall.out" 2>&1 &
T_PIDS+=($!)
WSTALL=$!
# Count: 2000 burst lines; the reader exits after them (plus nothing else is logged meanwhile).
"$C" ctl "$R/sock/control.sock" watch w --count 2000 --quiet >"$R/watch-good.out" 2>&1 &
T_PIDS+=($!)
WGOOD=$!
wait_for 5 sh -c "\"$C\" ctl \"$R/sock/control.sock\" status | grep -q 'watchers=2'"
# Four bursts of 500 ~400-byte events with pauses: each fits one subscriber's 256 KiB queue, so
# a reader that is starved of CPU for a moment keeps up, while the stalled one accumulates
# ~800 KB, past its queue and the socket buffer, and is dropped.
out=$(ctl rebind w)
if [ "$out" = ack ]; then
	pass helper-ctl-rebind-relayed
else
	fail helper-ctl-rebind-relayed "$out"
fi
for _ in 1 2 3; do sleep 0.5; ctl rebind w >/dev/null; done
if wait_for 10 grep -q '^events=2000' "$R/watch-good.out"; then pass helper-watch-reader-gets-all-events; else
	fail helper-watch-reader-gets-all-events "$(cat "$R/watch-good.out")"; fi
if wait_for 5 grep -q 'Dropping watch subscriber' "$LOG"; then
	pass helper-watch-stalled-subscriber-dropped
else
	fail helper-watch-stalled-subscriber-dropped "$(tail -3 "$LOG")"
fi
check helper-ping-after-watch-burst ctl ping
kill "$WSTALL" 2>/dev/null

# A watcher sees a session's state changes.
"$C" ctl "$R/sock/control.sock" watch --count 3 >"$R/watch-state.out" 2>&1 &
T_PIDS+=($!)
wait_for 5 sh -c "\"$C\" ctl \"$R/sock/control.sock\" status | grep -q 'watchers=1'"
out=$(ctl stop w)
if [ "$out" = ack ]; then pass helper-ctl-stop-session; else fail helper-ctl-stop-session "$out"; fi
wait_for 10 grep -q '^tunnel-exited' "$R/shim-w.out"
if grep -q '^tunnel-exited status=0 signal=0 reason=stopped: stopped by an administrator (uid 0): test' "$R/shim-w.out"; then
	pass helper-ctl-stop-tells-shim
else
	fail helper-ctl-stop-tells-shim "$(cat "$R/shim-w.out")"
fi
if wait_for 5 grep -q 'kind=status state=2 text=ended' "$R/watch-state.out"; then
	pass helper-watch-state-events
else
	fail helper-watch-state-events "$(cat "$R/watch-state.out")"
fi

# --- SIGTERM: every session stopped, the shims told, exit 0 ---
shim s1 --profile s1 --ifname "${IF}1"
shim s2 --profile s2 --ifname "${IF}2"
wait_for 10 started s1 && wait_for 10 started s2
T1=$(tunnel_pid s1) T2=$(tunnel_pid s2)
kill -TERM "$HPID"
rc=0
wait "$HPID" || rc=$?
if [ "$rc" = 0 ]; then
	pass helper-sigterm-exit-0
else
	fail helper-sigterm-exit-0 "exit status $rc"
fi
if grep -q 'reason=stopped: the helper is stopping' "$R/shim-s1.out" && grep -q 'reason=stopped: the helper is stopping' "$R/shim-s2.out"; then
	pass helper-sigterm-tells-shims
else
	fail helper-sigterm-tells-shims "$(cat "$R/shim-s1.out" "$R/shim-s2.out")"
fi
if gone "$T1" && gone "$T2"; then
	pass helper-sigterm-stops-tunnels
else
	fail helper-sigterm-stops-tunnels "$T1 $T2 still there"
fi
if [ ! -e "$R/sock/control.sock" ]; then
	pass helper-listen-dir-sockets-removed
else
	fail helper-listen-dir-sockets-removed "$(ls "$R/sock")"
fi

# --- idle exit ---
start_helper --idle-exit 1
t0=$(date +%s%N)
if wait_for 5 gone "$HPID"; then
	wait "$HPID"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ "$rc" = 0 ] && [ "$ms" -ge 700 ]; then
		pass helper-idle-exit
	else
		fail helper-idle-exit "status $rc after ${ms} ms"
	fi
else
	fail helper-idle-exit "still running"
fi
# A client keeps it up; its leaving starts the idle timer again.
start_helper --idle-exit 1
"$C" ctl "$R/sock/control.sock" watch --count 1000 --quiet >/dev/null 2>&1 &
WP=$!
T_PIDS+=($WP)
sleep 2
if kill -0 "$HPID" 2>/dev/null; then
	pass helper-idle-waits-for-clients
else
	fail helper-idle-waits-for-clients "exited with a client"
fi
kill "$WP"
if wait_for 5 gone "$HPID"; then
	pass helper-idle-exit-after-last-client
else
	fail helper-idle-exit-after-last-client "still running"
fi

# --- all watch queues together are bounded (--watch-memory): 20 subscribers that never read
# fill 1 MiB between them long before one reaches its own 256 KiB; the one furthest behind is
# dropped first, again and again, while a reader still gets every event ---
start_helper --idle-exit 0 --watch-memory 1 || fail helper-watch-memory-start "no sockets: $(tail -3 "$LOG")"
shim g --profile g --ifname "${IF}g"
wait_for 10 started g
STALLED=()
for _ in $(seq 20); do
	"$C" ctl "$R/sock/control.sock" watch g --count 2000000 --quiet --stall >/dev/null 2>&1 &
	T_PIDS+=($!)
	STALLED+=($!)
done
"$C" ctl "$R/sock/control.sock" watch g --count 1000 --quiet >"$R/watch-budget.out" 2>&1 &
T_PIDS+=($!)
wait_for 5 sh -c "\"$C\" ctl \"$R/sock/control.sock\" status | grep -q 'watchers=21'"
ctl rebind g >/dev/null
sleep 0.5
ctl rebind g >/dev/null
if wait_for 10 grep -q '^events=1000' "$R/watch-budget.out"; then pass helper-watch-memory-reader-gets-all; else
	fail helper-watch-memory-reader-gets-all "$(cat "$R/watch-budget.out")"; fi
dropped=$(grep -c 'Dropping watch subscriber .*more than --watch-memory 1 MiB: dropping the one furthest behind' "$LOG")
if [ "$dropped" -ge 1 ]; then
	pass helper-watch-memory-drops-furthest-behind
else
	fail helper-watch-memory-drops-furthest-behind "$(grep 'Dropping watch' "$LOG" | tail -3)"
fi
check helper-ping-after-watch-memory ctl ping
kill "${STALLED[@]}" 2>/dev/null
kill -TERM "$HPID"
wait "$HPID"

# --- the binary must verify ---
mkdir -m 0777 "$R/bad"
install -m 0755 "$F" "$R/bad/tund-tunnel"
bg_start "$H" --listen-dir "$R/sock" --tunnel "$R/bad/tund-tunnel" --tunnel-user nobody --idle-exit 0 >>"$LOG" 2>&1
HPID=$!
wait_for 5 test -S "$R/sock/shim.sock"
shim bad --profile bad --ifname "${IF}v"
wait_for 10 grep -q 'start-error' "$R/shim-bad.out"
if grep -q "^start-error code=10 msg=bad: tunnel not started: $R/bad is group- or other-writable (mode 0777)" "$R/shim-bad.out"; then
	pass helper-refuses-unverified-binary
else
	fail helper-refuses-unverified-binary "$(cat "$R/shim-bad.out")"
fi
bg_start "$H" --listen-dir "$R/sock2" --tunnel "$R/libexec/tund-tunnel" --idle-exit 0 --tunnel-user nobody \
	--tunnel-sha256 0000000000000000000000000000000000000000000000000000000000000000 >>"$LOG" 2>&1
wait_for 5 test -S "$R/sock2/shim.sock"
out=$(ip netns exec "$NS" "$C" shim "$R/sock2/shim.sock" --profile pin --ifname "${IF}p" 2>&1)
if echo "$out" | grep -q '^start-error code=10 .*SHA-256 [0-9a-f]* does not match the pinned 0000'; then
	pass helper-refuses-hash-mismatch
else
	fail helper-refuses-hash-mismatch "$out"
fi
sum=$(sha256sum "$R/libexec/tund-tunnel" | cut -d' ' -f1)
bg_start "$H" --listen-dir "$R/sock3" --tunnel "$R/libexec/tund-tunnel" --idle-exit 0 --tunnel-user nobody \
	--tunnel-sha256 "$sum" >>"$LOG" 2>&1
wait_for 5 test -S "$R/sock3/shim.sock"
out=$(ip netns exec "$NS" "$C" shim "$R/sock3/shim.sock" --profile pin --ifname "${IF}q" --stop-after-ms 0 2>&1)
if echo "$out" | grep -q '^stopped'; then
	pass helper-accepts-pinned-hash
else
	fail helper-accepts-pinned-hash "$out"
fi
exit 0
