#!/bin/bash
# Several profiles at once (issue 16): full A, split B, split C, full D, each with its own peer
# on the server. Every profile first runs alone, which records its baseline view (addresses,
# routes, rules, DNS on its link, table and rule span; lib-profiles.sh). Then, for every start
# order of the pairs that can coexist and of the triples {A,B,C} and {D,B,C}, after every start,
# SIGTERM, SIGKILL and `--cleanup` (what ExecStopPost= runs):
#   identical            each running profile's view is byte-identical to its baseline
#   stopped_left_nothing every profile not running has nothing left (link, address, route in
#                        its table or on its link, rule in its span, DNS, process, UAPI socket,
#                        claim file: a slot is released once its settings are reverted)
#   admin_untouched      everything tund does not own (a rule at 21705 proto static, a route in
#                        table 29813 proto static, a route in main, eth0, lo, resolved's global
#                        settings) is as it was, and no proto-tund object is unowned
#   route_get            `ip route get` of a destination of each running tunnel names its link;
#                        while a full tunnel runs nothing tunnelled names eth0 (the leak check,
#                        without tcpdump), and the endpoint and the engine's own packets (by
#                        fwmark or by its user, whichever the profile's rule exempts) do
#   traffic              a ping through each running tunnel gets an answer
# A full tunnel while another runs is refused, naming the running one (A then D, D then A).
#
# Profiles are stopped in the order they started. Pairs: XY with SIGTERM, YX with SIGKILL;
# triples: the six orders alternating SIGTERM and SIGKILL.
# Run time: the whole matrix (4 baselines, 2 refusals, 10 pair orders, 12 triple orders, about
# 70 starts and 140 checked steps) took 137-177 s on 2 cores with a load average of 5; each
# step costs ~0.5 s of snapshot. Under the 4-minute budget, so no order is left out;
# PROFILES_QUICK=1 runs one order per pair and two per triple (~100 s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"

T0=$(date +%s)
T0MS=$(date +%s%3N)
tlog() { echo "# $(($(date +%s%3N) - T0MS)) ms: $*"; } # timings, in the log only
if ! e2e_setup pr; then fail setup "could not build the namespaces"; exit 1; fi
. "$(dirname "$0")/lib-profiles.sh"
e2e_default_route

# --- the server: one wireguard-go, a peer per profile (the harness's peer is A's) ---
declare -A PKEY PADDR PALLOWED PDNS PPSK
KB=$(wg genkey) KC=$(wg genkey) KD=$(wg genkey)
sns wg set "$SIF" peer "$(echo "$KB" | wg pubkey)" allowed-ips 192.0.2.3/32,2001:db8:1::3/128 \
	peer "$(echo "$KC" | wg pubkey)" allowed-ips 192.0.2.4/32 \
	peer "$(echo "$KD" | wg pubkey)" allowed-ips 192.0.2.5/32,2001:db8:1::5/128 ||
	{ fail setup "server peers"; exit 1; }
ip -n "$SRV" addr add 203.0.113.129/32 dev lo

PA=fulla PB=splitb PC=splitc PD=fulld
ALL="$PA $PB $PC $PD"
PKEY[$PA]=$CKEY PADDR[$PA]="192.0.2.2/32, 2001:db8:1::2/128" PALLOWED[$PA]="0.0.0.0/0, ::/0"
PDNS[$PA]="DNS = 192.0.2.1, corp.example" PPSK[$PA]="PresharedKey = $PSK"
PKEY[$PB]=$KB PADDR[$PB]="192.0.2.3/32, 2001:db8:1::3/128" PALLOWED[$PB]="203.0.113.0/25, 2001:db8:2::/64"
PDNS[$PB]="DNS = 192.0.2.1, b.example" PPSK[$PB]=""
PKEY[$PC]=$KC PADDR[$PC]="192.0.2.4/32" PALLOWED[$PC]="203.0.113.128/25" PDNS[$PC]="" PPSK[$PC]=""
PKEY[$PD]=$KD PADDR[$PD]="192.0.2.5/32, 2001:db8:1::5/128" PALLOWED[$PD]="0.0.0.0/0, ::/0"
PDNS[$PD]="DNS = 192.0.2.1" PPSK[$PD]=""
FULL=" $PA $PD "
for p in $ALL; do
	PIF[$p]=tund-$p
	cat >"$W/etc/$p.conf" <<CONF
[Interface]
PrivateKey = ${PKEY[$p]}
Address = ${PADDR[$p]}
${PDNS[$p]}

[Peer]
PublicKey = $SPUB
${PPSK[$p]}
Endpoint = 198.51.100.1:51820
AllowedIPs = ${PALLOWED[$p]}
PersistentKeepalive = 25

[Tund]
InterfaceName = tund-$p
CONF
	chmod 600 "$W/etc/$p.conf"
	: >"$W/shim-$p.log"
done
is_full() { case $FULL in *" $1 "*) return 0 ;; esac; return 1; }
declare -A EXEMPT # full tunnel -> how its rule exempts the engine: mark (fwmark) or uid (uidrange)

# --- objects an admin made before any tund ran: never to be touched ---
ip -n "$RNS" rule add pref 21705 lookup 100 proto static &&
	ip -n "$RNS" -6 rule add pref 21705 lookup 100 proto static &&
	ip -n "$RNS" route add 198.18.6.0/24 via 198.51.100.1 dev eth0 table 29813 proto static &&
	ip -n "$RNS" -6 route add 2001:db8:ff:6::/64 via 2001:db8:ff::1 dev eth0 table 29813 proto static &&
	ip -n "$RNS" route add 198.18.5.0/24 via 198.51.100.1 dev eth0 proto static ||
	{ fail setup "admin objects"; exit 1; }

e2e_helper_start || { fail setup "helper"; exit 1; }
V=$W/v
BASE=$W/base
mkdir -p "$BASE"
pv_snap "$V" $ALL
cp "$V/host.view" "$BASE/host.view"
check admin_objects_planted bash -c "grep -q '21705' '$BASE/host.view' && grep -q '198.18.6.0/24.*29813' '$BASE/host.view'"

RUNNING=""
running() { case " $RUNNING " in *" $1 "*) return 0 ;; esac; return 1; }

# What `ip route get` must answer with the profiles in $1 running.
expect_dev() { # PROBE RUNNING
	local probe=$1 run=" $2 " f=''
	for p in $2; do is_full "$p" && f=tund-$p; done
	case $probe in
	# the endpoint bypasses a full tunnel, and so do the engine's own packets, recognised by
	# what the profile's rule exempts (fwmark 0x7475 or the engine's user)
	*/mark | */uid)
		[ -n "$f" ] && [ "${EXEMPT[${f#tund-}]:-}" = "${probe##*/}" ] && f=''
		probe=${probe%/*}
		;;
	198.51.100.1) f='' ;;
	esac
	case $probe in
	203.0.113.1 | 2001:db8:2::1) case $run in *" $PB "*) echo "tund-$PB"; return ;; esac ;;
	203.0.113.129) case $run in *" $PC "*) echo "tund-$PC"; return ;; esac ;;
	esac
	echo "${f:-eth0}"
}

result() { # NAME PROBLEMS: PASS if empty
	if [ -z "$2" ]; then pass "$1"; else fail "$1" "$2"; fi
}
vdiff() { # A B: the first differences, never empty when A and B differ
	local d
	cmp -s "$1" "$2" && return
	d=$(diff "$1" "$2" | grep '^[<>]' | head -n 6 | tr -s ' \n' ' ')
	echo "${d:-$1 and $2 differ}"
}

# verify STEP [KILLED]: the checks of the header, with $RUNNING running. KILLED: a profile
# just SIGKILLed and not yet cleaned up (its own leftovers and destinations are not judged,
# the others' are).
verify() {
	local step=$1 killed=${2:-} p bad='' probe dev want want2 pings=''
	tlog "verify $step"
	if [ -n "$PV_FRESH" ]; then
		PV_FRESH='' # wait_left_nothing's last snapshot is this step's
	elif ! pv_snap "$V" $ALL >"$W/pv.err" 2>&1; then
		fail "$step.snapshot" "$(tail -n 3 "$W/pv.err" | tr '\n' ' ')"
		return
	fi
	if [ -n "$RUNNING" ]; then
		for p in $RUNNING; do
			cmp -s "$V/$p.view" "$BASE/$p.view" || bad+="$p differs from alone: $(vdiff "$BASE/$p.view" "$V/$p.view"); "
		done
		result "$step.identical" "$bad"
	fi
	bad=
	for p in $ALL; do
		running "$p" || [ "$p" = "$killed" ] && continue
		cmp -s "$V/$p.view" "$V/EMPTY.view" || bad+="$p left: $(vdiff "$V/EMPTY.view" "$V/$p.view"); "
	done
	result "$step.stopped_left_nothing" "$bad"
	result "$step.admin_untouched" "$(cmp -s "$V/host.view" "$BASE/host.view" || vdiff "$BASE/host.view" "$V/host.view")"
	bad=
	while read -r probe dev; do
		want=$(expect_dev "$probe" "$RUNNING")
		if [ -n "$killed" ]; then
			want2=$(expect_dev "$probe" "$RUNNING $killed")
			[ "$want" = eth0 ] && [ "$want2" != eth0 ] && continue # the killed one's own
			[ "$dev" = "$want2" ] && continue                      # its link not gone yet
		fi
		[ "$dev" = "$want" ] || bad+="$probe: dev $dev, want $want; "
	done <"$V/rget"
	result "$step.route_get" "$bad"
	for p in $RUNNING; do
		case $p in
		"$PB") pings+=" 203.0.113.1 2001:db8:2::1" ;;
		"$PC") pings+=" 203.0.113.129" ;;
		*) pings+=" 192.0.2.1 2001:db8:1::1" ;;
		esac
	done
	if [ -n "$pings" ]; then
		# shellcheck disable=SC2016
		result "$step.traffic" "$(cns sh -c 'for d; do ping -c 1 -W 3 "$d" >/dev/null 2>&1 || echo "no answer from $d" & done; wait' - $pings | tr '\n' ' ')"
	fi
}

# up NAME: start the shim; 0 once READY=1, 1 if it exited or 20 s passed.
up() {
	local pid i
	tlog "up $1"
	e2e_shim_start "$1"
	pid=${SHIM_PID[$1]}
	for ((i = 0; i < 400; i++)); do
		e2e_ready "$1" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# shim_wait NAME SECONDS: wait for the shim's exit; its status in RC (124: had to be killed).
shim_wait() {
	local pid=${SHIM_PID[$1]} i
	for ((i = 0; i < $2 * 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$pid" 2>/dev/null; then
		e2e_shim_kill "$1" KILL
		wait "$pid" 2>/dev/null
		RC=124
	else
		wait "$pid" 2>/dev/null
		RC=$?
	fi
}
drop() { RUNNING=$(for p in $RUNNING; do [ "$p" = "$1" ] || printf '%s ' "$p"; done); RUNNING=${RUNNING% }; }
cleanup_cmd() { cns "$B/tund-netshimd" --cleanup --config-dir "$W/etc" "$1" >>"$W/cleanup-$1.log" 2>&1; }
# the view of NAME is empty (after a SIGKILL the tunnel and engine need a moment to follow)
PV_FRESH=''
wait_left_nothing() { # NAME
	local i
	for ((i = 0; i < 40; i++)); do
		pv_snap "$V" $ALL && cmp -s "$V/$1.view" "$V/EMPTY.view" && { PV_FRESH=1; return 0; }
		sleep 0.25
	done
	return 1
}

start_step() { # STEP NAME
	if up "$2"; then
		RUNNING="$RUNNING $2"
		RUNNING=${RUNNING# }
		pass "$1.ready"
	else
		fail "$1.ready" "$(tail -n 3 "$W/shim-$2.log" | tr '\n' ' ')"
		shim_wait "$2" 1
		cleanup_cmd "$2"
		wait_left_nothing "$2"
	fi
	verify "$1"
}
stop_step() { # STEP NAME term|kill
	e2e_shim_kill "$2" "${3^^}"
	shim_wait "$2" 15
	drop "$2"
	if [ "$3" = term ]; then
		result "$1.exit_0" "$([ "$RC" = 0 ] || echo "exit $RC; $(tail -n 2 "$W/shim-$2.log" | tr '\n' ' ')")"
		verify "$1"
	else
		verify "$1" "$2"
		cleanup_cmd "$2"
		RC=$?
		result "$1.cleanup_exit_0" "$([ "$RC" = 0 ] || echo "exit $RC; $(tail -n 2 "$W/cleanup-$2.log" | tr '\n' ' ')")"
		wait_left_nothing "$2"
		verify "$1.cleaned"
	fi
}
letter() { case $1 in "$PA") echo A ;; "$PB") echo B ;; "$PC") echo C ;; "$PD") echo D ;; esac; }

# --- every profile alone: the baselines ---
for p in $ALL; do
	s=alone_$(letter "$p")
	if ! up "$p"; then
		fail "$s.ready" "$(tail -n 3 "$W/shim-$p.log" | tr '\n' ' ')"
		shim_wait "$p" 1
		cleanup_cmd "$p"
		continue
	fi
	pass "$s.ready"
	RUNNING=$p
	pv_snap "$V" $ALL
	if read -r _ slot claims < <(grep "^$p " "$V/learn"); then
		PSLOT[$p]=$slot
		pass "$s.slot_$slot"
		# the claim file names the profile; its number gives table and span
		result "$s.claim_file" "$([ "$claims" = "$slot" ] || echo "claim files for $p: $claims")"
	else
		fail "$s.slot" "no claim file and no table of its own: $(grep -A3 '### slots' "$V/snap" | tr '\n' ' ')"
	fi
	pv_snap "$V" $ALL
	sleep 1 # must be settled at READY=1: a second look a second later is the same
	pv_snap "$W/v2" $ALL
	result "$s.view_settled_at_ready" "$(cmp -s "$V/$p.view" "$W/v2/$p.view" || vdiff "$V/$p.view" "$W/v2/$p.view")"
	cp "$W/v2/$p.view" "$BASE/$p.view"
	result "$s.view_not_empty" "$(! cmp -s "$BASE/$p.view" "$W/v2/EMPTY.view" || echo 'nothing of it seen')"
	if [ -n "${PSLOT[$p]:-}" ]; then
		T=$((29813 + PSLOT[$p])) P=$((21700 + 10 * PSLOT[$p]))
		if is_full "$p"; then
			# its rules and the default route in its table (profile-own-rules.py says which)
			EXEMPT[$p]=$("$PV_PYTHON" "$TOP/test/integration/profile-own-rules.py" "$BASE/$p.view" \
				"$P" "$T" "${PIF[$p]}" 2>&1)
			case ${EXEMPT[$p]} in
			mark | uid) pass "$s.own_table_and_rules_${EXEMPT[$p]}" ;;
			*) fail "$s.own_table_and_rules" "$(echo "${EXEMPT[$p]}" | tail -n 3 | tr '\n' ' ')" ;;
			esac
			# tundctl status --json: the table, where the applied settings say it
			ctl status --json >"$W/status.json" 2>&1
			t=$(jq -r --arg p "$p" '[.sessions[] | select(.profile == $p)][0].applied.table // ""' \
				"$W/status.json" 2>&1)
			if [ -z "$t" ]; then
				fail "$s.status_table" "tundctl status --json has no applied.table"
			else
				result "$s.status_table" "$([ "$t" = "$T" ] || echo "status says table $t, want $T")"
			fi
		fi
	fi
	if [ -n "${PDNS[$p]}" ]; then
		result "$s.dns_on_link" "$(grep -q '"DNS Servers": "192.0.2.1"' "$BASE/$p.view" || echo 'no DNS server on the link')"
	fi
	verify "$s"
	stop_step "$s.stop" "$p" term
done

# --- a second full tunnel is refused, naming the running one; the running one is untouched ---
refusal() { # FIRST SECOND
	local s lines
	s=refuse_$(letter "$1")$(letter "$2")
	start_step "$s.up_$(letter "$1")" "$1"
	running "$1" || return
	lines=$(wc -l <"$W/shim-$2.log")
	e2e_shim_start "$2"
	shim_wait "$2" 10
	result "$s.second_exits_non_zero" "$([ "$RC" != 0 ] && [ "$RC" != 124 ] || echo "exit $RC")"
	result "$s.second_never_ready" "$(! e2e_ready "$2" || echo 'it sent READY=1')"
	tail -n +"$((lines + 1))" "$W/shim-$2.log" >"$W/refusal.log"
	result "$s.message_names_$1" "$(grep -qw "$1" "$W/refusal.log" || echo "log: $(tail -n 3 "$W/refusal.log" | tr '\n' ' ')")"
	[ "$RC" = 124 ] && cleanup_cmd "$2" # it ran: what ExecStopPost= would do
	wait_left_nothing "$2"
	verify "$s.after_refusal"
	stop_step "$s.stop_$(letter "$1")" "$1" term
}
refusal "$PA" "$PD"
refusal "$PD" "$PA"

# --- the matrix ---
# run ORDER MODE: start the profiles in ORDER one after the other, then stop them in the same
# order, each with MODE (term: SIGTERM; kill: SIGKILL, then --cleanup).
run() {
	local order=$1 mode=$2 s p
	s=$(for p in $order; do letter "$p"; done | tr -d '\n')_$mode
	for p in $order; do start_step "$s.up_$(letter "$p")" "$p"; done
	# (a profile that did not start was cleaned up by start_step: the next order starts from nothing)
	for p in $order; do running "$p" && stop_step "$s.${mode}_$(letter "$p")" "$p" "$mode"; done
}
# The capture on the underlay: during the whole matrix, no packet to or from a tunnelled
# network (the tunnels' addresses, the server's networks behind them) crosses the server's
# eth0 in clear; only the tunnels' UDP does.
sns python3 "$TOP/test/integration/leak-sniffer.py" eth0 "$W/leaks" 192.0.2.0/24 \
	203.0.113.0/24 2001:db8:1::/64 2001:db8:2::/48 >"$W/sniffer.out" 2>&1 &
SNIFFER=$!
T_PIDS+=("$SNIFFER")
wait_for 5 grep -q listening "$W/sniffer.out" || fail underlay_capture_started "$(cat "$W/sniffer.out")"
: >>"$W/leaks"
PAIRS="$PA,$PB $PA,$PC $PB,$PC $PD,$PB $PD,$PC"
for pair in $PAIRS; do
	x=${pair%,*} y=${pair#*,}
	run "$x $y" term
	[ -n "${PROFILES_QUICK:-}" ] || run "$y $x" kill
done
# the six orders of a triple, alternating SIGTERM and SIGKILL: each profile is the first to go
# once each way while the two others run
for triple in "$PA $PB $PC" "$PD $PB $PC"; do
	read -r x y z <<<"$triple"
	i=0
	for order in "$x $y $z" "$x $z $y" "$y $x $z" "$y $z $x" "$z $x $y" "$z $y $x"; do
		if ((i % 2 == 0)); then run "$order" term; else run "$order" kill; fi
		i=$((i + 1))
		[ -n "${PROFILES_QUICK:-}" ] && ((i == 2)) && break
	done
done

kill -TERM "$SNIFFER" 2>/dev/null
wait "$SNIFFER" 2>/dev/null
# The sniffer must have seen the tunnels' own UDP, or it saw nothing at all.
check underlay_capture_saw_traffic bash -c "[ \$(ip -n $SRV -s link show eth0 | awk '/RX:/ {getline; print \$2; exit}') -gt 0 ]"
if [ ! -s "$W/leaks" ]; then
	pass underlay_capture_no_clear_packet
else
	fail underlay_capture_no_clear_packet "$(wc -l <"$W/leaks") packets, first: $(head -3 "$W/leaks" | tr '\n' ' ')"
fi
echo "run time: $(($(date +%s) - T0)) s"
