#!/bin/bash
# tund-helperd spawning the real tund-tunnel (which runs Debian's wireguard-go) as nobody with
# only CAP_NET_ADMIN, wireguard-go pinned by its SHA-256 (--engine-sha256): the session starts, the engine's peers come back through the helper, and
# stopping leaves no process behind. (No data-plane traffic here: the test client does not
# apply addresses or routes; the netshim tests cover that.)
. "$(dirname "$0")/lib.sh"

H=$B/tund-helperd
C=$B/test/helpers/helperd-client
TT=$B/tund-tunnel
[ -f "$TOP/tunnel-shim/main.c" ] && [ -x "$TT" ] || { skip helper-real-tunnel "tund-tunnel not built"; exit 0; }
command -v wireguard-go >/dev/null && command -v wg >/dev/null || { skip helper-real-tunnel "no wireguard-go/wg"; exit 0; }
for f in "$H" "$C"; do [ -x "$f" ] || { fail helper-real-tunnel "$f not built"; exit 1; }; done

R=/run/tund-test-real-$$
T_FILES+=("$R")
mkdir -m 0755 "$R" "$R/libexec" "$R/sock"
install -m 0755 "$TT" "$R/libexec/tund-tunnel"
NS=$(ns_add hr) || { fail helper-real-tunnel "cannot create a namespace"; exit 1; }
LOG=$R/helper.log
IF=thr$$
mkdir -p /var/run/wireguard
UAPI=/var/run/wireguard/$IF.sock
T_FILES+=("$UAPI")

# wireguard-go finds the TUN by name in its own network namespace: helper, tunnel and engine
# all run in ours.
ENGINE_SHA=$(sha256sum "$(readlink -f "$(command -v wireguard-go)")" | cut -c1-64)
bg_start ip netns exec "$NS" "$H" --listen-dir "$R/sock" --tunnel "$R/libexec/tund-tunnel" --tunnel-user nobody \
	--idle-exit 0 --stop-timeout 3 --engine-sha256 "$ENGINE_SHA" >>"$LOG" 2>&1
HPID=$!
wait_for 5 test -S "$R/sock/shim.sock" || { fail helper-real-tunnel "helper did not start: $(tail -3 "$LOG")"; exit 1; }

PRIV=$(wg genkey)
PEER=$(wg genkey | wg pubkey)
ip netns exec "$NS" "$C" shim "$R/sock/shim.sock" --profile real --ifname "$IF" --private-key "$PRIV" \
	--peer-key "$PEER" --uapi-path "$UAPI" --uapi-owner "$(id -u nobody)" >"$R/shim.out" 2>&1 &
SHIM=$!
T_PIDS+=($SHIM)
if wait_for 20 grep -q '^started\|error' "$R/shim.out" && grep -q '^started' "$R/shim.out"; then
	pass helper-real-tunnel-starts
else
	fail helper-real-tunnel-starts "$(cat "$R/shim.out"; tail -5 "$LOG")"
	exit 0
fi
TP=$(sed -n 's/^started tunnel_pid=\([0-9]*\).*/\1/p' "$R/shim.out")
EP=$(sed -n 's/.* engine_pid=\([0-9]*\).*/\1/p' "$R/shim.out")
if grep -q 'engine_version=fake' "$R/shim.out"; then
	fail helper-real-tunnel-engine "fake engine"
else
	check helper-real-tunnel-engine-running test -d "/proc/$EP"
fi
check helper-real-engine-runs-as-nobody sh -c "grep -qP '^Uid:\t65534\t' /proc/$EP/status && grep -qP '^NoNewPrivs:\t1' /proc/$EP/status"
out=$("$C" ctl "$R/sock/control.sock" peers real 2>&1)
if echo "$out" | grep -q "peer profile=real key=$PEER"; then
	pass helper-real-tunnel-peers
else
	fail helper-real-tunnel-peers "$out"
fi
kill -TERM "$SHIM"
if wait_for 15 grep -q '^stopped' "$R/shim.out"; then
	pass helper-real-tunnel-stops
else
	fail helper-real-tunnel-stops "$(cat "$R/shim.out")"
fi
if wait_for 5 sh -c "[ ! -e /proc/$TP ] && [ ! -e /proc/$EP ]"; then
	pass helper-real-tunnel-nothing-left
else
	fail helper-real-tunnel-nothing-left "tunnel $TP or engine $EP still there"
fi

# A pin the engine does not match: the tunnel refuses to run it, the session fails, and the
# log says why.
kill -TERM "$HPID"
wait "$HPID" 2>/dev/null
rm -f "$R/sock/shim.sock" "$R/sock/control.sock"
WRONG=$(printf '%s' "$ENGINE_SHA" | tr '0-9a-f' '1-9a-f0')
bg_start ip netns exec "$NS" "$H" --listen-dir "$R/sock" --tunnel "$R/libexec/tund-tunnel" --tunnel-user nobody \
	--idle-exit 0 --stop-timeout 3 --engine-sha256 "$WRONG" >>"$LOG" 2>&1
wait_for 5 test -S "$R/sock/shim.sock" || { fail helper-real-tunnel-wrong-pin "helper did not start: $(tail -3 "$LOG")"; exit 0; }
ip netns exec "$NS" "$C" shim "$R/sock/shim.sock" --profile real --ifname "$IF" --private-key "$PRIV" \
	--peer-key "$PEER" --uapi-path "$UAPI" --uapi-owner "$(id -u nobody)" >"$R/shim2.out" 2>&1 &
T_PIDS+=($!)
if wait_for 20 grep -q '^started\|error' "$R/shim2.out" && ! grep -q '^started' "$R/shim2.out"; then
	pass helper-real-tunnel-wrong-pin-fails
else
	fail helper-real-tunnel-wrong-pin-fails "$(cat "$R/shim2.out"; tail -5 "$LOG")"
fi
check helper-real-tunnel-wrong-pin-logged grep -q "SHA-256" "$LOG"
grep -m 1 "SHA-256" "$LOG" | sed 's/^/    /'
exit 0
