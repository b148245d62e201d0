#!/bin/bash
# The NetworkManager integration as a real NetworkManager (Debian 12: 1.42) runs it: the
# daemon and its dispatcher on a private system bus in namespaces of their own, a veth
# connection brought up, down and up again with nmcli, the hook and the conf.d snippet installed
# where the package installs them, next to a stand-in for another package's unmanaged list
# (Ubuntu's 10-globally-managed-devices.conf).
#   - the dispatch sequence, the hook's calls (a stub tundctl in /usr/sbin records them)
#   - a hanging tundctl delays no dispatcher request: scripts before and after 90-tund in the
#     same request, and the next request, run within 1 s; the timeout still reaches syslog
#   - the merged configuration (NetworkManager --print-config keeps the other file's list)
#   - tund links stay unmanaged, and so do the other list's; a control TUN is not
#   - with the real tund-helperd (fake tunnel) and tundctl: one `nmcli con up` is one rebind
# Fails, never skips, when NetworkManager cannot run here.
#
# NetworkManager is not installed on the host (the package enables and starts it, and pulls in
# udev, whose postinst starts udevd and re-triggers every device): `apt-get download` +
# `dpkg-deb -x` into $NM_CACHE (the version of the installed libnm0, from deps.txt). Inside the
# namespace, /etc, /usr/lib, /usr/sbin, /var/lib and /dev are overlays whose writes land in a
# tmpfs, /sys is read-only (NetworkManager then treats devices as initialized without udev),
# the host name is a UTS namespace's: nothing on the host changes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-resolved.sh" # deb_unpack, private_bus_write_conf

HOOK="$TOP/tools/nm-dispatcher/90-tund"
SNIPPET="$TOP/tools/nm-dispatcher/90-tund-unmanaged.conf"
NM_CACHE=${NM_CACHE:-/var/cache/tund-test}

# --- NetworkManager, unpacked (never installed) ---
nm_ensure() {
	local ver dir
	ver=$(dpkg-query -W -f='${Version}' libnm0 2>/dev/null) || {
		echo "libnm0 is not installed (make deps)"
		return 1
	}
	dir="$NM_CACHE/network-manager-$ver"
	NM_ROOT="$dir/root"
	[ -x "$NM_ROOT/usr/sbin/NetworkManager" ] && return 0
	deb_unpack network-manager "$ver" "$dir"
}
NM_ROOT=
if ! nm_ensure >/tmp/tund-t-nm-ensure.$$ 2>&1; then
	fail nm-setup "cannot get NetworkManager: $(cat /tmp/tund-t-nm-ensure.$$)"
	rm -f /tmp/tund-t-nm-ensure.$$
	exit 1
fi
rm -f /tmp/tund-t-nm-ensure.$$
missing=$(ldd "$NM_ROOT/usr/sbin/NetworkManager" "$NM_ROOT/usr/bin/nmcli" \
	"$NM_ROOT/usr/lib/NetworkManager/nm-dispatcher" 2>&1 | grep 'not found')
[ -z "$missing" ] || { fail nm-setup "libraries missing (make deps): $missing"; exit 1; }
for f in dbus-daemon python3 nsenter unshare; do
	command -v "$f" >/dev/null || { fail nm-setup "$f missing (make deps)"; exit 1; }
done

W=$(mktemp -d /tmp/tund-t-nmreal-XXXXXX) || exit 1
T_FILES+=("$W")
chmod 755 "$W"

# --- the merged configuration, as --print-config shows it (no daemon needed) ---
# print_config LIBDIR ETCDIR MAINCONF: NetworkManager's view of these directories
print_config() {
	"$NM_ROOT/usr/sbin/NetworkManager" --print-config --system-config-dir="$1" --config-dir="$2" \
		--config="$3" --intern-config="$W/pc-intern.conf" --state-file="$W/pc-state" 2>&1
}
mkdir -p "$W/pc/lib" "$W/pc/etc"
printf '[main]\nplugins=keyfile\n' >"$W/pc/NetworkManager.conf"
# Ubuntu's /usr/lib/NetworkManager/conf.d/10-globally-managed-devices.conf
printf '[keyfile]\nunmanaged-devices=*,except:type:wifi,except:type:gsm,except:type:cdma\n' \
	>"$W/pc/lib/10-globally-managed-devices.conf"
cp "$SNIPPET" "$W/pc/lib/"
pc=$(print_config "$W/pc/lib" "$W/pc/etc" "$W/pc/NetworkManager.conf")
check config_merges_other_list grep -qx 'unmanaged-devices=\*,except:type:wifi,except:type:gsm,except:type:cdma,interface-name:tund-\*' <<<"$pc"
# what README tells an administrator: "+=" in their own file keeps ours
printf '[keyfile]\nunmanaged-devices+=mac:02:00:00:00:00:01\n' >"$W/pc/etc/50-admin.conf"
pc=$(print_config "$W/pc/lib" "$W/pc/etc" "$W/pc/NetworkManager.conf")
check config_admin_plus_keeps_ours grep -q '^unmanaged-devices=.*interface-name:tund-\*,mac:02:00:00:00:00:01$' <<<"$pc"
# ... and "=" there drops it (why README says so)
printf '[keyfile]\nunmanaged-devices=mac:02:00:00:00:00:01\n' >"$W/pc/etc/50-admin.conf"
pc=$(print_config "$W/pc/lib" "$W/pc/etc" "$W/pc/NetworkManager.conf")
check config_admin_replace_drops_ours grep -qx 'unmanaged-devices=mac:02:00:00:00:00:01' <<<"$pc"

# --- the namespace's NetworkManager directories ---
# /etc/NetworkManager: NetworkManager.conf, marker scripts around the hook;
# /usr/lib/NetworkManager: the package's, plus the stand-in list and tund's files where the
# Makefile installs them.
mkdir -p "$W"/etc-nm/{conf.d,dispatcher.d/no-wait.d,dispatcher.d/pre-up.d,dispatcher.d/pre-down.d,system-connections}
chmod 700 "$W/etc-nm/system-connections"
cp -a "$NM_ROOT/usr/lib/NetworkManager" "$W/lib-nm"
mkdir -p "$W/lib-nm/conf.d" "$W/lib-nm/dispatcher.d"
printf '# stand-in for another package'"'"'s list\n[keyfile]\nunmanaged-devices=interface-name:tsx*\n' \
	>"$W/lib-nm/conf.d/10-globally-managed-devices.conf"
install -m 0644 "$SNIPPET" "$W/lib-nm/conf.d/"
install -m 0755 -o root -g root "$HOOK" "$W/lib-nm/dispatcher.d/"
cat >"$W/etc-nm/NetworkManager.conf" <<EOF
[main]
plugins=keyfile
dns=none
rc-manager=unmanaged
auth-polkit=false
hostname-mode=none
[logging]
level=INFO
domains=DEFAULT,DISPATCH:DEBUG
EOF
# marker scripts: 00- runs before 90-tund, 99- after it, in every request
for n in 00-tund-t-before 99-tund-t-after; do
	cat >"$W/etc-nm/dispatcher.d/$n" <<EOF
#!/bin/sh
echo "\$(date +%s.%N) $n \$2 \${1:--} \${CONNECTIVITY_STATE:-}" >>$W/events
EOF
	chmod 755 "$W/etc-nm/dispatcher.d/$n"
done
# the stub tundctl: records when and how it was called; hangs while $W/hang exists
cat >"$W/tundctl-stub" <<EOF
#!/bin/sh
echo "\$(date +%s.%N) start \$*" >>$W/calls
if [ -f $W/hang ]; then sleep 30; fi
echo "\$(date +%s.%N) end" >>$W/calls
exit 0
EOF
chmod 755 "$W/tundctl-stub"
: >"$W/events"
: >"$W/calls"
: >"$W/syslog"

private_bus_write_conf "$W/bus.conf" "$NM_ROOT/usr/share/dbus-1/system.d"

# PID 1 of the namespace: mounts, a /dev/log listener, the bus, the dispatcher, NetworkManager.
# The dispatcher is started with --persist (on a real system the bus activates it).
cp "$TOP/test/integration/dgram-listener.py" "$W/"
cat >"$W/init.sh" <<'EOF'
set -eu
D=$1 ROOT=$2
trap 'exit 0' TERM INT
mount -t tmpfs -o mode=755 tund-t-run /run
mkdir -p /run/dbus /run/ov /run/tund
ov() { # DIR [LOWER]: DIR (with LOWER on top), writes go to /run
	k=$(echo "$1" | tr / _)
	mkdir -p "/run/ov/$k.u" "/run/ov/$k.w"
	mount -t overlay tund-t-ov -o "lowerdir=${2:+$2:}$1,upperdir=/run/ov/$k.u,workdir=/run/ov/$k.w" "$1"
}
ov /etc
ov /usr/lib "$ROOT/usr/lib"
ov /usr/sbin
ov /var/lib
ov /dev
mkdir -p /etc/NetworkManager /var/lib/NetworkManager /usr/lib/NetworkManager
mount --bind "$D/etc-nm" /etc/NetworkManager
mount --bind "$D/lib-nm" /usr/lib/NetworkManager
mount -o remount,bind,ro /sys
install -m 0755 "$D/tundctl-stub" /usr/sbin/tundctl
hostname tund-t-nm
ip link set lo up
python3 "$D/dgram-listener.py" --timestamp /dev/log "$D/syslog" &
dbus-daemon --config-file="$D/bus.conf" --nofork --nosyslog --nopidfile >"$D/dbus.log" 2>&1 &
for _ in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.05; done
/usr/lib/NetworkManager/nm-dispatcher --persist --debug >"$D/dispatcher.log" 2>&1 &
"$ROOT/usr/sbin/NetworkManager" --debug >"$D/nm.log" 2>&1 &
while :; do sleep 3600 & wait $! || true; done
EOF

NS=$(ns_add nm) || { fail nm-setup "cannot create a namespace"; exit 1; }
PEER=$(ns_add nmp) || { fail nm-setup "cannot create a namespace"; exit 1; }
bg_start ip netns exec "$NS" unshare --pid --fork --kill-child --mount-proc --mount --uts \
	--propagation private bash "$W/init.sh" "$W" "$NM_ROOT"
upid=${T_PIDS[${#T_PIDS[@]}-1]}
NM_PID=
for ((i = 0; i < 100; i++)); do
	NM_PID=$(ps --ppid "$upid" -o pid= | tr -d ' ' | head -n 1)
	[ -n "$NM_PID" ] && break
	sleep 0.05
done
nmx() { nsenter -t "$NM_PID" -n -m -p -u -- "$@"; }
nmcli() { nmx "$NM_ROOT/usr/bin/nmcli" "$@"; }
logs() {
	local f
	for f in nm.log dispatcher.log dbus.log events calls syslog helper.log shim.log; do
		[ -s "$W/$f" ] && { echo "=== $f"; tail -n 25 "$W/$f"; }
	done
}
if [ -z "$NM_PID" ] || ! wait_for 30 nmcli -t -f RUNNING general status; then
	fail nm-setup "NetworkManager did not start"
	logs
	exit 1
fi
pass nm_running
check nm_version_1_42 bash -c "'$NM_ROOT/usr/sbin/NetworkManager' --version | grep -q '^1\\.42\\.'"

# the runtime configuration, as the package installs it
pc=$(nmx "$NM_ROOT/usr/sbin/NetworkManager" --print-config --intern-config=/run/pc-intern 2>&1)
check nm_config_merged grep -qx 'unmanaged-devices=interface-name:tsx\*,interface-name:tund-\*' <<<"$pc"

# underlay: eth0 (veth) to a peer namespace; default route through it, so connectivity is FULL
ip link add "tvn$$" type veth peer name "tvp$$" || { fail nm-setup "veth"; exit 1; }
if ! ip link set "tvn$$" netns "$NS" || ! ip link set "tvp$$" netns "$PEER"; then
	fail nm-setup "veth"
	exit 1
fi
ip -n "$NS" link set "tvn$$" name eth0 && ip -n "$PEER" link set "tvp$$" name eth0
ip -n "$PEER" addr add 198.51.100.1/24 dev eth0 && ip -n "$PEER" link set eth0 up
wait_for 10 bash -c "nmx() { nsenter -t $NM_PID -n -m -p -u -- \"\$@\"; }
	nmx '$NM_ROOT/usr/bin/nmcli' -t -f DEVICE,STATE device | grep -qx 'eth0:disconnected'" ||
	{ fail nm-setup "eth0 not seen by NetworkManager: $(nmcli -t device 2>&1 | tr '\n' ' ')"; logs; exit 1; }
nmcli con add type ethernet ifname eth0 con-name tund-t-wired autoconnect no \
	ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv4.gateway 198.51.100.1 >/dev/null ||
	{ fail nm-setup "nmcli con add"; logs; exit 1; }

# n_lines FILE PATTERN; at_least N FILE PATTERN (for wait_for, which runs it again each time)
n_lines() { grep -c -- "$2" "$1"; }
at_least() { [ "$(n_lines "$2" "$3")" -ge "$1" ]; }
# ev_time MARKER ACTION [NTH]: time of the NTH (default last) event line
ev_time() { grep " $1 $2 " "$W/events" | sed -n "${3:-\$}p" | cut -d' ' -f1; }
# seconds between two timestamps, in ms
ms() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", (b - a) * 1000 }'; }
con_up() {
	: >"$W/events"
	: >"$W/calls"
	: >"$W/syslog"
	nmcli con up tund-t-wired >"$W/nmcli.out" 2>&1 || { cat "$W/nmcli.out"; return 1; }
	# up and connectivity-change, each through both markers
	wait_for 20 at_least 2 "$W/events" 99-tund-t-after
}

con_down() {
	: >"$W/events"
	nmcli con down tund-t-wired >/dev/null 2>&1
	wait_for 10 grep -q ' 99-tund-t-after down ' "$W/events"
}

# --- 1: up (stub tundctl, answering at once) ---
check nmcli_con_up con_up
wait_for 10 at_least 2 "$W/calls" ' end'
seq=$(awk '$2 == "00-tund-t-before" { printf "%s%s", sep, $3 ($5 ? ":" $5 : ""); sep = " " }' "$W/events")
echo "dispatch sequence after nmcli con up: $seq"
check dispatch_sequence_up test "$seq" = "up connectivity-change:FULL"
check hook_called_twice_for_up test "$(n_lines "$W/calls" ' start ')" = 2
check hook_argv test "$(grep -c ' start --timeout 4 --no-color rebind --all --coalesce$' "$W/calls")" = 2
wait_for 5 at_least 2 "$W/syslog" 'tund-nm'
check hook_logged_up grep -q 'tund-nm.*rebound tund tunnels after up of eth0' "$W/syslog"
check hook_logged_connectivity grep -q 'tund-nm.*rebound tund tunnels after connectivity-change' "$W/syslog"
t0=$(ev_time 00-tund-t-before up) t1=$(ev_time 99-tund-t-after connectivity-change)
echo "up to connectivity-change done: $(ms "$t0" "$t1") ms"

# --- 2: down (ignored by the hook), up again ---
: >"$W/calls"
con_down
seq=$(awk '$2 == "00-tund-t-before" { printf "%s%s", sep, $3 ($5 ? ":" $5 : ""); sep = " " }' "$W/events")
echo "dispatch sequence after nmcli con down: $seq"
sleep 0.5
check hook_ignores_down test "$(n_lines "$W/calls" ' start ')" = 0
check nmcli_con_up_again con_up
wait_for 10 at_least 2 "$W/calls" ' end'
check hook_called_twice_again test "$(n_lines "$W/calls" ' start ')" = 2

# --- 3: a hanging tundctl holds no dispatcher request up ---
con_down
touch "$W/hang"
check nmcli_con_up_hanging con_up
wait_for 5 at_least 2 "$W/calls" ' start '
# within each request, 99- runs after 90-tund has exited: its delay after 00- is what the
# hook held the dispatcher's queue; the next request (connectivity-change) follows
hold_up=$(ms "$(ev_time 00-tund-t-before up)" "$(ev_time 99-tund-t-after up)")
hold_cc=$(ms "$(ev_time 00-tund-t-before connectivity-change)" "$(ev_time 99-tund-t-after connectivity-change)")
next=$(ms "$(ev_time 99-tund-t-after up)" "$(ev_time 00-tund-t-before connectivity-change)")
echo "with tundctl hanging: 90-tund held up ${hold_up} ms, connectivity-change ${hold_cc} ms; next request after ${next} ms"
check hang_calls_running test "$(n_lines "$W/calls" ' end')" = 0
check hang_up_not_held test "$hold_up" -le 1000
check hang_connectivity_not_held test "$hold_cc" -le 1000
check hang_next_request_prompt test "$next" -le 1000
if grep -q 'complete: timeout' "$W/dispatcher.log"; then
	fail hang_dispatcher_no_timeout "$(grep timeout "$W/dispatcher.log")"
fi
# the hook's own timeout (5 s, then killed) still reaches syslog
wait_for 15 at_least 2 "$W/syslog" 'timed out'
check hang_timeout_logged_up grep -q 'tund-nm.*tundctl rebind --all after up of eth0 timed out' "$W/syslog"
check hang_timeout_logged_connectivity grep -q 'tund-nm.*tundctl rebind --all after connectivity-change timed out' "$W/syslog"
rm -f "$W/hang"

# --- 4: tund links stay unmanaged (so do the other list's; a control TUN is not) ---
TUNHOLD=$B/test/helpers/tunhold
if [ -x "$TUNHOLD" ]; then
	for t in tund-nmw tsx0 tcx0; do
		bg_start ip netns exec "$NS" "$TUNHOLD" "$t" >"$W/tunhold-$t.log" 2>&1
	done
	for t in tund-nmw tsx0 tcx0; do
		wait_for 5 ip -n "$NS" link show "$t" || fail "tun_$t" "not created: $(cat "$W/tunhold-$t.log")"
	done
	ip -n "$NS" addr add 192.0.2.2/32 dev tund-nmw
	ip -n "$NS" addr add 192.0.2.3/32 dev tsx0
	ip -n "$NS" addr add 192.0.2.4/32 dev tcx0
	for t in tund-nmw tsx0 tcx0; do ip -n "$NS" link set "$t" up; done
	state() { nmcli -t -f DEVICE,STATE device 2>/dev/null | sed -n "s/^$1://p"; }
	known() { [ -n "$(state "$1")" ]; }
	wait_for 10 known tcx0
	sleep 2 # NetworkManager decides about external links within a second or two
	echo "devices: $(nmcli -t -f DEVICE,TYPE,STATE device | tr '\n' ' ')"
	check tund_link_unmanaged test "$(state tund-nmw)" = unmanaged
	check other_list_still_unmanaged test "$(state tsx0)" = unmanaged
	check control_tun_not_unmanaged test "$(state tcx0)" != unmanaged
	check tund_link_untouched test "$(ip -n "$NS" -br addr show dev tund-nmw | awk '{print $3}')" = 192.0.2.2/32
else
	fail tund_link_unmanaged "$TUNHOLD not built"
fi

# --- 5: the real tund-helperd (fake tunnel) and tundctl: one nmcli con up, one rebind ---
for f in "$B/tundctl" "$B/tund-helperd" "$B/test/helpers/helperd-fake-tunnel" "$B/test/helpers/helperd-client"; do
	[ -x "$f" ] || { fail helper-setup "$f not built"; exit 1; }
done
con_down
nmx sh -c "mkdir -p -m 0755 /run/tund-bin &&
	install -m 0755 '$B/test/helpers/helperd-fake-tunnel' /run/tund-bin/tund-tunnel &&
	install -m 0755 '$B/tundctl' /usr/sbin/tundctl" || { fail helper-setup "cannot install"; exit 1; }
nmx env FAKE_TUNNEL_BURST=1 "$B/tund-helperd" --listen-dir /run/tund --idle-exit 0 \
	--tunnel /run/tund-bin/tund-tunnel --tunnel-user nobody --control-group nogroup \
	>"$W/helper.log" 2>&1 &
T_PIDS+=($!)
wait_for 5 nmx test -S /run/tund/control.sock || { fail helper-setup "helper: $(tail -3 "$W/helper.log")"; exit 1; }
nmx "$B/test/helpers/helperd-client" shim /run/tund/shim.sock --profile work --ifname tund-nmr \
	>"$W/shim.log" 2>&1 &
T_PIDS+=($!)
wait_for 10 grep -q '^started' "$W/shim.log" || { fail helper-setup "session: $(cat "$W/shim.log")"; exit 1; }
rebinds() { grep -c 'fake: burst line 0 ' "$W/helper.log"; }
sleep 1 # anything the session's start caused is over
n0=$(rebinds)
# what the helper's watch sees, for the report below
bg_start ip -n "$NS" -ts monitor link address route >"$W/monitor.log" 2>&1
check real_nmcli_con_up con_up
# both hook calls answered, and the 5 s coalescing window over: nothing more can come
wait_for 15 at_least 2 "$W/syslog" 'tund-nm'
sleep 6
n1=$(rebinds)
echo "helper after nmcli con up:"
grep -E 'network change|rebound for this network change|rebind' "$W/helper.log" | tail -n 8 | sed 's/^/    /'
if [ "$n1" = $((n0 + 1)) ]; then
	pass real_one_rebind_per_con_up
else
	fail real_one_rebind_per_con_up "rebinds $n0 -> $n1"
	echo "rtnetlink in the namespace during nmcli con up:"
	sed 's/^/    /' "$W/monitor.log"
fi
check real_hook_calls_succeeded test "$(grep -c 'tund-nm.*rebound tund tunnels after' "$W/syslog")" = 2
check real_helper_coalesced grep -q 'was rebound for this network change already' "$W/helper.log"
check real_no_hook_failure bash -c "! grep -q 'tund-nm.*\\(failed\\|timed out\\)' '$W/syslog'"
check nm_no_dispatcher_failure bash -c "! grep -q 'complete: failed\\|complete: timeout' '$W/dispatcher.log'"
