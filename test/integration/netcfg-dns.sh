# libnetcfg's DNS: systemd-resolved over sd-bus (split and full mode, revert, bus address
# passed by the caller, reconcile), resolvconf, automatic choice, and "no DNS backend".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-resolved.sh"

TOOL=$B/test/helpers/netcfg-tool
TUNHOLD=$B/test/helpers/tunhold
STATE=/run/tund-t-dns.state
R1=org.freedesktop.resolve1

resolved_ns_start dns || { fail setup "private resolved namespace did not start"; exit 1; }
rns "$TUNHOLD" tund-t0 >/dev/null &
T_PIDS+=($!)
wait_for 5 rns test -e /sys/class/net/tund-t0 || { fail setup "no TUN link"; exit 1; }
IF=tund-t0
IDX=$(rns cat /sys/class/net/$IF/ifindex)
LINK=/org/freedesktop/resolve1/link/_3$IDX # bus_label_escape("2") = "_32"
prop() { rbusctl get-property $R1 $LINK $R1.Link "$1"; }
expect_prop() { # PROP VALUE
	local v
	v=$(prop "$1")
	[ "$v" = "$2" ] || { echo "$1 is [$v], expected [$2]"; return 1; }
}
BEFORE=$(resolvectl_ns status $IF 2>&1)
# (check's own local "out" shadows ours: these read LAST)
out_has() { grep -q -- "$1" <<<"$LAST" || { echo "output: $LAST"; return 1; }; }
no_address() { ! rns ip addr show $IF | grep -q "$1" || { echo "address $1 still there; output: $LAST"; return 1; }; }
same_resolvectl() { local now; now=$(resolvectl_ns status $IF 2>&1); [ "$now" = "$BEFORE" ] || { diff <(echo "$BEFORE") <(echo "$now"); return 1; }; }

# --- split: only the profile's domains go to the tunnel ---
SPLIT=(--addr 192.0.2.2/24 --dns 192.0.2.53 --dns 2001:db8::53 --search corp.example
	--routing internal.example)
out=$(rns "$TOOL" "${SPLIT[@]}" --state $STATE apply $IF 2>&1)
check split_backend_resolved grep -q 'dns=resolved' <<<"$out"
check split_dns_servers expect_prop DNS 'a(iay) 2 2 4 192 0 2 53 10 16 32 1 13 184 0 0 0 0 0 0 0 0 0 0 0 83'
check split_domains expect_prop Domains 'a(sb) 2 "corp.example" false "internal.example" true'
check split_not_default_route expect_prop DefaultRoute 'b false'
check split_resolvectl sh -c "nsenter -t $RNS_PID -n -m -p -- $RESOLVED_ROOT/usr/bin/resolvectl domain $IF | grep -q 'corp.example ~internal.example'"
out=$(rns "$TOOL" show $IF 2>&1)
check read_dns_via_reader grep -q 'dns-domain ~internal.example' <<<"$out"
check split_revert rns "$TOOL" --state $STATE revert
check split_revert_dns expect_prop DNS 'a(iay) 0'
check split_revert_domains expect_prop Domains 'a(sb) 0'
check split_revert_resolvectl same_resolvectl

# --- full: "." routing-only and default route, as systemd documents for VPNs ---
FULL=(--addr 192.0.2.2/24 --dns 192.0.2.53 --search corp.example --dns-full)
check full_apply rns "$TOOL" "${FULL[@]}" --state $STATE apply $IF
check full_domains expect_prop Domains 'a(sb) 2 "corp.example" false "." true'
check full_default_route expect_prop DefaultRoute 'b true'
check full_revert rns "$TOOL" --state $STATE revert
check full_revert_resolvectl same_resolvectl

# --- the caller passes the bus address (the environment points elsewhere) ---
check bus_address_option rns env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$TOOL" \
	--bus unix:path=/run/dbus/system_bus_socket "${SPLIT[@]}" --state $STATE apply $IF
check bus_address_applied expect_prop Domains 'a(sb) 2 "corp.example" false "internal.example" true'
check bus_address_revert rns env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$TOOL" \
	--bus unix:path=/run/dbus/system_bus_socket --state $STATE revert
check bus_address_reverted expect_prop DNS 'a(iay) 0'

# --- crash: kill -9 the applying process; reconcile calls RevertLink ---
rns "$TOOL" "${SPLIT[@]}" --hold apply $IF >"$RESOLVED_DIR/hold.out" &
HOLD=$!
T_PIDS+=("$HOLD")
wait_for 10 grep -q ifname= "$RESOLVED_DIR/hold.out"
kill -9 $HOLD
wait $HOLD 2>/dev/null
check crash_dns_left expect_prop Domains 'a(sb) 2 "corp.example" false "internal.example" true'
check crash_reconcile rns "$TOOL" reconcile $IF
check crash_reconciled expect_prop DNS 'a(iay) 0'
rns ip addr flush dev $IF
rns ip link set $IF down
check crash_resolvectl same_resolvectl

# --- resolvconf: a stand-in program records its arguments and input ---
RC=$RESOLVED_DIR/bin/resolvconf
mkdir -p "$RESOLVED_DIR/bin"
cat >"$RC" <<EOF
#!/bin/sh
echo "args: \$*" >>"$RESOLVED_DIR/resolvconf.log"
# (the shell's own signal state as started: read by a builtin loop, before it forks and waits)
while read -r k v; do case \$k in SigBlk:|SigIgn:) echo "\$k \$v" >>"$RESOLVED_DIR/resolvconf.log" ;; esac; done </proc/self/status
cat >>"$RESOLVED_DIR/resolvconf.log"
EOF
chmod 755 "$RC"
NOBUS=(env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent)
# (SIGTERM ignored in the caller, as a daemon's is blocked for sd-event: resolvconf must start
# with default dispositions and an empty mask, or systemd could not stop it)
out=$(rns "${NOBUS[@]}" PATH="$RESOLVED_DIR/bin:/usr/bin:/bin" sh -c 'trap "" TERM; exec "$@"' sh \
	"$TOOL" "${SPLIT[@]}" --state $STATE apply $IF 2>&1)
check auto_falls_back_to_resolvconf grep -q 'dns=resolvconf' <<<"$out"
check resolvconf_add_args grep -qx "args: -a $IF.tund" "$RESOLVED_DIR/resolvconf.log"
check resolvconf_input sh -c "grep -qx 'nameserver 192.0.2.53' $RESOLVED_DIR/resolvconf.log && grep -qx 'nameserver 2001:db8::53' $RESOLVED_DIR/resolvconf.log && grep -qx 'search corp.example' $RESOLVED_DIR/resolvconf.log"
check resolvconf_no_tilde sh -c "! grep -q '~' $RESOLVED_DIR/resolvconf.log"
term_not_ignored() { # SIGTERM (bit 14 of SigIgn) at its default, nothing blocked
	local ign blk
	ign=$(sed -n 's/^SigIgn: //p' "$RESOLVED_DIR/resolvconf.log" | head -n 1)
	blk=$(sed -n 's/^SigBlk: //p' "$RESOLVED_DIR/resolvconf.log" | head -n 1)
	[ -n "$ign" ] && [ $((0x$ign & 0x4000)) = 0 ] && [ "$blk" = 0000000000000000 ] || { echo "SigIgn $ign SigBlk $blk"; return 1; }
}
check resolvconf_default_signals term_not_ignored
check resolvconf_revert rns "${NOBUS[@]}" "$TOOL" --resolvconf "$RC" --state $STATE revert
check resolvconf_delete_args grep -qx "args: -d $IF.tund" "$RESOLVED_DIR/resolvconf.log"
check resolved_untouched expect_prop DNS 'a(iay) 0'
check resolvconf_forced rns "$TOOL" --backend resolvconf --resolvconf "$RC" "${SPLIT[@]}" apply $IF
rns "$TOOL" reconcile $IF >/dev/null 2>&1
rns ip addr flush dev $IF # reconcile leaves addresses: they go with the TUN link
cat >"$RC" <<'EOF'
#!/bin/sh
echo "resolvconf: /etc/resolvconf/run/interface: read-only file system" >&2
exit 3
EOF
LAST=$(rns "${NOBUS[@]}" "$TOOL" --resolvconf "$RC" "${SPLIT[@]}" apply $IF 2>&1)
check resolvconf_failure_reported out_has 'exit status 3): resolvconf: /etc/resolvconf/run/interface: read-only'
check resolvconf_failure_rolled_back no_address 192.0.2.2
# A resolvconf that exits without reading its input must not kill the caller (SIGPIPE): the
# race is timing-dependent, so try it often.
sigpipe_safe() {
	local i o
	for i in $(seq 30); do
		o=$(rns "${NOBUS[@]}" "$TOOL" --resolvconf "$RC" --dns 192.0.2.53 apply $IF 2>&1)
		grep -q 'exit status 3' <<<"$o" || { echo "run $i: [$o]"; return 1; }
	done
}
check resolvconf_early_exit_no_sigpipe sigpipe_safe
# A resolvconf that hangs is killed after 10 s: the apply fails saying so and is rolled back.
cat >"$RC" <<'EOF'
#!/bin/sh
exec sleep 61
EOF
LAST=$(rns "${NOBUS[@]}" "$TOOL" --resolvconf "$RC" "${SPLIT[@]}" apply $IF 2>&1)
check resolvconf_hang_times_out out_has "-a $IF.tund: no answer within 10 s"
check resolvconf_hang_rolled_back no_address 192.0.2.2
check resolvconf_hang_killed sh -c "! ip netns pids $RNS | xargs -r ps -o args= -p | grep -q 'sleep 61'"

# --- no backend: a clear error only when DNS was asked for, nothing applied ---
LAST=$(rns "${NOBUS[@]}" PATH=/nonexistent "$TOOL" "${SPLIT[@]}" apply $IF 2>&1)
if [ -x /sbin/resolvconf ] || [ -x /usr/sbin/resolvconf ]; then
	skip no_dns_backend_error "the host has a resolvconf program"
else
	check no_dns_backend_error out_has 'no DNS backend'
	check no_dns_backend_nothing_applied no_address 192.0.2.2
fi
out=$(rns "${NOBUS[@]}" PATH=/nonexistent "$TOOL" --addr 192.0.2.2/24 apply $IF 2>&1)
check no_dns_asked_no_backend_needed grep -q 'dns=none' <<<"$out"
