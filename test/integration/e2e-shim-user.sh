#!/bin/bash
# The network shim as tund@.service runs it (issue 15 item 4): its own system user
# (tund-netshim, uid 989 here) with CAP_NET_ADMIN from the ambient set and nothing else, group
# tund-engine, the profile handed over as standard input by root (StandardInput=file:), the helper
# accepting it by --shim-user. Checked: the VPN comes up and passes traffic; the shim's ids and
# capabilities; that identity cannot open its profile's file or another root 0600 file; the UAPI
# socket is tund-netshim:tund-engine 0660; a stop, and --cleanup as that user after a SIGKILL,
# leave nothing behind; a profile with DNS fails, since resolved asks polkit about a shim that is
# not root and there is no polkitd here, with an error that says so -- and leaves nothing.
# (The real polkitd saying yes, by the package's rule, is checked in the system test.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"

if ! e2e_setup su; then fail setup "could not build the namespaces"; exit 1; fi
SHIM_UID=989 ENGINE_GID=991 # (990 is systemd-resolve here, see lib-resolved.sh)
# What sysusers.d and tmpfiles.d make (/dev/net/tun 0666, as udev makes it too; this machine's
# is 0600); the shim binary where that user may run it (the checkout
# may be in a directory only root can enter).
cns sh -c "echo 'tund-netshim:x:$SHIM_UID:$SHIM_UID::/:/usr/sbin/nologin' >>/etc/passwd &&
	echo 'tund-netshim:x:$SHIM_UID:' >>/etc/group &&
	install -m 0755 '$B/tund-netshimd' /run/tund-bin/tund-netshimd &&
	mkdir -p -m 0700 /run/tund/netshim && chown tund-netshim:tund-netshim /run/tund/netshim &&
	mkdir -p -m 0755 /run/wireguard && chown tund-netshim:root /run/wireguard &&
	mount -t tmpfs -o mode=0755 tund-t-devnet /dev/net && mknod -m 0666 /dev/net/tun c 10 200" ||
	{ fail setup "user and directories"; exit 1; }
# The notification socket must be reachable by that user.
chmod 0711 "$W"
e2e_profile su
e2e_profile sudns "DNS = 192.0.2.1, corp.example"
BASE=$(e2e_dump)
e2e_helper_start --shim-user tund-netshim || { fail setup "helper"; exit 1; }
cns chown tund-netshim /run/tund/shim.sock # what SocketUser= does

# The identity of tund@.service: User=tund-netshim, Group=tund-engine, CAP_NET_ADMIN ambient.
AS_SHIM=(setpriv --reuid "$SHIM_UID" --regid "$ENGINE_GID" --groups "$ENGINE_GID"
	--inh-caps -all,+net_admin --ambient-caps -all,+net_admin --bounding-set -all,+net_admin --)
shim_start() { # NAME [ARGS...]: as e2e_shim_start, as that user, the profile as standard input
	local name=$1
	shift
	: >"$W/notify-$name"
	if [ ! -S "$W/notify-$name.sock" ]; then
		notify_listen "$W/notify-$name.sock" "$W/notify-$name"
		wait_for 5 test -S "$W/notify-$name.sock" && chmod 0666 "$W/notify-$name.sock"
	fi
	NOTIFY_SOCKET="$W/notify-$name.sock" nsenter -t "$RNS_PID" -n -m -p -- "${AS_SHIM[@]}" \
		/run/tund-bin/tund-netshimd --profile-stdin --config-dir "$W/etc" "$@" "$name" \
		<"$W/etc/$name.conf" >>"$W/shim-$name.log" 2>&1 &
	SHIM_PID[$name]=$!
	T_PIDS+=($!)
}
nothing_left() { # CASE
	if wait_for 10 bash -c '[ "$(e2e_dump)" = "$BASE" ]' 2>/dev/null || [ "$(e2e_dump)" = "$BASE" ]; then
		pass "$1"
	else
		fail "$1" "$(diff <(echo "$BASE") <(e2e_dump) | head -8 | tr '\n' ' ')"
	fi
}
export BASE
export -f e2e_dump ns_dump

# --- up, as that user ---
shim_start su
if wait_for 20 e2e_ready su && cns ping -c 1 -W 3 203.0.113.1 >/dev/null; then pass shim_user_vpn_up; else
	fail shim_user_vpn_up "$(tail -5 "$W/shim-su.log" | tr '\n' ' ') $(tail -3 "$W/helper.log" | tr '\n' ' ')"
fi
SP=$(e2e_child_pid "${SHIM_PID[su]}")
ids=$(awk '/^Uid:/ { u = $2 " " $3 " " $4 " " $5 } /^Gid:/ { g = $2 " " $3 " " $4 " " $5 } END { print u, g }' "/proc/$SP/status")
echo "tund-netshimd (pid $SP): uids gids = $ids; groups: $(awk '/^Groups:/ { $1 = ""; print }' "/proc/$SP/status")"
check shim_user_ids test "$ids" = "$SHIM_UID $SHIM_UID $SHIM_UID $SHIM_UID $ENGINE_GID $ENGINE_GID $ENGINE_GID $ENGINE_GID"
caps=$(awk '/^Cap(Inh|Prm|Eff|Bnd|Amb):/ { c = c $2 " " } END { print c }' "/proc/$SP/status")
check shim_user_net_admin_only test "$caps" = "0000000000001000 0000000000001000 0000000000001000 0000000000001000 0000000000001000 "
check shim_user_profile_is_stdin test "$(readlink "/proc/$SP/fd/0")" = "$W/etc/su.conf"
# That identity cannot open the profile, another profile or any root 0600 file; it can open
# what anyone may.
as_shim_reads() {
	cns setpriv --reuid "$SHIM_UID" --regid "$ENGINE_GID" --groups "$ENGINE_GID" --inh-caps -all,+net_admin \
		--ambient-caps -all,+net_admin --bounding-set -all,+net_admin -- cat "$1" >/dev/null 2>&1
}
export SHIM_UID ENGINE_GID
export -f as_shim_reads
check shim_user_cannot_open_profiles bash -c "! as_shim_reads '$W/etc/su.conf' && ! as_shim_reads '$W/etc/sudns.conf'"
check shim_user_cannot_open_root_files bash -c "! as_shim_reads /etc/shadow && as_shim_reads /etc/hostname"
check shim_user_uapi_socket test "$(cns stat -c '%a %U %G' /run/wireguard/tund-su.sock)" = "660 tund-netshim tund-engine"
check shim_user_state_file test "$(cns stat -c '%a %U' /run/tund/netshim/su.state 2>&1)" = "600 tund-netshim"
check shim_user_status_running bash -c "ctl status su | grep -q running"

# --- a stop leaves nothing ---
e2e_shim_stop su
check shim_user_stop_exit test "$E2E_RC" = 0
nothing_left shim_user_stop_nothing_left

# --- SIGKILL, then ExecStopPost= (--cleanup) as the same user ---
shim_start su
wait_for 20 e2e_ready su || fail shim_user_kill_setup "not ready: $(tail -3 "$W/shim-su.log" | tr '\n' ' ')"
e2e_shim_kill su KILL
wait "${SHIM_PID[su]}" 2>/dev/null
if cns "${AS_SHIM[@]}" /run/tund-bin/tund-netshimd --profile-stdin --config-dir "$W/etc" --cleanup su \
	<"$W/etc/su.conf" >"$W/cleanup.log" 2>&1; then pass shim_user_cleanup_runs; else
	fail shim_user_cleanup_runs "$(tail -3 "$W/cleanup.log" | tr '\n' ' ')"
fi
nothing_left shim_user_cleanup_nothing_left

# --- DNS needs polkit's yes when the shim is not root: refused here, and said so ---
shim_start sudns
pid=${SHIM_PID[sudns]}
if wait_for 30 bash -c "! kill -0 $pid 2>/dev/null"; then
	wait "$pid"
	rc=$?
	check shim_user_dns_refused_fails test "$rc" != 0
else
	fail shim_user_dns_refused_fails "still running: $(tail -3 "$W/shim-sudns.log" | tr '\n' ' ')"
	e2e_shim_kill sudns KILL
fi
check shim_user_dns_refusal_names_polkit grep -q 'not root, so resolved asked polkit' "$W/shim-sudns.log"
grep -m 2 -i 'polkit' "$W/shim-sudns.log" | sed 's/^/    /'
cns "${AS_SHIM[@]}" /run/tund-bin/tund-netshimd --profile-stdin --config-dir "$W/etc" --cleanup sudns \
	<"$W/etc/sudns.conf" >>"$W/cleanup.log" 2>&1
nothing_left shim_user_dns_refused_nothing_left

e2e_logs
