#!/bin/bash
# Bad input through the real sockets while a session runs: each gets a clear error or a closed
# connection with a logged reason; the daemons stay up; the running session is unaffected.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"

if ! e2e_setup bi; then fail setup "could not build the namespaces"; exit 1; fi
e2e_helper_start || { fail setup "helper"; exit 1; }
e2e_profile good
e2e_shim_start good
wait_for 20 e2e_ready good || { fail setup "session not ready"; e2e_logs; exit 1; }
HPID=$(cns ps -e -o pid=,comm= | awk '$2 == "tund-helperd" { print $1 }')
# A copy the unprivileged cases below can read (the checkout may be in /root, 0700).
RAW=/run/tund-bin/rawclient.py
cns install -m 0644 "$TOP/test/integration/rawclient.py" "$RAW" || { fail setup "copy rawclient.py"; exit 1; }
raw() { cns python3 "$RAW" "$@"; }

# unaffected SESSION-CHECK-NAME: the helper is the same process and the tunnel still works
unaffected() {
	local now
	now=$(cns ps -e -o pid=,comm= | awk '$2 == "tund-helperd" { print $1 }')
	if [ "$now" = "$HPID" ] && cns ping -c 1 -W 3 203.0.113.1 >/dev/null; then pass "$1_daemons_up_session_fine"
	else fail "$1_daemons_up_session_fine" "helper pid '$now' (was $HPID)"; fi
}
# closed CASE LOGTEXT: the helper closed the connection and logged why
closed() {
	local out
	out=$(raw /run/tund/control.sock "$1")
	if [ "$out" = EOF ]; then pass "$1_closed"; else fail "$1_closed" "$out"; fi
	if wait_for 3 grep -q -- "$2" "$W/helper.log"; then pass "$1_reason_logged"; else fail "$1_reason_logged" "no '$2' in the helper's log"; fi
	unaffected "$1"
}

closed wrong-preamble "not speaking the tund protocol"
closed wrong-role "role 'shim', expected 'ctl'"
closed no-common-version "no common protocol version"
closed long-line "line too long"
closed oversize "longer than the channel's maximum"
closed zero-frame "zero-length frame"
closed garbage "undecodable"
closed no-rpc "without Rpc header"
# An fd on the control channel, which carries none: the kernel refuses it at the sender where it
# knows SO_PASSRIGHTS (Linux 6.16+); elsewhere the helper closes the connection, naming why.
out=$(raw /run/tund/control.sock fd-count)
if [ "$out" = "SEND-ERROR EPERM" ]; then
	pass fd-count_refused_by_the_kernel
	unaffected fd-count
else
	closed fd-count "announced 0 fds but sent 1"
fi

out=$(raw /run/tund/control.sock unknown-type)
case "$out" in
*"REPLY "*"52"??"0809"*"unsupported control request"*) pass unknown_type_error_reply ;;
*) fail unknown_type_error_reply "$out" ;;
esac
unaffected unknown_type

# permissions: a member of group tund may read but not stop, and cannot reach the engine's UAPI
# socket (keys); the shim socket is root's only
GROUP_TUND=992
PY=/usr/bin/python3 # not a per-user shim: the unprivileged cases must run it too
as_member() { cns setpriv --reuid 65534 --regid 65534 --groups "$GROUP_TUND" "$@"; }
out=$(as_member $PY "$RAW" /run/tund/control.sock ping)
case "$out" in REPLY*) pass member_may_ping ;; *) fail member_may_ping "$out" ;; esac
out=$(as_member $PY "$RAW" /run/tund/control.sock stop)
case "$out" in
*"REPLY "*"permission denied"*"root"*) pass member_stop_refused_with_rule ;;
*) fail member_stop_refused_with_rule "$out" ;;
esac
out=$(cns setpriv --reuid 65534 --regid 65534 --clear-groups $PY "$RAW" /run/tund/control.sock ping)
case "$out" in "CONNECT-ERROR EACCES") pass stranger_cannot_connect ;; *) fail stranger_cannot_connect "$out" ;; esac
UAPI=/run/wireguard/tund-good.sock
check uapi_socket_engine_group_only test "$(cns stat -c '%a %U %G' "$UAPI")" = "660 root tund-engine"
out=$(as_member $PY "$RAW" "$UAPI" ping)
case "$out" in "CONNECT-ERROR EACCES") pass member_cannot_reach_uapi ;; *) fail member_cannot_reach_uapi "$out" ;; esac
out=$(as_member wg show tund-good private-key 2>&1)
case "$out" in *"Permission denied"*) pass member_wg_show_private_key_denied ;;
*) fail member_wg_show_private_key_denied "$(echo "$out" | sed 's/[A-Za-z0-9+/]\{43\}=/<KEY>/g')" ;; esac
# Even with the file opened up, the helper refuses a shim that is not root.
cns chmod 0666 /run/tund/shim.sock
out=$(cns setpriv --reuid 65534 --regid 65534 --clear-groups $PY "$RAW" /run/tund/shim.sock ping)
cns chmod 0600 /run/tund/shim.sock
case "$out" in EOF) pass nonroot_shim_refused ;; *) fail nonroot_shim_refused "$out" ;; esac
check nonroot_shim_refusal_logged grep -q "Refusing shim connection" "$W/helper.log"
unaffected permissions

# profiles with errors: a clear message naming file:line, exit 78, the running session intact
bad_profile() { # NAME LINE EXPECT
	printf '[Interface]\nPrivateKey = %s\nAddress = 192.0.2.9/32\n%s\n' "$CKEY" "$2" >"$W/etc/$1.conf"
	chmod 600 "$W/etc/$1.conf"
	local out rc
	out=$(cns "$B/tund-netshimd" --config-dir "$W/etc" "$1" 2>&1)
	rc=$?
	if [ "$rc" = 78 ] && echo "$out" | grep -q -- "$3"; then pass "bad_profile_$1"; else fail "bad_profile_$1" "exit $rc: $out"; fi
}
bad_profile postup "PostUp = rm -rf /" "postup.conf:4: PostUp"
bad_profile savecfg "SaveConfig = true" "savecfg.conf:4: SaveConfig"
bad_profile unknown "Colour = blue" "unknown.conf:4: Colour"
bad_profile badkey "[Peer]
PublicKey = not-a-key
AllowedIPs = 10.0.0.0/8" "badkey.conf:5: PublicKey"
bad_profile badaddr "[Peer]
PublicKey = $SPUB
AllowedIPs = 300.1.2.3/8" "badaddr.conf:6: AllowedIPs"
bad_profile badport "[Peer]
PublicKey = $SPUB
Endpoint = 198.51.100.1:99999
AllowedIPs = 203.0.113.0/24" "badport.conf:6: Endpoint"
unaffected bad_profiles
check no_key_in_errors bash -c "! grep -rqF -- '$CKEY' $W/*.log"

e2e_shim_stop good
if [ "$E2E_RC" = 0 ]; then
	pass good_session_stops_cleanly
else
	fail good_session_stops_cleanly "exit $E2E_RC"
fi
