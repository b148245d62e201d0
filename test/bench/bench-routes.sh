#!/bin/bash
# Benchmark (not a test): N routes (default 10,000) added to a TUN link in a private network
# namespace
#   1. libnetcfg (netcfg-tool: libmnl batches, one ack per route)
#   2. `ip -batch` with the same routes (one process, one request+ack round trip per route)
#   3. one `ip route add` process per route (wg-quick's way)
# Same namespace, same routes, same run, alternating 1 and 2 (and 3) in every round; the table
# is flushed between methods. Prints the medians (min-max) and the ratios. Target: 1 no slower
# than 2, at least 50x faster than 3.
# Environment:
#   N=10000        routes
#   ROUNDS=5       rounds (median of ROUNDS for 1 and 2)
#   PP_ROUNDS=1    rounds that also time 3 (the first PP_ROUNDS rounds)
#   PP_SAMPLE=N    time 3 for only the first PP_SAMPLE routes and extrapolate linearly to N
#                  (said so in the output)
#   JSON=FILE      append one JSON object per sample to FILE (for test/bench/run)
. "$(dirname "$0")/../integration/lib.sh"

N=${N:-10000}
ROUNDS=${ROUNDS:-5}
PP_ROUNDS=${PP_ROUNDS:-1}
PP_SAMPLE=${PP_SAMPLE:-$N}
[ "$PP_SAMPLE" -gt "$N" ] && PP_SAMPLE=$N
JSON=${JSON:-}
TOOL=$B/test/helpers/netcfg-tool
[ -x "$TOOL" ] || { echo "build first: make B=$B" >&2; exit 1; }
ns_add bench >/dev/null || exit 1 # not in $(...): ns_add registers it for cleanup
NS=${T_NETNS[0]}
ip netns exec "$NS" "$B/test/helpers/tunhold" tund-tb0 >/dev/null &
T_PIDS+=($!)
wait_for 5 ip netns exec "$NS" test -e /sys/class/net/tund-tb0 || exit 1
ip -n "$NS" link set tund-tb0 up
D=$(mktemp -d /tmp/tund-t-bench.XXXXXX)
T_FILES+=("$D")
# 2001:db8:X:Y::/64 covers 2^32 distinct prefixes inside the documentation range
seq 0 $((N - 1)) | awk '{ printf "2001:db8:%x:%x::/64\n", int($1 / 65536), $1 % 65536 }' >"$D/routes"
sed 's|^|route add |; s|$| dev tund-tb0 proto 116|' "$D/routes" >"$D/batch"
head -n "$PP_SAMPLE" "$D/routes" >"$D/routes-pp"

us() { echo $((($2 - $1) / 1000)); }
count() { ip -n "$NS" -6 route show proto 116 | wc -l; }
flush() { ip -n "$NS" -6 route flush proto 116; }
emit() { # VARIANT USEC [ROUTES_TIMED]
	[ -n "$JSON" ] || return 0
	printf '{"bench":"routes-%d","variant":"%s","round":%d,"value":%s,"unit":"ms","timed_routes":%d,"routes":%d}\n' \
		"$N" "$1" "$i" "$(awk -v u="$2" -v t="${3:-$N}" -v n="$N" 'BEGIN { printf "%.3f", u / 1000 * n / t }')" \
		"${3:-$N}" "$N" >>"$JSON"
}

A=() Bt=() C=()
for ((i = 0; i < ROUNDS; i++)); do
	# alternate which method goes first (the first insertions into a fresh namespace pay a
	# one-off cost whichever method goes first)
	for m in $( ((i % 2)) && echo "batch netcfg" || echo "netcfg batch"); do
		t0=$(date +%s%N)
		if [ "$m" = netcfg ]; then
			ip netns exec "$NS" "$TOOL" --routes-file "$D/routes" apply tund-tb0 >/dev/null || exit 1
		else
			ip -n "$NS" -batch "$D/batch" || exit 1
		fi
		t1=$(date +%s%N)
		n=$(count); flush
		[ "$n" = "$N" ] || { echo "$m: $n routes (want $N)" >&2; exit 1; }
		if [ "$m" = netcfg ]; then A+=("$(us "$t0" "$t1")"); emit libnetcfg "$(us "$t0" "$t1")"
		else Bt+=("$(us "$t0" "$t1")"); emit ip-batch "$(us "$t0" "$t1")"; fi
	done
	if ((i < PP_ROUNDS)); then
		t0=$(date +%s%N)
		ip netns exec "$NS" sh -c "while read -r r; do ip route add \$r dev tund-tb0 proto 116 || exit 1; done <'$D/routes-pp'" || exit 1
		t1=$(date +%s%N)
		n=$(count); flush
		[ "$n" = "$PP_SAMPLE" ] || { echo "per-process: $n routes (want $PP_SAMPLE)" >&2; exit 1; }
		C+=("$(($(us "$t0" "$t1") * N / PP_SAMPLE))")
		emit per-process "$(us "$t0" "$t1")" "$PP_SAMPLE"
	fi
done

# median, min, max of microsecond samples, printed in ms
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.1f %.1f %.1f", m / 1000, v[1] / 1000, v[NR] / 1000 }'; }
read -r a amin amax <<<"$(stats "${A[@]}")"
read -r b bmin bmax <<<"$(stats "${Bt[@]}")"
read -r c cmin cmax <<<"$(stats "${C[@]}")"
pp_note=""
[ "$PP_SAMPLE" -lt "$N" ] && pp_note=" (sampled: first $PP_SAMPLE routes timed, x$((N / PP_SAMPLE)) extrapolated)"
printf '%d routes (IPv6 /64s on a TUN link, one network namespace; median (min-max) of %d rounds, per-process: %d)\n' "$N" "$ROUNDS" "${#C[@]}"
printf '  libnetcfg (netcfg-tool, libmnl batches)   %9.1f ms (%s-%s)  %.2f us/route\n' "$a" "$amin" "$amax" "$(awk -v a="$a" -v n="$N" 'BEGIN { print a * 1000 / n }')"
printf '  ip -batch                                 %9.1f ms (%s-%s)  %.2f us/route\n' "$b" "$bmin" "$bmax" "$(awk -v a="$b" -v n="$N" 'BEGIN { print a * 1000 / n }')"
printf '  one ip route add per route (wg-quick)     %9.1f ms (%s-%s)  %.2f us/route%s\n' "$c" "$cmin" "$cmax" "$(awk -v a="$c" -v n="$N" 'BEGIN { print a * 1000 / n }')" "$pp_note"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
	a = a < 0.001 ? 0.001 : a
	printf "  libnetcfg / ip -batch = %.2fx   per-process / libnetcfg = %.0fx\n", a / b, c / a
	if (b < a) print "  NOTE: libnetcfg was slower than ip -batch"
	if (c / a < 50) print "  NOTE: libnetcfg was less than 50x faster than one process per route"
}'
