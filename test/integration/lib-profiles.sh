# shellcheck shell=bash
# Helpers of e2e-profiles.sh (several profiles at once): a snapshot of the client namespace
# cut into per-profile views and a host view, so that "what profile X has now" can be compared
# byte for byte with what it had when it ran alone. Source after lib.sh and lib-e2e.sh, after
# e2e_setup (uses W, RNS_PID, RESOLVED_ROOT).
#
#   pv_snap OUT NAME...   snapshot into OUT/ and cut it into OUT/<NAME>.view (the profile's own
#                         addresses, routes, rules, DNS, processes, UAPI socket, claim file),
#                         OUT/EMPTY.view (the view of a profile that left nothing),
#                         OUT/host.view (everything no profile owns: the admin's objects, eth0,
#                         lo, resolved's global settings, plus any proto-tund object no known
#                         profile owns), OUT/rget ("PROBE DEV" per `ip route get` probe) and
#                         OUT/learn ("NAME SLOT CLAIMS" where the claim files or the routes tell
#                         it). Uses PIF[NAME] and PSLOT[NAME].
#
# A profile's objects: addresses and routes on its link; routes with proto tund in its table
# 29813+N; rules with proto tund at priorities 21700+10*N .. +9. N comes from the claim files
# (/run/tund/slots/N, or <state dir>/slots/N, content = profile name) or, failing that, from the
# table of a route on its link.
declare -A PIF PSLOT
# the system's python: where python3 is a pyenv shim, starting it takes a second
PV_PYTHON=python3
[ -x /usr/bin/python3 ] && PV_PYTHON=/usr/bin/python3

PV_PY=$TOP/test/integration/profile-view.py

# The probes of `ip route get`: DEST, DEST/mark (as the engine's packets with fwmark 0x7475),
# DEST/uid (as the engine's packets from its user, tund = 991 in the harness)
PV_PROBES="203.0.113.1 203.0.113.129 2001:db8:2::1 192.0.2.1 2001:db8:1::1 198.51.100.1 203.0.113.1/mark 203.0.113.1/uid"

pv_snap() { # OUT NAME...
	local out=$1 n args=()
	shift
	mkdir -p "$out"
	for n in "$@"; do args+=("$n:${PIF[$n]}:${PSLOT[$n]:-}"); done
	# one process in the namespace for everything (it is done after every step)
	# shellcheck disable=SC2016
	cns sh -c '
		echo "### addr"; ip -j addr show
		echo "### v4"; printf "route show table all\nrule show\n" | ip -4 -j -batch -
		echo "### v6"; printf "route show table all\nrule show\n" | ip -6 -j -batch -
		echo "### dns"; "$1/usr/bin/resolvectl" status 2>&1
		echo "### slots"; grep -H "" /run/tund/slots/* /run/tund/*/slots/* 2>/dev/null
		echo "### wg"; ls -A /run/wireguard 2>/dev/null
		echo "### ps"; grep -a "" /proc/[0-9]*/cmdline 2>/dev/null
		echo "### rget"
		for p in $2; do
			case $p in
			*/mark) echo "route get ${p%/mark} mark 0x7475" ;;
			*/uid) echo "route get ${p%/uid} uid 991" ;;
			*) echo "route get $p" ;;
			esac
		done | ip -o -force -batch - 2>/dev/null
		true' pview-snap "$RESOLVED_ROOT" "$PV_PROBES" >"$out/snap" 2>&1
	"$PV_PYTHON" "$PV_PY" "$out/snap" "$out" "$PV_PROBES" "${args[@]}"
}
