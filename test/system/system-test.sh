# The system test (issue 9: a boot-time VPN without anyone logged in), sourced by
# test/integration/system-nspawn.sh after lib.sh:
#   1. `make deb` builds the package; lintian reports no error and no warning;
#   2. a cached debootstrapped bookworm tree (rootfs.sh) on an overlay: dpkg -i, then
#      dpkg --purge leaves nothing of tund but what Debian policy keeps (the system user);
#   3. a second overlay: dpkg -i, two profiles, /etc/tund/demo.conf (split) and full.conf (full
#      tunnel), `systemctl enable tund@demo tund@full`, then a real systemd boots it in
#      systemd-nspawn, in a network namespace joined by veths to a wireguard-go peer for each;
#      checked from outside with nsenter: both VPNs are up after boot side by side (each its own
#      slot, table and rules; split destinations stay on the split link), the helper was
#      socket-activated, start/stop return when the VPN is up/down and stopping either leaves
#      the other as it was, STATUS text, a SIGKILLed helper is recovered, idle exit and
#      re-activation, tundctl up/down, and a purge in the running system stops everything;
#   4. a third overlay and boot, one profile with KillSwitch = yes whose peer is down at boot:
#      test/system/killswitch-boot.sh (the switch before network-pre.target, no leak while the
#      tunnel is not up or has failed, the tunnel once the peer runs, a deliberate stop lifts it).
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
	dpkg-deb -f '$DEB' Recommends | grep -qx 'systemd-resolved, polkitd'"

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
check deb_sysusers_user bash -c "grep -q '^tund-engine:x:[0-9]*:[0-9]*:[^:]*:/nonexistent:/usr/sbin/nologin$' '$P/etc/passwd' &&
	grep -q '^tund-engine:x:' '$P/etc/group' && uid=\$(awk -F: '\$1==\"tund-engine\" {print \$3}' '$P/etc/passwd') && [ \"\$uid\" -lt 1000 ]"
# The network shims' system user, in the engine's group only through its unit's Group=.
check deb_sysusers_shim_user bash -c "grep -q '^tund-netshim:x:[0-9]*:[0-9]*:[^:]*:/nonexistent:/usr/sbin/nologin$' '$P/etc/passwd' &&
	uid=\$(awk -F: '\$1==\"tund-netshim\" {print \$3}' '$P/etc/passwd') && [ \"\$uid\" -lt 1000 ] &&
	! grep -q '^tund-engine:.*tund-netshim' '$P/etc/group'"
# The people's status group, which owns the control socket and nothing of the engine's.
check deb_sysusers_status_group bash -c "grep -q '^tund:x:' '$P/etc/group' && ! grep -q '^tund:' '$P/etc/passwd'"
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
check deb_purge_keeps_user bash -c "grep -q '^tund-engine:' '$P/etc/passwd' && grep -q '^tund-netshim:' '$P/etc/passwd'"
check deb_purge_dpkg_forgot bash -c "! in_tree '$P' dpkg -s tund >/dev/null 2>&1 && ! ls '$P'/var/lib/dpkg/info/tund.* 2>/dev/null"
elapsed "install/purge done"

# --- 3. the booted system ---
overlay boot || { fail system_boot "overlay mount failed"; exit 1; }
R=$OVL
cp "$DEB" "$R/tmp/tund.deb"
in_tree "$R" dpkg -i /tmp/tund.deb >"$W/boot-dpkg-i.log" 2>&1 || { fail system_boot "dpkg -i: $(tail -n 3 "$W/boot-dpkg-i.log")"; exit 1; }
rm -f "$R/tmp/tund.deb"

# The network: the container's namespace (client) and two peers' (one per profile), each
# joined to it by a veth: the split profile's peer on eth0 (203.0.113.0/24 behind it), the full
# tunnel's on eth1 (198.18.7.1 and 2001:db8:77::1 behind it, which only the full tunnel reaches:
# the container has no default route of its own).
CNS=$(ns_add sysc) && SNS=$(ns_add syss) && FNS=$(ns_add sysf) || { fail system_boot "namespaces"; exit 1; }
veth() { # SERVER_NS CLIENT_IFNAME SUBNET(a.b.c): client .2, server .1
	local a="tc$2$$" b="ts$2$$"
	ip link add "$a" type veth peer name "$b" &&
		ip link set "$a" netns "$CNS" && ip link set "$b" netns "$1" &&
		ip -n "$CNS" link set "$a" name "$2" && ip -n "$1" link set "$b" name eth0 &&
		ip -n "$CNS" addr add "$3.2/24" dev "$2" && ip -n "$1" addr add "$3.1/24" dev eth0 &&
		ip -n "$CNS" link set "$2" up && ip -n "$1" link set eth0 up
}
veth "$SNS" eth0 198.51.100 && veth "$FNS" eth1 198.51.101 &&
	ip -n "$SNS" addr add 203.0.113.1/24 dev lo &&
	ip -n "$FNS" addr add 198.18.7.1/32 dev lo && ip -n "$FNS" addr add 2001:db8:77::1/128 dev lo ||
	{ fail system_boot "veth"; exit 1; }
ip netns exec "$SNS" sysctl -qw net.ipv4.ip_forward=1
# wg_server NS IFNAME PRIVATE_KEY CLIENT_PUBLIC_KEY CLIENT_ALLOWED_IPS ADDRESS...: a wireguard-go
# peer in NS listening on 51820.
wg_server() {
	local ns=$1 sif=$2 key=$3 cpub=$4 allowed=$5 a
	shift 5
	WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go "$sif" >"$W/server-$sif.log" 2>&1 &
	T_PIDS+=($!)
	on_exit_do "rm -f /var/run/wireguard/$sif.sock"
	wait_for 5 test -S "/var/run/wireguard/$sif.sock" || { fail system_boot "the peer's wireguard-go ($sif) did not start"; exit 1; }
	ip netns exec "$ns" wg set "$sif" private-key <(echo "$key") listen-port 51820 \
		peer "$cpub" allowed-ips "$allowed" || { fail system_boot "peer setup ($sif)"; exit 1; }
	for a in "$@"; do # (no DAD for the IPv6 ones: usable at once)
		ip -n "$ns" addr add "$a" dev "$sif" $(case $a in *:*) echo nodad ;; esac) ||
			{ fail system_boot "peer address $a ($sif)"; exit 1; }
	done
	ip -n "$ns" link set "$sif" up || { fail system_boot "peer link ($sif)"; exit 1; }
}
SKEY=$(wg genkey) CKEY=$(wg genkey) FSKEY=$(wg genkey) FCKEY=$(wg genkey)
SPUB=$(echo "$SKEY" | wg pubkey) CPUB=$(echo "$CKEY" | wg pubkey)
FSPUB=$(echo "$FSKEY" | wg pubkey) FCPUB=$(echo "$FCKEY" | wg pubkey)
SIF="tsw$$" FSIF="tfw$$"
SIF=${SIF:0:15} FSIF=${FSIF:0:15}
wg_server "$SNS" "$SIF" "$SKEY" "$CPUB" 192.0.2.2/32 192.0.2.1/24
wg_server "$FNS" "$FSIF" "$FSKEY" "$FCPUB" 10.77.0.2/32,fd77::2/128 10.77.0.1/24 fd77::1/64

# The profiles, enabled before boot (the split one, then the full tunnel); the helper's idle
# exit shortened for the test.
cat >"$R/etc/tund/demo.conf" <<CONF
# system test profile
[Interface]
PrivateKey = $CKEY
Address = 192.0.2.2/32
DNS = 192.0.2.1, corp.example

[Peer]
PublicKey = $SPUB
Endpoint = 198.51.100.1:51820
AllowedIPs = 192.0.2.1/32, 203.0.113.0/24
PersistentKeepalive = 25

[Tund]
InterfaceName = tund-demo
CONF
# The second profile, a full tunnel to the other peer: both come up at boot, side by side.
cat >"$R/etc/tund/full.conf" <<CONF
# system test profile: full tunnel
[Interface]
PrivateKey = $FCKEY
Address = 10.77.0.2/32, fd77::2/128

[Peer]
PublicKey = $FSPUB
Endpoint = 198.51.101.1:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25

[Tund]
InterfaceName = tund-full
CONF
chmod 0600 "$R/etc/tund/demo.conf" "$R/etc/tund/full.conf"
in_tree "$R" systemctl enable tund@demo.service tund@full.service >"$W/enable.log" 2>&1 ||
	{ fail system_boot "systemctl enable tund@demo tund@full: $(cat "$W/enable.log")"; exit 1; }
mkdir -p "$R/etc/systemd/system/tund-helper.service.d"
cat >"$R/etc/systemd/system/tund-helper.service.d/system-test.conf" <<'CONF'
[Service]
ExecStart=
ExecStart=/usr/sbin/tund-helperd --shim-user tund-netshim --idle-exit 3
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
# (/dev/net/tun: the container's node is a copy of this machine's, 0600, and there is no udev:
# tund's own tmpfiles.d line makes it 0666, as Debian's udev would.)
check boot_dev_net_tun_0666 test "$(cx stat -c '%a' /dev/net/tun)" = 666
check boot_tmpfiles_dirs test "$(cx stat -c '%a %U:%G' /run/tund /run/tund/netshim /etc/tund /run/wireguard | tr '\n' ' ')" \
	= "755 root:root 700 tund-netshim:tund-netshim 700 root:root 755 tund-netshim:root "
check boot_nobody_logged_in bash -c '[ -z "$(cx loginctl list-sessions --no-legend 2>/dev/null)" ]'
vpn_ping() { cx ping -n -c 1 -W 3 203.0.113.1 >/dev/null; }
full_ping() { cx ping -n -c 1 -W 3 198.18.7.1 >/dev/null && cx ping -6 -n -c 1 -W 3 2001:db8:77::1 >/dev/null; }
export -f vpn_ping full_ping
if wait_for 30 vpn_ping; then pass boot_vpn_up; else
	fail boot_vpn_up "$(cx systemctl status --no-pager tund@demo 2>&1 | tail -n 8 | tr '\n' ' ')"
	cx journalctl --no-pager -n 30 -u tund@demo -u tund-helper -u systemd-resolved -u polkit 2>&1 | sed 's/^/    journal: /'
fi
if wait_for 30 full_ping; then pass boot_full_vpn_up; else
	fail boot_full_vpn_up "$(cx systemctl status --no-pager tund@full 2>&1 | tail -n 8 | tr '\n' ' ')"
fi
check boot_unit_active test "$(cx systemctl is-active tund@demo.service)" = active
check boot_full_unit_active test "$(cx systemctl is-active tund@full.service)" = active
check boot_both_links bash -c "cx ip link show tund-demo && cx ip link show tund-full"
# The split profile's destinations stay on its link while the full tunnel takes the rest.
check boot_route_via_tunnel bash -c "cx ip route get 203.0.113.1 | grep -q 'dev tund-demo'"
check boot_full_route_via_tunnel bash -c "cx ip route get 198.18.7.1 | grep -q 'dev tund-full' &&
	cx ip -6 route get 2001:db8:77::1 | grep -q 'dev tund-full'"
check boot_routes_proto_tund bash -c "cx ip route show table all proto tund | grep -q '203.0.113.0/24 dev tund-demo'"
cx tundctl status --json >"$W/status-both.json" 2>&1
# shellcheck disable=SC2016 # $names in the jq program are jq's
jcheck boot_tundctl_status_both "$W/status-both.json" '([.sessions[] | {(.profile): .}] | add) as $s |
	($s | keys) == ["demo", "full"] and all($s[]; .state == "running" and .ifname == "tund-" + .profile)'
# Each profile holds a slot of its own (/run/tund/netshim/slots/N, holding its name): table
# 29813+N, rules 21700+10N and 21701+10N. The split profile's routes are in the main table,
# its table is empty and it has no rules: the two proto tund rules per family are the full one's.
slot_of() { cx sh -c "grep -lx '$1' /run/tund/netshim/slots/*" 2>/dev/null | head -n 1 | sed 's|.*/||'; }
tund_rules() { cx ip "$1" rule show | grep -E 'proto (tund|116)'; } # -4|-6
tund_routes() { cx ip -4 route show table all proto tund; cx ip -6 route show table all proto tund; }
# same NOW BEFORE: equal, else the difference
same() { [ "$1" = "$2" ] || { diff <(echo "$2") <(echo "$1"); return 1; }; }
export -f tund_rules tund_routes
DSLOT=$(slot_of demo) FSLOT=$(slot_of full)
echo "slots: demo ${DSLOT:-none}, full ${FSLOT:-none}"
check boot_slots_distinct test -n "$DSLOT" -a -n "$FSLOT" -a "$DSLOT" != "$FSLOT"
DTBL=$((29813 + ${DSLOT:-0})) FTBL=$((29813 + ${FSLOT:-0})) FPRI=$((21700 + 10 * ${FSLOT:-0}))
for f in -4 -6; do
	check "boot_full_rules${f/-/_v}" bash -c "[ \"\$(tund_rules $f | cut -d: -f1 | tr '\n' ' ')\" = '$FPRI $((FPRI + 1)) ' ] &&
		tund_rules $f | grep -Eq '^$FPRI:.*lookup main suppress_prefixlength 0' &&
		tund_rules $f | grep -Eq '^$((FPRI + 1)):.*not from all (fwmark 0x7475|uidrange [0-9]+-[0-9]+) lookup $FTBL '"
done
check boot_full_table bash -c "cx ip -4 route show table $FTBL | grep -q '^default dev tund-full proto tund' &&
	cx ip -6 route show table $FTBL | grep -q '^default dev tund-full proto tund' &&
	! { cx ip -4 route show table $FTBL; cx ip -6 route show table $FTBL; } | grep -v 'proto tund'"
check boot_split_table_empty bash -c "! { cx ip -4 route show table all; cx ip -6 route show table all; } | grep -w 'table $DTBL'"
tund_routes | sed 's/^/    route: /'
{ tund_rules -4; tund_rules -6; } | sed 's/^/    rule: /'

# Socket activation: the helper is not enabled, only its sockets; it started after the first
# shim (which connected to the shim socket), not with the sockets.
show() { cx systemctl show -P "$2" "$1"; } # UNIT PROPERTY
check helper_static test "$(cx systemctl is-enabled tund-helper.service)" = static
check sockets_enabled test "$(cx systemctl is-enabled tund-helper-control.socket tund-helper-shim.socket | tr '\n' ' ')" = "enabled enabled "
sock_t=$(show tund-helper-shim.socket ActiveEnterTimestampMonotonic)
shim_t=$(show tund@demo.service ExecMainStartTimestampMonotonic)
fshim_t=$(show tund@full.service ExecMainStartTimestampMonotonic)
[ "$fshim_t" -lt "$shim_t" ] && shim_t=$fshim_t
helper_t=$(show tund-helper.service ExecMainStartTimestampMonotonic)
echo "monotonic: shim socket listening $sock_t, first shim started $shim_t, helper started $helper_t"
check helper_socket_activated_after_shim test "$sock_t" -lt "$shim_t" -a "$shim_t" -lt "$helper_t"
uid_of() { cx awk '/^Uid:/ {print $2}' "/proc/$1/status"; }
# ids_of PID: "ruid euid suid fsuid rgid egid sgid fsgid" and the supplementary groups, or "-"
ids_of() { cx awk '/^Uid:/ { u = $2 " " $3 " " $4 " " $5 } /^Gid:/ { g = $2 " " $3 " " $4 " " $5 }
	/^Groups:/ { s = NF > 1 ? $2 : "-"; for (i = 3; i <= NF; i++) s = s "," $i } END { print u, g, s }' \
	"/proc/$1/status"; }
tund_uid=$(cx id -u tund-engine)
eng_gid=$(cx getent group tund-engine | cut -d: -f3)
shim_uid=$(cx id -u tund-netshim)
export eng_gid
check helper_runs_as_tund test "$(uid_of "$(show tund-helper.service MainPID)")" = "$tund_uid"
# The engine's UAPI socket (its keys) is the engine's group's only; a member of the status group
# tund reads status but cannot reach it.
check uapi_socket_engine_only test "$(cx stat -c '%a %U %G' /run/wireguard/tund-demo.sock)" = "660 tund-netshim tund-engine"
tund_gid=$(cx getent group tund | cut -d: -f3)
as_status_member() { cx setpriv --reuid 65534 --regid 65534 --groups "$tund_gid" "$@"; }
export tund_gid
export -f as_status_member
check status_member_reads_status bash -c "as_status_member /usr/sbin/tundctl status >/dev/null"
out=$(as_status_member wg show tund-demo private-key 2>&1)
case "$out" in *"Permission denied"*) pass status_member_cannot_read_keys ;;
*) fail status_member_cannot_read_keys "$(echo "$out" | sed 's/[A-Za-z0-9+/]\{43\}=/<KEY>/g')" ;; esac
# caps_of PID: "uid CapInh CapPrm CapEff CapBnd CapAmb" as the kernel reports them.
caps_of() {
	cx awk '/^Uid:/ { u = $2 } /^Cap(Inh|Prm|Eff|Bnd|Amb):/ { c = c " " $2 } END { print u c }' \
		"/proc/$1/status"
}
# pids_of COMM: the container's processes of that name (the tree has no procps).
pids_of() {
	cx sh -c 'for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] && echo "${d#/proc/}"; done; true' sh "$1"
}
zero=0000000000000000
hp=$(show tund-helper.service MainPID)
echo "tund-helperd (pid $hp): uid CapInh CapPrm CapEff CapBnd CapAmb = $(caps_of "$hp")"
check helper_no_capabilities test "$(caps_of "$hp")" = "$tund_uid $zero $zero $zero $zero $zero"
for comm in tund-tunnel wireguard-go; do
	n=0
	for pid in $(pids_of "$comm"); do
		n=$((n + 1))
		echo "$comm (pid $pid): uid CapInh CapPrm CapEff CapBnd CapAmb = $(caps_of "$pid")"
		check "no_capabilities_${comm}_$n" test "$(caps_of "$pid")" = "$tund_uid $zero $zero $zero $zero $zero"
	done
	check "two_of_$comm" test "$n" = 2
done
for p in demo full; do
	sp=$(show "tund@$p.service" MainPID)
	echo "tund-netshimd $p (pid $sp): uid CapInh CapPrm CapEff CapBnd CapAmb = $(caps_of "$sp")"
	# Its own system user in all four uid fields, group tund-engine and no other group.
	ids=$(ids_of "$sp")
	echo "tund-netshimd $p (pid $sp): uids gids groups = $ids"
	want="$shim_uid $shim_uid $shim_uid $shim_uid $eng_gid $eng_gid $eng_gid $eng_gid"
	if [ "$ids" = "$want -" ] || [ "$ids" = "$want $eng_gid" ]; then
		pass "shim_runs_as_tund_netshim_$p"
	else
		fail "shim_runs_as_tund_netshim_$p" "$ids, expected $want and no group but $eng_gid"
	fi
	# CAP_NET_ADMIN (bit 12) and nothing else in any set, from the ambient set.
	net_admin=0000000000001000
	check "shim_caps_net_admin_only_$p" test "$(caps_of "$sp")" = "$shim_uid $net_admin $net_admin $net_admin $net_admin $net_admin"
done
# What that identity cannot do (issue 15 item 4): open a root-owned 0600 file -- another
# profile, /etc/shadow -- although systemd handed it its own profile (its standard input).
as_shim() { cx setpriv --reuid tund-netshim --regid tund-engine --groups "$eng_gid" \
	--inh-caps -all,+net_admin --ambient-caps -all,+net_admin --bounding-set -all,+net_admin "$@"; }
export -f as_shim
check shim_user_cannot_read_root_files bash -c "! as_shim cat /etc/tund/full.conf >/dev/null 2>&1 &&
	! as_shim cat /etc/shadow >/dev/null 2>&1 && as_shim cat /etc/hostname >/dev/null"
dsp=$(show tund@demo.service MainPID)
check shim_stdin_is_its_profile test "$(cx readlink "/proc/$dsp/fd/0")" = /etc/tund/demo.conf
# Not root on D-Bus either, yet the split profile's DNS is on its link in the real
# systemd-resolved: resolved asked polkitd, and the package's rule said yes.
check shim_set_link_dns_through_polkit bash -c "cx resolvectl dns tund-demo | grep -qw 192.0.2.1 &&
	cx resolvectl domain tund-demo | grep -qw corp.example"
cx resolvectl dns tund-demo 2>&1 | sed 's/^/    /'

# systemctl status shows the shim's STATUS= text.
check status_text bash -c "cx systemctl status --no-pager tund@demo.service | grep -q '^ *Status: \"'"
cx systemctl status --no-pager tund@demo.service | sed 's/^/    /'

# Roaming under the real unit's sandbox (no capability, RestrictAddressFamilies=, the system
# bus): the helper watches rtnetlink itself, so an address added to the underlay rebinds both
# sessions, with no NetworkManager in the container.
check roam_watchers_started bash -c "! cx journalctl --no-pager -o cat -u tund-helper | grep -q 'Cannot watch'"
ip -n "$CNS" addr add 198.51.100.77/32 dev eth0
if wait_for 200 bash -c "cx journalctl --no-pager -o cat -u tund-helper | grep -q 'network change (address added on eth0.*rebinding 2 sessions'"; then
	pass roam_network_change_rebinds
else
	fail roam_network_change_rebinds "$(cx journalctl --no-pager -o cat -u tund-helper | tail -n 8 | tr '\n' ' ')"
fi
if wait_for 200 bash -c "cx journalctl --no-pager -o cat -u tund-helper | grep -q 'rebind (network change): endpoints set again'"; then
	pass roam_rebind_done
else
	fail roam_rebind_done "$(cx journalctl --no-pager -o cat -u tund-helper | grep -i rebind | tail -n 4 | tr '\n' ' ')"
fi
ip -n "$CNS" addr del 198.51.100.77/32 dev eth0
cx journalctl --no-pager -o cat -u tund-helper | grep -iE 'rebind|logind|system bus|clock' | tail -n 6 | sed 's/^/    helper: /'
check roam_vpn_still_up vpn_ping

# Each profile stopped in turn: stop returns when its VPN is down, its link, routes, rules and
# slot are gone, and the other's routes and rules are as they were and it still passes traffic.
# tund_all: every proto tund route and rule, sorted; the split profile's part is its link's
# routes, the rest (the full one's table, throw route for its endpoint, rules) the full one's.
tund_all() { { tund_routes; tund_rules -4; tund_rules -6; } | sort; }
all=$(tund_all)
demo_part=$(echo "$all" | grep 'dev tund-demo') full_part=$(echo "$all" | grep -v 'dev tund-demo')
if cx systemctl stop tund@full.service && ! cx ip link show tund-full >/dev/null 2>&1; then
	pass stop_full_returns_when_down
else
	fail stop_full_returns_when_down "tund-full still there after stop returned"
fi
check stop_full_split_active test "$(cx systemctl is-active tund@demo.service)" = active
check stop_full_leaves_split_as_it_was same "$(tund_all)" "$demo_part"
check stop_full_releases_slot bash -c "! cx test -e /run/tund/netshim/slots/$FSLOT && [ '$(slot_of demo)' = '$DSLOT' ]"
check stop_full_split_pings vpn_ping
check stop_full_split_route bash -c "cx ip route get 203.0.113.1 | grep -q 'dev tund-demo'"
if cx systemctl start tund@full.service && full_ping; then pass start_full_returns_when_up; else
	fail start_full_returns_when_up "no ping right after start returned"
fi
check start_full_same_slot test "$(slot_of full)" = "$FSLOT"
check start_full_same_routes_rules same "$(tund_all)" "$all"
if cx systemctl stop tund@demo.service && ! cx ip link show tund-demo >/dev/null 2>&1; then
	pass stop_returns_when_down
else
	fail stop_returns_when_down "tund-demo still there after stop returned"
fi
check stop_split_full_active test "$(cx systemctl is-active tund@full.service)" = active
check stop_split_leaves_full_as_it_was same "$(tund_all)" "$full_part"
check stop_split_releases_slot bash -c "! cx test -e /run/tund/netshim/slots/$DSLOT && [ '$(slot_of full)' = '$FSLOT' ]"
check stop_split_full_pings full_ping
check stop_leaves_no_uapi_socket bash -c '! cx test -e /run/wireguard/tund-demo.sock'
if cx systemctl stop tund@full.service && ! cx ip link show tund-full >/dev/null 2>&1; then
	pass stop_both_returns_when_down
else
	fail stop_both_returns_when_down "tund-full still there after stop returned"
fi
check stop_leaves_no_routes bash -c '[ -z "$(tund_routes)" ]'
check stop_leaves_no_rules bash -c '[ -z "$(tund_rules -4; tund_rules -6)" ]'
check stop_leaves_no_slots bash -c '[ -z "$(cx ls -A /run/tund/netshim/slots)" ]'
check stop_leaves_no_uapi_sockets bash -c '! cx test -e /run/wireguard/tund-full.sock'
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

# Roles (issue 15 item 8): the package's polkit rule lets group tund-operators start, stop and
# restart tund@*.service without sudo, through the real polkitd (D-Bus activated) -- and nothing
# else. Three users: tsysop in tund-operators, tsysst in tund (status only), tsysno in neither.
# polkitd reads the groups from /etc/group at each check, so adding them now is enough.
as_user() { local u=$1; shift; cx setpriv --reuid "$u" --regid "$u" --init-groups "$@"; } # USER CMD...
# rc_is WANT CMD...: CMD's exit code is WANT (its output goes to $W/rc.log)
rc_is() { local want=$1 rc=0; shift; "$@" >"$W/rc.log" 2>&1 || rc=$?; [ "$rc" = "$want" ] || { echo "exit $rc, expected $want: $(tr '\n' ' ' <"$W/rc.log")"; return 1; }; }
export -f as_user
check polkit_rule_installed test "$(cx stat -c '%a %U:%G' /usr/share/polkit-1/rules.d/60-tund.rules)" = "644 root:root"
check polkit_group_created bash -c "cx getent group tund-operators | grep -Eq '^tund-operators:x:[0-9]+:' &&
	[ \$(cx getent group tund-operators | cut -d: -f3) -lt 1000 ]"
cx useradd -M -s /usr/sbin/nologin -G tund-operators tsysop &&
	cx useradd -M -s /usr/sbin/nologin -G tund tsysst &&
	cx useradd -M -s /usr/sbin/nologin tsysno || fail polkit_users "useradd failed"
# A unit that is not tund's, running, for the operator to try to stop.
cx sh -c 'printf "[Service]\nExecStart=/bin/sleep infinity\n" >/run/systemd/system/tsys-other.service' &&
	cx systemctl daemon-reload && cx systemctl start tsys-other.service || fail polkit_users "tsys-other.service"
ctl() { as_user "$@"; } # USER /usr/sbin/tundctl ...
check polkit_not_operator_up_denied rc_is 4 ctl tsysst /usr/sbin/tundctl up demo
check polkit_nobody_up_denied rc_is 4 ctl tsysno /usr/sbin/tundctl up demo
check polkit_denied_left_it_down test "$(cx systemctl is-active tund@demo.service)" = inactive
if rc_is 0 ctl tsysop /usr/sbin/tundctl up demo && vpn_ping; then pass polkit_operator_up; else
	fail polkit_operator_up "$(tr '\n' ' ' <"$W/rc.log") $(cx journalctl --no-pager -n 10 -u polkit 2>&1 | tr '\n' ' ')"
fi
check polkit_operator_up_is_the_unit test "$(cx systemctl is-active tund@demo.service)" = active
inv=$(show tund@demo.service InvocationID)
check polkit_operator_restart bash -c "as_user tsysop systemctl --no-ask-password restart tund@demo.service &&
	[ \"\$(cx systemctl show -P InvocationID tund@demo.service)\" != '$inv' ] && vpn_ping"
# What the rule does not grant: other verbs on tund@ units, other units (tund's own helper
# sockets included), unit files; group tund's members cannot stop it either.
check polkit_operator_kill_denied bash -c "! as_user tsysop systemctl --no-ask-password kill tund@demo.service"
check polkit_operator_reload_denied bash -c "! as_user tsysop systemctl --no-ask-password reload-or-restart tund@demo.service"
check polkit_operator_other_unit_denied bash -c "! as_user tsysop systemctl --no-ask-password stop tsys-other.service"
check polkit_operator_helper_socket_denied bash -c "! as_user tsysop systemctl --no-ask-password stop tund-helper-control.socket"
check polkit_operator_disable_denied bash -c "! as_user tsysop systemctl --no-ask-password disable tund@full.service"
check polkit_not_operator_down_denied rc_is 4 ctl tsysst /usr/sbin/tundctl down demo
check polkit_not_operator_systemctl_stop_denied bash -c "! as_user tsysno systemctl --no-ask-password stop tund@demo.service"
check polkit_denials_changed_nothing test "$(cx systemctl is-active tund@demo.service tsys-other.service tund-helper-control.socket | tr '\n' ' ')$(cx systemctl is-enabled tund@full.service)" \
	= "active active active enabled"
if rc_is 0 ctl tsysop /usr/sbin/tundctl down demo && ! cx ip link show tund-demo >/dev/null 2>&1; then
	pass polkit_operator_down
else
	fail polkit_operator_down "$(tr '\n' ' ' <"$W/rc.log")"
fi
check polkit_operator_down_is_the_unit test "$(cx systemctl is-active tund@demo.service)" = inactive
# The answers came from polkitd and the rule (not from a missing polkit: that denies everyone).
check polkitd_ran test "$(cx systemctl is-active polkit.service)" = active
cx journalctl --no-pager -o cat -u polkit.service | sed 's/^/    polkitd: /'
check polkitd_loaded_the_rule bash -c "cx journalctl --no-pager -o cat -u polkit.service | grep -q 'Loading rules from directory /usr/share/polkit-1/rules.d' &&
	! cx journalctl --no-pager -o cat -u polkit.service | grep -Eiq 'error|60-tund.rules'"
cx systemctl stop tsys-other.service

# A purge in the running system stops the profile, the helper and the sockets first.
cx systemctl start tund@demo.service
if cx env DEBIAN_FRONTEND=noninteractive dpkg --purge tund >"$W/purge-live.log" 2>&1; then pass purge_live_runs; else
	fail purge_live_runs "$(tail -n 5 "$W/purge-live.log" | tr '\n' ' ')"
fi
check purge_live_vpn_down bash -c '! cx ip link show tund-demo >/dev/null 2>&1'
check purge_live_nothing_running bash -c 'u=$(cx systemctl list-units --no-legend --state=active "tund*" 2>&1); [ -z "$u" ] || { echo "$u"; false; }'
check purge_live_no_processes bash -c '! cx sh -c "cat /proc/[0-9]*/comm" 2>/dev/null | grep -q -E "^tund-|^wireguard-go"'
check purge_live_no_run_tund bash -c '! cx test -e /run/tund'
echo "--- journal of tund units"
cx journalctl --no-pager -o short-monotonic -u 'tund*' | tail -n 60 | sed 's/^/    /'
elapsed "done"

# --- 4. the kill switch, in a boot of its own ---
. "$SYS/killswitch-boot.sh"
