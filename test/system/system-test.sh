# The system test (issue 9: a boot-time VPN without anyone logged in), sourced by
# test/integration/system-nspawn.sh after lib.sh:
#   1. `make deb` builds the package; lintian reports no error and no warning;
#   2. a cached debootstrapped bookworm tree (rootfs.sh) on an overlay: dpkg -i, then
#      dpkg --purge leaves nothing of tund but what Debian policy keeps (the system user);
#   3. a second overlay: dpkg -i, a profile /etc/tund/demo.conf, `systemctl enable tund@demo`,
#      then a real systemd boots it in systemd-nspawn, in a network namespace joined by veth to
#      a wireguard-go peer; checked from outside with nsenter: the VPN is up after boot, the
#      helper was socket-activated, start/stop return when the VPN is up/down, STATUS text,
#      a SIGKILLed helper is recovered, idle exit and re-activation, tundctl up/down, and a
#      purge in the running system stops everything.
# Everything (container, overlays, namespaces, the peer) goes on exit, also on failure.
SYS=$TOP/test/system
need() { # CMD PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	fail "system_prerequisites" "$1 not found: apt-get install $2 (or make deps)"
	exit 1
}
need systemd-nspawn systemd-container
need debootstrap debootstrap
need dpkg-buildpackage dpkg-dev
need dh debhelper
need lintian lintian
need wireguard-go wireguard-go
need wg wireguard-tools
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || { fail system_prerequisites "no overlay filesystem"; exit 1; }

W=$(mktemp -d /tmp/tund-t-sys-XXXXXX) || exit 1
T_FILES+=("$W")
t0=$(date +%s)
elapsed() { echo "time: $1 at $(($(date +%s) - t0)) s"; }

# --- 1. the package ---
if ! make -s -C "$TOP" B="$B" DEB_OUT="$W/deb" deb >"$W/make-deb.log" 2>&1; then
	fail deb_build "$(tail -n 5 "$W/make-deb.log" | tr '\n' ' ')"
	exit 1
fi
DEB=$(ls "$W"/deb/tund_*.deb)
pass deb_build
elapsed "package built"
dpkg-deb -c "$DEB" | awk '{print $1, $6}' | sed 's/^/    deb: /'
# lintian as root warns about running as root on stderr: that line is not a finding.
if out=$(lintian --fail-on error,warning "$DEB" 2>&1 | grep -v 'running with root privileges'); [ -z "$out" ]; then
	pass deb_lintian_clean
else
	fail deb_lintian_clean "$(echo "$out" | tr '\n' ' ')"
fi
echo "$out" | sed 's/^/    lintian: /'
check deb_depends bash -c "dpkg-deb -f '$DEB' Depends | grep -q 'wireguard-go' && dpkg-deb -f '$DEB' Depends | grep -q 'systemd' &&
	dpkg-deb -f '$DEB' Recommends | grep -qx 'systemd-resolved'"

# --- 2. the cached tree ---
if ! ROOTFS=$("$SYS/rootfs.sh" 2>"$W/rootfs.log"); then
	fail system_rootfs "$(tail -n 5 "$W/rootfs.log" | tr '\n' ' ')"
	exit 1
fi
cat "$W/rootfs.log"
pass system_rootfs
elapsed "tree ready"

# overlay NAME: a writable copy-on-write view of the cached tree at $W/NAME/root, in $OVL (not
# echoed: on_exit_do must run in this shell, not in a $(...) subshell).
overlay() {
	local d="$W/$1"
	OVL=
	mkdir -p "$d/upper" "$d/work" "$d/root"
	mount -t overlay "tund-t-sys-$1" -o "lowerdir=$ROOTFS,upperdir=$d/upper,workdir=$d/work" "$d/root" || return 1
	on_exit_do "umount '$d/root' || umount -l '$d/root'"
	OVL="$d/root"
}
# in_tree ROOT CMD...: CMD chrooted in ROOT with a clean environment (no systemd running there:
# the maintainer scripts enable units but start nothing).
in_tree() {
	local r=$1
	shift
	chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
}
export -f in_tree
tree_list() { # ROOT: every path, with type and mode, except what changes on its own
	(cd "$1" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./var/log \
		-o -path ./var/cache/debconf -o -path ./var/lib/dpkg -o -path ./run/wireguard \) -prune -o \
		-printf '%y %m %u:%g %p\n' | sort)
}

# --- 2b. install and purge in a tree ---
overlay purge || { fail deb_purge "overlay mount failed"; exit 1; }
P=$OVL
cp "$DEB" "$P/tmp/tund.deb"
before=$(tree_list "$P")
if in_tree "$P" dpkg -i /tmp/tund.deb >"$W/dpkg-i.log" 2>&1; then pass deb_install_in_tree; else
	fail deb_install_in_tree "$(tail -n 5 "$W/dpkg-i.log" | tr '\n' ' ')"
fi
check deb_sysusers_user bash -c "grep -q '^tund:x:[0-9]*:[0-9]*:[^:]*:/nonexistent:/usr/sbin/nologin$' '$P/etc/passwd' &&
	grep -q '^tund:x:' '$P/etc/group' && uid=\$(awk -F: '\$1==\"tund\" {print \$3}' '$P/etc/passwd') && [ \"\$uid\" -lt 1000 ]"
check deb_etc_tund_0700 test "$(stat -c '%a %U:%G' "$P/etc/tund")" = "700 root:root"
check deb_sockets_enabled bash -c "test -L '$P/etc/systemd/system/sockets.target.wants/tund-helper-control.socket' &&
	test -L '$P/etc/systemd/system/sockets.target.wants/tund-helper-shim.socket'"
check deb_helper_not_enabled bash -c "! grep -rqs tund-helper.service '$P/etc/systemd/system' && ! ls '$P'/etc/systemd/system/*/tund@* 2>/dev/null"
check deb_rt_protos bash -c "in_tree '$P' ip route show proto tund >/dev/null && grep -q '^116[[:space:]]tund' '$P/etc/iproute2/rt_protos.d/tund.conf'"
check deb_nm_hook test "$(stat -c '%a %U' "$P/usr/lib/NetworkManager/dispatcher.d/90-tund")" = "755 root"
check deb_nm_conf test -f "$P/usr/lib/NetworkManager/conf.d/90-tund-unmanaged.conf"
check deb_man_pages bash -c "in_tree '$P' sh -c 'ls /usr/share/man/man8/tundctl.8.gz /usr/share/man/man8/tund-helperd.8.gz /usr/share/man/man8/tund-netshimd.8.gz /usr/share/man/man5/tund.conf.5.gz'"
check deb_bash_completion test -f "$P/usr/share/bash-completion/completions/tundctl"
if in_tree "$P" dpkg --purge tund >"$W/dpkg-purge.log" 2>&1; then pass deb_purge_runs; else
	fail deb_purge_runs "$(tail -n 5 "$W/dpkg-purge.log" | tr '\n' ' ')"
fi
rm -f "$P/tmp/tund.deb"
before=$(echo "$before" | grep -v ' \./tmp/tund\.deb$')
after=$(tree_list "$P")
# What stays by policy: the system user and group (their files, and the shadow copies
# systemd-sysusers keeps, change but no path appears) -- nothing else.
left=$(diff <(echo "$before") <(echo "$after") | grep '^[<>]' |
	grep -v -E ' \./etc/(passwd|group|shadow|gshadow)-?$')
if [ -z "$left" ]; then pass deb_purge_leaves_nothing; else fail deb_purge_leaves_nothing "$(echo "$left" | head -n 10 | tr '\n' ' ')"; fi
check deb_purge_keeps_user grep -q '^tund:' "$P/etc/passwd"
check deb_purge_dpkg_forgot bash -c "! in_tree '$P' dpkg -s tund >/dev/null 2>&1 && ! ls '$P'/var/lib/dpkg/info/tund.* 2>/dev/null"
elapsed "install/purge done"

# --- 3. the booted system ---
overlay boot || { fail system_boot "overlay mount failed"; exit 1; }
R=$OVL
cp "$DEB" "$R/tmp/tund.deb"
in_tree "$R" dpkg -i /tmp/tund.deb >"$W/boot-dpkg-i.log" 2>&1 || { fail system_boot "dpkg -i: $(tail -n 3 "$W/boot-dpkg-i.log")"; exit 1; }
rm -f "$R/tmp/tund.deb"

# The network: the container's namespace (client) and the peer's, joined by veth.
CNS=$(ns_add sysc) && SNS=$(ns_add syss) || { fail system_boot "namespaces"; exit 1; }
ip link add "tsc$$" type veth peer name "tss$$" &&
	ip link set "tsc$$" netns "$CNS" && ip link set "tss$$" netns "$SNS" &&
	ip -n "$CNS" link set "tsc$$" name eth0 && ip -n "$SNS" link set "tss$$" name eth0 &&
	ip -n "$CNS" addr add 198.51.100.2/24 dev eth0 && ip -n "$SNS" addr add 198.51.100.1/24 dev eth0 &&
	ip -n "$CNS" link set eth0 up && ip -n "$SNS" link set eth0 up &&
	ip -n "$SNS" addr add 203.0.113.1/24 dev lo || { fail system_boot "veth"; exit 1; }
ip netns exec "$SNS" sysctl -qw net.ipv4.ip_forward=1
SKEY=$(wg genkey) CKEY=$(wg genkey)
SPUB=$(echo "$SKEY" | wg pubkey) CPUB=$(echo "$CKEY" | wg pubkey)
SIF="tsw$$"
SIF=${SIF:0:15}
WG_PROCESS_FOREGROUND=1 ip netns exec "$SNS" wireguard-go "$SIF" >"$W/server-wg.log" 2>&1 &
T_PIDS+=($!)
on_exit_do "rm -f /var/run/wireguard/$SIF.sock"
wait_for 5 test -S "/var/run/wireguard/$SIF.sock" || { fail system_boot "the peer's wireguard-go did not start"; exit 1; }
ip netns exec "$SNS" wg set "$SIF" private-key <(echo "$SKEY") listen-port 51820 \
	peer "$CPUB" allowed-ips 192.0.2.2/32 &&
	ip -n "$SNS" addr add 192.0.2.1/24 dev "$SIF" && ip -n "$SNS" link set "$SIF" up ||
	{ fail system_boot "peer setup"; exit 1; }

# The profile, enabled before boot; the helper's idle exit shortened for the test.
cat >"$R/etc/tund/demo.conf" <<CONF
# system test profile
[Interface]
PrivateKey = $CKEY
Address = 192.0.2.2/32

[Peer]
PublicKey = $SPUB
Endpoint = 198.51.100.1:51820
AllowedIPs = 192.0.2.1/32, 203.0.113.0/24
PersistentKeepalive = 25

[Tund]
InterfaceName = tund-demo
CONF
chmod 0600 "$R/etc/tund/demo.conf"
in_tree "$R" systemctl enable tund@demo.service >"$W/enable.log" 2>&1 ||
	{ fail system_boot "systemctl enable tund@demo: $(cat "$W/enable.log")"; exit 1; }
mkdir -p "$R/etc/systemd/system/tund-helper.service.d"
cat >"$R/etc/systemd/system/tund-helper.service.d/system-test.conf" <<'CONF'
[Service]
ExecStart=
ExecStart=/usr/sbin/tund-helperd --idle-exit 3
CONF

NAME="tsys$$"
"$SYS/nspawn-boot.sh" "$NAME" "$R" --network-namespace-path="/run/netns/$CNS" \
	--capability=CAP_NET_ADMIN >"$W/console.log" 2>&1 &
NP=$!
on_exit_do "'$SYS/nspawn-down.sh' '$NAME' '$NP'"
# The container's systemd: nspawn's child.
L=
for _ in $(seq 200); do
	L=$(ps --ppid "$NP" -o pid=,comm= | awk '$2 == "systemd" {print $1; exit}')
	[ -n "$L" ] && break
	kill -0 "$NP" 2>/dev/null || break
	sleep 0.05
done
[ -n "$L" ] || { fail system_boot "no systemd in the container: $(tail -n 5 "$W/console.log" | tr '\n' ' ')"; exit 1; }
cx() { nsenter -t "$L" -a "$@"; }
export L
export -f cx
wait_for 20 cx test -S /run/systemd/private
state=$(cx timeout 60 systemctl is-system-running --wait 2>&1)
elapsed "booted ($state)"
if [ "$state" = running ]; then pass system_boot; else
	fail system_boot "state $state: $(cx systemctl --failed --no-legend 2>&1 | tr '\n' ' ')"
fi
check boot_tmpfiles_dirs test "$(cx stat -c '%a %U:%G' /run/tund /run/tund/netshim /etc/tund /run/wireguard | tr '\n' ' ')" \
	= "755 root:root 700 root:root 700 root:root 755 root:root "
check boot_nobody_logged_in bash -c '[ -z "$(cx loginctl list-sessions --no-legend 2>/dev/null)" ]'
vpn_ping() { cx ping -n -c 1 -W 3 203.0.113.1 >/dev/null; }
export -f vpn_ping
if wait_for 30 vpn_ping; then pass boot_vpn_up; else
	fail boot_vpn_up "$(cx systemctl status --no-pager tund@demo 2>&1 | tail -n 8 | tr '\n' ' ')"
fi
check boot_unit_active test "$(cx systemctl is-active tund@demo.service)" = active
check boot_route_via_tunnel bash -c "cx ip route get 203.0.113.1 | grep -q 'dev tund-demo'"
check boot_routes_proto_tund bash -c "cx ip route show table all proto tund | grep -q '203.0.113.0/24 dev tund-demo'"

# Socket activation: the helper is not enabled, only its sockets; it started after the shim
# (which connected to the shim socket), not with the sockets.
show() { cx systemctl show -P "$2" "$1"; } # UNIT PROPERTY
check helper_static test "$(cx systemctl is-enabled tund-helper.service)" = static
check sockets_enabled test "$(cx systemctl is-enabled tund-helper-control.socket tund-helper-shim.socket | tr '\n' ' ')" = "enabled enabled "
sock_t=$(show tund-helper-shim.socket ActiveEnterTimestampMonotonic)
shim_t=$(show tund@demo.service ExecMainStartTimestampMonotonic)
helper_t=$(show tund-helper.service ExecMainStartTimestampMonotonic)
echo "monotonic: shim socket listening $sock_t, shim started $shim_t, helper started $helper_t"
check helper_socket_activated_after_shim test "$sock_t" -lt "$shim_t" -a "$shim_t" -lt "$helper_t"
uid_of() { cx awk '/^Uid:/ {print $2}' "/proc/$1/status"; }
tund_uid=$(cx id -u tund)
check helper_runs_as_tund test "$(uid_of "$(show tund-helper.service MainPID)")" = "$tund_uid"
check shim_runs_as_root test "$(uid_of "$(show tund@demo.service MainPID)")" = 0
check shim_caps_net_admin_only test "$(cx awk '/^CapEff:/ {print $2}' "/proc/$(show tund@demo.service MainPID)/status")" = 0000000000001000

# systemctl status shows the shim's STATUS= text.
check status_text bash -c "cx systemctl status --no-pager tund@demo.service | grep -q '^ *Status: \"'"
cx systemctl status --no-pager tund@demo.service | sed 's/^/    /'

# stop returns when the VPN is down; start returns when it is up.
if cx systemctl stop tund@demo.service && ! cx ip link show tund-demo >/dev/null 2>&1; then
	pass stop_returns_when_down
else
	fail stop_returns_when_down "tund-demo still there after stop returned"
fi
check stop_leaves_no_routes bash -c '[ -z "$(cx ip route show table all proto tund)" ]'
check stop_leaves_no_uapi_socket bash -c '! cx test -e /run/wireguard/tund-demo.sock'
if cx systemctl start tund@demo.service && vpn_ping; then pass start_returns_when_up; else
	fail start_returns_when_up "no ping right after start returned"
fi

# A SIGKILLed helper: the shim fails, Restart=on-failure brings the VPN back, through a
# helper the shim socket activates again.
hpid=$(show tund-helper.service MainPID)
restarts=$(show tund@demo.service NRestarts)
# (the tree has no kill(1): the shell's builtin)
cx sh -c 'kill -KILL "$1"' sh "$hpid"
old_procs() { cx sh -c "cat /proc/[0-9]*/comm" 2>/dev/null | grep -c -E '^(tund-helperd|tund-tunnel|wireguard-go)$'; }
back() {
	[ "$(cx systemctl show -P NRestarts tund@demo.service)" -gt "$restarts" ] &&
		[ "$(cx systemctl is-active tund@demo.service)" = active ] && vpn_ping
}
if wait_for 40 back; then pass helper_kill_recovered; else
	fail helper_kill_recovered "$(cx journalctl --no-pager -n 15 -u tund@demo -u tund-helper 2>&1 | tr '\n' ' ')"
fi
nhpid=$(show tund-helper.service MainPID)
check helper_kill_reactivated test "$nhpid" != 0 -a "$nhpid" != "$hpid"
# One helper, one tunnel, one wireguard-go: the killed helper's children are gone.
check helper_kill_no_leftovers test "$(old_procs)" = 3
elapsed "helper kill checked"

# Idle exit (--idle-exit 3 from the drop-in) once no profile runs, then re-activation by a client.
cx systemctl stop tund@demo.service
helper_gone() { [ "$(cx systemctl is-active tund-helper.service)" != active ]; }
export -f helper_gone
if wait_for 15 helper_gone; then pass helper_idle_exit; else fail helper_idle_exit "still active"; fi
check helper_idle_exit_clean test "$(show tund-helper.service Result)" = success
inv=$(show tund-helper.service InvocationID)
cx tundctl status >"$W/tundctl-status.log" 2>&1
sed 's/^/    tundctl status: /' "$W/tundctl-status.log"
ninv=$(show tund-helper.service InvocationID)
check helper_reactivated_by_tundctl test -n "$ninv" -a "$ninv" != "$inv"

# tundctl up/down go through systemd and return when the VPN is up/down.
if cx tundctl up demo >"$W/tundctl-up.log" 2>&1 && vpn_ping; then pass tundctl_up; else
	fail tundctl_up "$(tr '\n' ' ' <"$W/tundctl-up.log")"
fi
check tundctl_up_is_the_unit test "$(cx systemctl is-active tund@demo.service)" = active
if cx tundctl down demo >"$W/tundctl-down.log" 2>&1 && ! cx ip link show tund-demo >/dev/null 2>&1; then
	pass tundctl_down
else
	fail tundctl_down "$(tr '\n' ' ' <"$W/tundctl-down.log")"
fi
check tundctl_down_is_the_unit test "$(cx systemctl is-active tund@demo.service)" = inactive

# A purge in the running system stops the profile, the helper and the sockets first.
cx systemctl start tund@demo.service
if cx env DEBIAN_FRONTEND=noninteractive dpkg --purge tund >"$W/purge-live.log" 2>&1; then pass purge_live_runs; else
	fail purge_live_runs "$(tail -n 5 "$W/purge-live.log" | tr '\n' ' ')"
fi
check purge_live_vpn_down bash -c '! cx ip link show tund-demo >/dev/null 2>&1'
check purge_live_nothing_running bash -c '[ -z "$(cx systemctl list-units --no-legend --state=active "tund*" 2>&1)" ]'
check purge_live_no_processes bash -c '! cx sh -c "cat /proc/[0-9]*/comm" 2>/dev/null | grep -q -E "^tund-|^wireguard-go"'
check purge_live_no_run_tund bash -c '! cx test -e /run/tund'
echo "--- journal of tund units"
cx journalctl --no-pager -o short-monotonic -u 'tund*' | tail -n 60 | sed 's/^/    /'
elapsed "done"
