#!/bin/bash
# Benchmark (not a test): applying a kill switch with N AllowedBypass prefixes (default 1,000:
# nine in ten IPv4 /24s 10.X.Y.0/24, one in ten IPv6 /48s 2001:db8:8XXX::/48; none covers the
# endpoint or the tunnel's Address; each is one rule in each of the profile's three chains),
# from no table, in a private network namespace:
#   1. tund-netshimd --killswitch (libnftnl, the whole table in one transaction; it also writes
#      the spec and reads the table back)
#   2. nft -f with the same table, as `nft list table inet tund` printed it after a tund install
# Both are one process applying one transaction from nothing: before a tund sample the spec
# directory and the table are removed, before an nft sample the table. The clock runs inside the
# namespace (bash's EPOCHREALTIME) from fork+exec to exit. Alternating which goes first, one
# warm-up round discarded; after every sample the table must read back exactly as the reference
# (`nft list table inet tund`, character for character). Target: 1 no slower than 2.
# Environment:
#   N=1000         AllowedBypass prefixes
#   ROUNDS=5       samples per method (median)
#   JSON=FILE      append one JSON object per sample to FILE (for test/bench/run)
. "$(dirname "$0")/../integration/lib.sh"

N=${N:-1000}
ROUNDS=${ROUNDS:-5}
JSON=${JSON:-}
SHIM=$B/tund-netshimd
[ -x "$SHIM" ] || { echo "build first: make B=$B" >&2; exit 1; }
command -v nft >/dev/null || { echo "nft is missing (Debian package nftables): make deps" >&2; exit 1; }
ns_add ks >/dev/null || exit 1 # not in $(...): ns_add registers it for cleanup
NS=${T_NETNS[0]}
# under /run like the real spec directory (a tmpfs), root-owned: the profile must be 0600
D=/run/tund-t-ks-$$
T_FILES+=("$D")
mkdir -m 0700 "$D" "$D/etc" || exit 1
P=bks

N6=$((N / 10))
N4=$((N - N6))
{
	cat <<CONF
# bench profile: a kill switch with $N4 IPv4 and $N6 IPv6 AllowedBypass prefixes
[Interface]
PrivateKey = $(wg genkey)
Address = 192.0.2.2/32, 2001:db8:1::2/128

[Peer]
PublicKey = $(wg genkey | wg pubkey)
Endpoint = 198.51.100.1:51820
AllowedIPs = 0.0.0.0/0, ::/0

[Tund]
InterfaceName = tund-$P
KillSwitch = yes
CONF
	# ten prefixes a line (a profile line holds at most 4,096 characters)
	{
		seq 0 $((N4 - 1)) | awk '{ printf "10.%d.%d.0/24\n", int($1 / 256), $1 % 256 }'
		((N6 > 0)) && seq 0 $((N6 - 1)) | awk '{ printf "2001:db8:%x::/48\n", 32768 + $1 }'
	} | awk '{ l = l (NR % 10 == 1 ? "" : ", ") $0 } NR % 10 == 0 { print "AllowedBypass = " l; l = "" }
		END { if (l != "") print "AllowedBypass = " l }'
} >"$D/etc/$P.conf"
chmod 600 "$D/etc/$P.conf"
[ "$(grep '^AllowedBypass' "$D/etc/$P.conf" | tr ',' '\n' | grep -c /)" = "$N" ] || { echo "profile: not $N prefixes" >&2; exit 1; }

# timed NAME CMD...: run CMD inside the namespace, print its wall time in microseconds
timed() {
	local name=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner bash
	ip netns exec "$NS" bash -c 'log=$1; shift; t0=$EPOCHREALTIME; "$@" >>"$log" 2>&1 || exit 1
		t1=$EPOCHREALTIME; echo $((10#${t1/[.,]/} - 10#${t0/[.,]/}))' sh "$D/$name.log" "$@"
}
no_table() { ! ip netns exec "$NS" nft list table inet tund >/dev/null 2>&1; }
from_nothing() { # no table (and for tund no spec)
	rm -rf "$D/ks"
	no_table || ip netns exec "$NS" nft delete table inet tund || return 1
	no_table && ip netns exec "$NS" nft list tables | { ! grep -q .; }
}
tund_apply() {
	timed tund "$SHIM" --config-dir "$D/etc" --killswitch-dir "$D/ks" --engine-user nobody --killswitch "$P"
}
nft_apply() { timed nft nft -f "$D/table.nft"; }
# the table reads back exactly as the reference
same_table() { ip netns exec "$NS" nft list table inet tund | cmp -s - "$D/table.nft"; }

emit() { # VARIANT USEC
	[ -n "$JSON" ] || return 0
	printf '{"bench":"ks-apply-%d","variant":"%s","round":%d,"value":%s,"unit":"ms","prefixes":%d,"rules":%d}\n' \
		"$N" "$1" "$i" "$(awk -v u="$2" 'BEGIN { printf "%.3f", u / 1000 }')" "$N" "$RULES" >>"$JSON"
}

# the reference: what a tund install leaves
from_nothing || { echo "cannot empty the namespace's nf_tables" >&2; exit 1; }
tund_apply >/dev/null || { echo "tund-netshimd --killswitch failed: $(tail -3 "$D/tund.log")" >&2; exit 1; }
ip netns exec "$NS" nft list table inet tund >"$D/table.nft" || exit 1
# rules: the lines with a handle that are neither the table nor a chain
RULES=$(ip netns exec "$NS" nft -a list table inet tund | grep '# handle' | grep -cvE '^\s*(table|chain) ')
[ "$RULES" -ge $((3 * N)) ] || { echo "only $RULES rules for $N prefixes" >&2; exit 1; }
# the file re-creates the table exactly
from_nothing && ip netns exec "$NS" nft -f "$D/table.nft" && same_table ||
	{ echo "nft -f of the listed table does not re-create it" >&2; exit 1; }

A=() Bt=()
for ((i = -1; i < ROUNDS; i++)); do # round -1 warms the page cache and nf_tables; discarded
	for m in $( ((i % 2)) && echo "nft tund" || echo "tund nft"); do
		from_nothing || { echo "cannot empty the namespace's nf_tables" >&2; exit 1; }
		if [ "$m" = tund ]; then
			t=$(tund_apply) || { echo "tund-netshimd --killswitch failed: $(tail -3 "$D/tund.log")" >&2; exit 1; }
		else
			t=$(nft_apply) || { echo "nft -f failed: $(tail -3 "$D/nft.log")" >&2; exit 1; }
		fi
		same_table || { echo "$m: the table differs from the reference" >&2; exit 1; }
		((i < 0)) && continue
		if [ "$m" = tund ]; then A+=("$t"); emit tund-netshimd "$t"
		else Bt+=("$t"); emit "nft -f" "$t"; fi
	done
done

# median, min, max of microsecond samples, printed in ms
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.1f %.1f %.1f", m / 1000, v[1] / 1000, v[NR] / 1000 }'; }
read -r a amin amax <<<"$(stats "${A[@]}")"
read -r b bmin bmax <<<"$(stats "${Bt[@]}")"
printf 'kill switch with %d AllowedBypass prefixes (%d IPv4, %d IPv6): %d rules, one transaction from no table; median (min-max) of %d\n' \
	"$N" "$N4" "$N6" "$RULES" "$ROUNDS"
printf '  tund-netshimd --killswitch (libnftnl)   %9.1f ms (%s-%s)\n' "$a" "$amin" "$amax"
printf '  nft -f (the same table)                 %9.1f ms (%s-%s)\n' "$b" "$bmin" "$bmax"
awk -v a="$a" -v b="$b" 'BEGIN {
	printf "  tund / nft -f = %.2fx\n", a / b
	if (a > b) print "  NOTE: tund-netshimd was slower than nft -f"
}'
