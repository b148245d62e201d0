# A private systemd-resolved on a private system bus, for integration tests. Source it after
# lib.sh (which provides ns_add, bg_start and the cleanup trap).
#
#   resolved_ensure            fetch systemd-resolved once into $RESOLVED_CACHE (never install
#                              it on the host: its postinst replaces /etc/resolv.conf)
#   resolved_ns_start NAME     new netns tund-t<NAME>-<pid> plus private pid+mount namespaces
#                              running dbus-daemon and systemd-resolved; sets RNS (the netns
#                              name) and RNS_PID (host pid of the namespace's init)
#   rns CMD...                 run CMD inside (network, mount and pid namespaces)
#   resolvectl_ns ARGS...      resolvectl inside
#   rbusctl ARGS...            busctl inside
#   RESOLVED_DIR               a scratch directory (host path, visible inside), removed at exit
#
# RESOLVED_NS_RESOLV_CONF: the namespace's /etc/resolv.conf from the start (default: a copy of the
# host's), so that resolved never sees another one.
# Inside, /run is a tmpfs, /etc/resolv.conf, /etc/passwd and /etc/group are bind-mounted
# copies: nothing on the host changes. Everything dies with the namespace's init, which the
# lib.sh trap ends (SIGKILL through unshare --kill-child), also when a test fails.
RESOLVED_CACHE=${RESOLVED_CACHE:-/var/cache/tund-test}

# Installs what the harness needs: the systemd-resolved package matching the host's systemd
# (it links libsystemd-shared of that exact version), unpacked, not installed.
resolved_ensure() {
	local ver dir
	ver=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null) || {
		echo "lib-resolved: the systemd package is needed (for libsystemd-shared)" >&2
		return 1
	}
	dir="$RESOLVED_CACHE/systemd-resolved-$ver"
	RESOLVED_ROOT="$dir/root"
	[ -x "$RESOLVED_ROOT/lib/systemd/systemd-resolved" ] && return 0
	command -v dbus-daemon >/dev/null || {
		echo "lib-resolved: dbus-daemon is missing (apt-get install dbus)" >&2
		return 1
	}
	deb_unpack systemd-resolved "$ver" "$dir"
}

# deb_unpack PACKAGE VERSION DIR: the package downloaded (not installed) and unpacked into
# DIR/root, for a test to run its programs without its maintainer scripts touching the host.
deb_unpack() {
	local deb
	mkdir -p "$3" || return 1
	(cd "$3" && apt-get download -q -o APT::Sandbox::User=root "$1=$2" >/dev/null 2>&1) || {
		echo "apt-get download $1=$2 failed (apt-get update?)" >&2
		return 1
	}
	deb=$(ls "$3/$1"_*.deb | head -n 1)
	rm -rf "$3/root.tmp" && dpkg-deb -x "$deb" "$3/root.tmp" && mv "$3/root.tmp" "$3/root"
}

# private_bus_write_conf FILE POLICY_DIR: a system bus on /run/dbus/system_bus_socket (inside
# the private /run), the default deny policy, and the policy files of POLICY_DIR (an unpacked
# package's usr/share/dbus-1/system.d).
private_bus_write_conf() {
	cat >"$1" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>$2</includedir>
</busconfig>
EOF
}

# PID 1 of the private pid namespace.
resolved_write_init() {
	cat >"$1" <<'EOF'
set -eu
D=$1 ROOT=$2
trap 'exit 0' TERM INT
mount -t tmpfs -o mode=755 tund-t-run /run
mkdir -p /run/dbus /run/lock /run/systemd
cp "${RESOLVED_NS_RESOLV_CONF:-/etc/resolv.conf}" "$D/resolv.conf" && mount --bind "$D/resolv.conf" /etc/resolv.conf
cp /etc/passwd "$D/passwd" && echo 'systemd-resolve:x:990:990::/:/usr/sbin/nologin' >>"$D/passwd"
cp /etc/group "$D/group" && echo 'systemd-resolve:x:990:' >>"$D/group"
mount --bind "$D/passwd" /etc/passwd
mount --bind "$D/group" /etc/group
ip link set lo up
dbus-daemon --config-file="$D/bus.conf" --nofork --nosyslog --nopidfile >"$D/dbus.log" 2>&1 &
for _ in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.05; done
SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=${SYSTEMD_LOG_LEVEL:-info} \
	"$ROOT/lib/systemd/systemd-resolved" >"$D/resolved.log" 2>&1 &
while :; do sleep 3600 & wait $! || true; done
EOF
}

rns() { nsenter -t "$RNS_PID" -n -m -p -- "$@"; }
resolvectl_ns() { rns "$RESOLVED_ROOT/usr/bin/resolvectl" "$@"; }
rbusctl() { rns busctl "$@"; }

resolved_on_bus() {
	[ "$(rbusctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
		NameHasOwner s org.freedesktop.resolve1 2>/dev/null)" = "b true" ]
}

resolved_ns_start() {
	local d upid i
	resolved_ensure || return 1
	ns_add "$1" >/dev/null || return 1 # not in $(...): ns_add registers it for cleanup
	RNS=${T_NETNS[${#T_NETNS[@]}-1]}
	d=$(mktemp -d /tmp/tund-t-resolved.XXXXXX) || return 1
	T_FILES+=("$d")
	# shellcheck disable=SC2034 # for the sourcing test: scratch space that is cleaned up
	RESOLVED_DIR=$d
	private_bus_write_conf "$d/bus.conf" "$RESOLVED_ROOT/usr/share/dbus-1/system.d"
	resolved_write_init "$d/init.sh"
	bg_start ip netns exec "$RNS" unshare --pid --fork --kill-child --mount-proc --mount \
		--propagation private bash "$d/init.sh" "$d" "$RESOLVED_ROOT"
	upid=${T_PIDS[${#T_PIDS[@]}-1]}
	RNS_PID=
	for ((i = 0; i < 100; i++)); do
		RNS_PID=$(ps --ppid "$upid" -o pid= | tr -d ' ' | head -n 1)
		[ -n "$RNS_PID" ] && break
		sleep 0.05
	done
	[ -n "$RNS_PID" ] || { echo "lib-resolved: namespace init did not start" >&2; return 1; }
	wait_for 10 resolved_on_bus || {
		echo "lib-resolved: systemd-resolved did not appear on the bus" >&2
		cat "$d/dbus.log" "$d/resolved.log" >&2
		return 1
	}
}
