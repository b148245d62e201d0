#!/bin/bash
# Benchmark (not a test): 10,000 routes added to a TUN link in a private network namespace
#   1. libnetcfg (netcfg-tool: libmnl batches, one ack per route)
#   2. `ip -batch` with the same routes (one process, one request+ack round trip per route)
#   3. one `ip route add` process per route (wg-quick's way)
# Same namespace, same routes, same run; the table is flushed between methods. Prints the
# three times and the ratios. Target: 1 no slower than 2, at least 50x faster than 3.
. "$(dirname "$0")/../integration/lib.sh"

N=${N:-10000}
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
seq 0 $((N - 1)) | awk '{ printf "2001:db8:%x::/48\n", $1 }' >"$D/routes"
sed 's|^|route add |; s|$| dev tund-tb0 proto 116|' "$D/routes" >"$D/batch"

ms() { echo $((($2 - $1) / 1000000)); }
count() { ip -n "$NS" -6 route show proto 116 | wc -l; }
flush() { ip -n "$NS" -6 route flush proto 116; }

# libnetcfg and ip -batch: ROUNDS interleaved runs each, best time (the first insertions
# into a fresh namespace pay a one-off cost whichever method goes first).
ROUNDS=${ROUNDS:-3}
a='' b=''
for ((i = 0; i < ROUNDS; i++)); do
	t0=$(date +%s%N)
	ip netns exec "$NS" "$TOOL" --routes-file "$D/routes" apply tund-tb0 >/dev/null || exit 1
	t1=$(date +%s%N)
	n1=$(count); flush
	t2=$(date +%s%N)
	ip -n "$NS" -batch "$D/batch" || exit 1
	t3=$(date +%s%N)
	n2=$(count); flush
	x=$(ms $t0 $t1) y=$(ms $t2 $t3)
	[ -z "$a" ] || [ "$x" -lt "$a" ] && a=$x
	[ -z "$b" ] || [ "$y" -lt "$b" ] && b=$y
done
t4=$(date +%s%N)
ip netns exec "$NS" sh -c "while read -r r; do ip route add \$r dev tund-tb0 proto 116 || exit 1; done <'$D/routes'" || exit 1
t5=$(date +%s%N)
n3=$(count); flush

c=$(ms $t4 $t5)
[ "$n1" = "$N" ] && [ "$n2" = "$N" ] && [ "$n3" = "$N" ] || { echo "route counts differ: $n1 $n2 $n3 (want $N)" >&2; exit 1; }
printf '%d routes (IPv6 /48s on a TUN link, one network namespace; best of %d for 1 and 2)\n' "$N" "$ROUNDS"
printf '  libnetcfg (netcfg-tool, libmnl batches)   %7d ms\n' "$a"
printf '  ip -batch                                 %7d ms\n' "$b"
printf '  one ip route add per route (wg-quick)     %7d ms\n' "$c"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
	a = a < 1 ? 1 : a
	printf "  ip -batch / libnetcfg = %.1fx   per-process / libnetcfg = %.0fx\n", b / a, c / a
	if (b < a) print "  NOTE: libnetcfg was slower than ip -batch"
	if (c / a < 50) print "  NOTE: libnetcfg was less than 50x faster than one process per route"
}'
