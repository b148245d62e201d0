#!/bin/bash
# Benchmark (not a test): recovery time after an underlay path change (issue 19), tund vs
# wg-quick on the same namespaces. The client reaches the server's WireGuard endpoint
# (198.51.100.200 on the server's loopback, not on-link) through its default route; two veth
# paths join them: A (198.51.100.0/28, eth0) and B (198.51.100.16/28, eth1), both up, the
# default route via A. A split tunnel (AllowedIPs 192.0.2.1/32, 203.0.113.0/24: the server-only
# network) carries a steady UDP probe: a datagram every 10 ms from the client to an echo on the
# server, stamped with its send time (CLOCK_REALTIME); the echo answers only datagrams from the
# client's tunnel address 192.0.2.2, so that only answers through the tunnel count. Then, in one
# `ip -batch` inside the client's namespace: path A's addresses are removed, its link goes down
# and the default route moves to B. Recovery = from the end of that change to the arrival of
# the first answer to a probe sent after it. Variants, one sample each in turn per round, each
# sample with a tunnel brought up fresh over path A (path A restored before it):
#   tund                       the whole stack as test/bench/run starts it (helper under
#                              systemd-socket-activate, tund-netshimd, tund-tunnel, wireguard-go);
#                              the helper keeps running, one session per sample
#   wg-quick                   wg-quick up/down inside the client's namespace (wireguard-go, no
#                              kernel module), /etc/wireguard a private directory there
#   wg-quick + reresolve-dns   the same plus wireguard-tools' contrib reresolve-dns.sh run the
#                              way its README says ("from cron every thirty seconds or so"): a
#                              loop every 30 s whose phase is random per sample (the first run
#                              comes a uniformly random 0-30 s after the change)
# A sample that does not recover within RECOVERY_CAP seconds counts as RECOVERY_CAP (marked
# capped). Environment:
#   ROUNDS=5               tund samples
#   RECOVERY_WG_ROUNDS=3   samples of each wg-quick variant (each takes ~15 s or more)
#   RECOVERY_CAP=200       seconds a sample may take at most
#   RECOVERY_VARIANTS="tund wg-quick reresolve"   a subset
#   JSON=FILE              append one JSON object per sample to FILE (for test/bench/run)
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/lib-e2e.sh"
set -o pipefail

ROUNDS=${ROUNDS:-5}
WG_ROUNDS=${RECOVERY_WG_ROUNDS:-3}
CAP=${RECOVERY_CAP:-200}
VARIANTS=${RECOVERY_VARIANTS:-"tund wg-quick reresolve"}
JSON=${JSON:-}
RERESOLVE_SH=/usr/share/doc/wireguard-tools/examples/reresolve-dns/reresolve-dns.sh
EP=198.51.100.200 # the server's endpoint address, on its loopback
PORT=7777         # the probe's echo, on the server
WQ=tqr0           # wg-quick's interface (inside the client's namespaces only)
P=rc              # tund's profile; its link is tund-rc

die() { echo "bench-recovery: $*" >&2; exit 1; }
log() { echo "bench-recovery: $*" >&2; }
now_ns() { date +%s%N; }

[ "$(id -u)" = 0 ] || die "run as root (network namespaces)"
for f in "$B/tund-helperd" "$B/tund-netshimd" "$B/tund-tunnel"; do
	[ -x "$f" ] || die "$f not built: make B=${B#"$TOP"/} all"
done
for c in wireguard-go wg wg-quick systemd-socket-activate python3; do
	command -v "$c" >/dev/null || die "$c is missing: make deps"
done
[ -r "$RERESOLVE_SH" ] || die "$RERESOLVE_SH is missing (Debian package wireguard-tools)"

# ---------------------------------------------------------------------------------------------
# namespaces: lib-e2e.sh's client (private mount, pid, bus, resolved) and server with its
# wireguard-go peer; the underlay re-addressed into two paths
# ---------------------------------------------------------------------------------------------
e2e_setup rec || die "could not build the namespaces"
# the logs outlive the run (helper, shim, wg-quick, reresolve-dns, probe) in B's bench/
on_exit_do "rm -rf '$B/bench/recovery-logs'; mkdir -p '$B/bench/recovery-logs' && cp '$W'/*.log '$B/bench/recovery-logs/'"
{ ip -n "$RNS" addr flush dev eth0 && ip -n "$SRV" addr flush dev eth0; } || die "underlay"
# path B, created inside the namespaces (never in the host's)
ip -n "$RNS" link add eth1 type veth peer name eth1 netns "$SRV" || die "second veth pair"
ip -n "$SRV" -batch - <<EOF || die "server addresses"
address add 198.51.100.1/28 dev eth0
address add 198.51.100.17/28 dev eth1
link set eth1 up
address add $EP/32 dev lo
EOF
# path A back (before every sample): both paths up, the default route via A
cat >"$W/path-a" <<EOF
link set eth0 up
address replace 198.51.100.2/28 dev eth0
link set eth1 up
address replace 198.51.100.18/28 dev eth1
route replace default via 198.51.100.1 dev eth0
EOF
# the change: path A dies (addresses, link), the default route moves to B
cat >"$W/change" <<EOF
address flush dev eth0
link set eth0 down
route replace default via 198.51.100.17 dev eth1
EOF
path_a() { ip -n "$RNS" -batch "$W/path-a" && wait_for 5 cns ping -n -q -c 1 -W 1 -I eth0 198.51.100.1; }
path_a || die "path A does not work"
cns ping -n -q -c 1 -W 2 -I eth1 198.51.100.17 >/dev/null || die "path B does not work"
ip -n "$RNS" route get "$EP" | grep -q "via 198.51.100.1 dev eth0" || die "the endpoint is not behind the default route"

# the profiles: tund's, and the same for wg-quick without [Tund] (no DNS: no resolvconf needed)
e2e_profile "$P" "" "192.0.2.1/32, 203.0.113.0/24"
sed -i "s/^Endpoint = .*/Endpoint = $EP:51820/" "$W/etc/$P.conf"
mkdir -m 700 "$W/wgq"
sed -e '/^\[Tund\]/,$d' -e '/^#/d' "$W/etc/$P.conf" >"$W/wgq/$WQ.conf" && chmod 600 "$W/wgq/$WQ.conf"
# wg-quick and reresolve-dns.sh read /etc/wireguard/$WQ.conf: a private one in the client's
# mount namespace
cns mount --bind "$W/wgq" /etc/wireguard || die "cannot bind-mount /etc/wireguard in the client"

# ---------------------------------------------------------------------------------------------
# the probe: one sender in the client for the whole run, one echo in the server
# ---------------------------------------------------------------------------------------------
PROBE_PY=$TOP/test/bench/recovery-probe.py
PLOG=$W/probe.log
: >"$PLOG"
ip netns exec "$SRV" python3 "$PROBE_PY" echo 0.0.0.0 "$PORT" 192.0.2.2 >>"$W/probe-echo.log" 2>&1 &
T_PIDS+=($!)
ip netns exec "$RNS" python3 "$PROBE_PY" send 203.0.113.1 "$PORT" "$PLOG" 0.01 >>"$W/probe.log.err" 2>&1 &
PROBE=$!
T_PIDS+=("$PROBE")

# answered_since NS: the first answer to a probe sent at or after NS: "recv_ns"
answered_since() { awk -v t="$1" '$1 >= t { print $2; exit }' "$PLOG"; }
has_answer_since() { [ -n "$(answered_since "$1")" ]; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; } # FROM_NS TO_NS

# ---------------------------------------------------------------------------------------------
# the variants: up, down
# ---------------------------------------------------------------------------------------------
no_link() { ! ip -n "$RNS" link show "$1" >/dev/null 2>&1; }
HELPER_UP=0
up_tund() {
	if [ "$HELPER_UP" = 0 ]; then
		# shellcheck disable=SC2119 # no extra options for the helper
		e2e_helper_start || die "helper sockets did not appear"
		HELPER_UP=1
	fi
	e2e_shim_start "$P"
	wait_for 20 e2e_ready "$P" || { e2e_logs >&2; die "tund: no READY=1"; }
}
down_tund() {
	e2e_shim_stop "$P"
	[ "$E2E_RC" = 0 ] || die "tund-netshimd exited $E2E_RC"
	wait_for 10 no_link "tund-$P" || die "tund-$P still there"
}
up_wgq() {
	cns env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go wg-quick up "$WQ" >>"$W/wg-quick.log" 2>&1 ||
		die "wg-quick up failed: $(tail -3 "$W/wg-quick.log")"
}
down_wgq() {
	cns wg-quick down "$WQ" >>"$W/wg-quick.log" 2>&1 || die "wg-quick down failed: $(tail -3 "$W/wg-quick.log")"
	wait_for 10 no_link "$WQ" || die "$WQ still there"
}

# The cron stand-in: reresolve-dns.sh every 30 s, the first run OFFSET s after it starts
# (started right after the change). Under bash -x to count the runs that set an endpoint.
RR_STOP=$W/reresolve.stop
reresolve_loop() { # OFFSET
	local next
	next=$(awk -v n="$(now_ns)" -v o="$1" 'BEGIN { printf "%.0f", n + o * 1e9 }')
	while [ ! -e "$RR_STOP" ]; do
		if [ "$(now_ns)" -ge "$next" ]; then
			echo "run $(now_ns)" >>"$W/reresolve.runs"
			cns bash -x "$RERESOLVE_SH" "$WQ" >>"$W/reresolve.log" 2>&1
			next=$((next + 30000000000))
		fi
		sleep 0.1
	done
}

# ---------------------------------------------------------------------------------------------
# one sample
# ---------------------------------------------------------------------------------------------
emit() { # VARIANT ROUND VALUE DETAIL_JSON
	[ -n "$JSON" ] || return 0
	printf '{"bench":"recovery","variant":"%s","round":%d,"value":%s,"unit":"ms","detail":%s}\n' \
		"$1" "$2" "$3" "$4" >>"$JSON"
}
RES_tund=() RES_wgq=() RES_rr=()
sample() { # tund|wg-quick|reresolve ROUND
	local v=$1 i=$2 t0 ts tc tr val capped=false off="null" rl="" runs=0 sets=0 name
	path_a || die "path A does not come back"
	[ "$v" = tund ] && name=tund || name=wg-quick
	[ "$v" = reresolve ] && name="wg-quick + reresolve-dns"
	: >"$PLOG" # the sender appends (O_APPEND): this sample's answers only
	t0=$(now_ns)
	if [ "$v" = tund ]; then up_tund; else up_wgq; fi
	wait_for 10 has_answer_since "$t0" || { e2e_logs >&2; die "$name: no answer through the tunnel"; }
	sleep 1 # steady: a second of answers, the handshake done and the source cached
	has_answer_since "$(($(now_ns) - 200000000))" || die "$name: the probe is not answered steadily"
	ip -n "$RNS" route get "$EP" | grep -q "dev eth0" || die "$name: the endpoint is not via path A"

	ts=$(now_ns)
	ip -n "$RNS" -batch "$W/change" || die "the path change failed"
	tc=$(now_ns)
	if [ "$v" = reresolve ]; then
		off=$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", r / 32768 * 30 }')
		rm -f "$RR_STOP" "$W/reresolve.runs"
		: >"$W/reresolve.log"
		reresolve_loop "$off" &
		rl=$!
		T_PIDS+=("$rl")
	fi
	while :; do
		tr=$(answered_since "$tc")
		[ -n "$tr" ] && break
		(($(now_ns) - tc > CAP * 1000000000)) && { capped=true; break; }
		sleep 0.02
	done
	if [ -n "$rl" ]; then
		touch "$RR_STOP"
		wait "$rl"
		[ -e "$W/reresolve.runs" ] && runs=$(grep -c . "$W/reresolve.runs")
		sets=$(grep -c '^+ wg set' "$W/reresolve.log")
	fi
	if [ "$capped" = true ]; then val=$((CAP * 1000)); else val=$(ms "$tc" "$tr"); fi
	if [ "$v" = tund ]; then down_tund; else down_wgq; fi
	emit "$name" "$i" "$val" "{\"capped\":$capped,\"change_ms\":$(ms "$ts" "$tc"),\"reresolve_offset_s\":$off,\"reresolve_runs\":$runs,\"reresolve_sets\":$sets}"
	log "round $((i + 1)): $name recovered after $val ms$( [ "$capped" = true ] && echo " (capped)")$( [ -n "$rl" ] && echo "; reresolve-dns first run +${off}s, $runs runs, $sets set an endpoint")"
	case $v in
	tund) RES_tund+=("$val") ;;
	wg-quick) RES_wgq+=("$val") ;;
	reresolve) RES_rr+=("$val") ;;
	esac
}

want() { case " $VARIANTS " in *" $1 "*) return 0 ;; esac; return 1; }
n=$ROUNDS
((WG_ROUNDS > n)) && n=$WG_ROUNDS
for ((i = 0; i < n; i++)); do
	((i < ROUNDS)) && want tund && sample tund "$i"
	((i < WG_ROUNDS)) && want wg-quick && sample wg-quick "$i"
	((i < WG_ROUNDS)) && want reresolve && sample reresolve "$i"
done
if [ "$HELPER_UP" = 1 ]; then
	kill -TERM "$(e2e_child_pid "$HELPER_PID")" 2>/dev/null
	wait "$HELPER_PID" 2>/dev/null
fi

# median, min, max of ms samples
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "- - -"; exit }
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.1f %.1f %.1f", m, v[1], v[NR] }'; }
printf 'recovery after an underlay path change (path A dies, default route to B), median (min-max, n)\n'
for v in tund:RES_tund wg-quick:RES_wgq "wg-quick + reresolve-dns:RES_rr"; do
	declare -n samples=${v##*:}
	set -- "${samples[@]}"
	unset -n samples
	(($# > 0)) || continue
	read -r m lo hi <<<"$(stats "$@")"
	printf '  %-26s %10s ms (%s-%s, n=%d)\n' "${v%:*}" "$m" "$lo" "$hi" $#
done
