#!/bin/bash
# `make demo`: a VPN up to a local wireguard-go peer, shown working, then down, with nothing
# left. Runs in network namespaces it creates and removes: the host is not touched.
. "$(dirname "$0")/integration/lib.sh"
. "$(dirname "$0")/integration/lib-e2e.sh"

bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[ -t 1 ] || bold='' dim='' off=''
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@" 2>&1 | sed 's/^/    /'; }
die() { echo "demo: $*" >&2; e2e_logs >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then echo "demo: run as root (network namespaces)" >&2; exit 1; fi
command -v iperf3 >/dev/null || die "iperf3 missing: run 'make deps'"

step "Setting up two network namespaces: 'client' (tund, a private D-Bus and systemd-resolved)"
echo "    and 'server' (a wireguard-go peer at 198.51.100.1:51820), joined by a veth pair."
# The client namespace's /etc/resolv.conf names resolved's stub from the start, as on a machine
# that uses systemd-resolved (the harness would start from a copy of the host's; swapping it later
# changes resolved's global settings when it next reads it, mid-demo).
RESOLVED_NS_RESOLV_CONF=$(mktemp /tmp/tund-t-resolv-XXXXXX) || die "mktemp"
T_FILES+=("$RESOLVED_NS_RESOLV_CONF")
printf 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n' >"$RESOLVED_NS_RESOLV_CONF"
export RESOLVED_NS_RESOLV_CONF
e2e_setup demo || die "could not build the namespaces"
sns python3 "$TOP/test/integration/dns-responder.py" 192.0.2.1 corp.example 192.0.2.53 "$W/dns.log" &
T_PIDS+=($!)
sns iperf3 -s -B 203.0.113.1 -1 >/dev/null 2>&1 &
T_PIDS+=($!)
BEFORE=$(e2e_dump)

step "The profile (what /etc/tund/demo.conf holds: a wg-quick file; keys hidden here)"
e2e_profile demo "DNS = 192.0.2.1, corp.example"
sed -e 's/^\(PrivateKey\|PresharedKey\) = .*/\1 = (hidden)/' "$W/etc/demo.conf" | grep -v '^#' | sed 's/^/    /'

step "Without the VPN, the server's network 203.0.113.0/24 is unreachable"
show cns ping -c 1 -W 1 203.0.113.1

step "Starting: tund-helperd is socket-activated; tund-netshimd creates the TUN and applies routes and DNS"
e2e_helper_start || die "the helper's sockets did not appear"
t0=$(date +%s%N)
e2e_shim_start demo
wait_for 20 e2e_ready demo || die "the VPN did not come up"
echo "    READY after $(( ($(date +%s%N) - t0) / 1000000 )) ms ($(grep -o 'STATUS=[^|]*' "$W/notify-demo" | tail -n 1))"
cns ping -c 1 -W 3 192.0.2.1 >/dev/null 2>&1

if [ -x "$B/tundctl" ]; then
	step "tundctl status"
	show ctl status
fi

step "wg show (as root: the engine's UAPI socket is its own and root's only)"
show cns wg show tund-demo
step "Who runs what: the tunnel and the engine as the unprivileged 'tund-engine' user"
echo "    (This demo starts the helper and the shim as root itself; the package runs them as"
echo "    tund-engine and tund-netshim, with no capability and CAP_NET_ADMIN only: see the README.)"
show cns ps -o user:12,pid,comm -C tund-tunnel,wireguard-go,tund-helperd,tund-netshimd

step "Routes tund owns (ip route show proto tund)"
show cns ip route show proto tund
show cns ip -6 route show proto tund

step "Ping through the tunnel"
show cns ping -c 3 -i 0.2 203.0.113.1
show cns ping -6 -c 3 -i 0.2 2001:db8:2::1

step "A short iperf3 through the tunnel (CPU-bound userspace WireGuard; TCP's retransmits on such a path are normal)"
show cns iperf3 -c 203.0.113.1 -t 2 -f m

step "Split DNS: only corp.example goes to the tunnel's DNS server"
show resolvectl_ns status tund-demo
show resolvectl_ns query --cache=no intranet.corp.example
show cns getent hosts intranet.corp.example

step "Stopping (SIGTERM, as systemctl stop does): the tunnel stops, tund reverts what it applied"
e2e_shim_stop demo
[ "$E2E_RC" = 0 ] || die "the shim exited with $E2E_RC"
grep -E 'Reverted|is down' "$W/shim-demo.log" | sed 's/^/    /'

step "Nothing is left: addresses, routes, rules, DNS, sockets and processes as before the start"
AFTER=$(e2e_dump)
if [ "$BEFORE" = "$AFTER" ]; then
	echo "    identical (ip -j addr/route/rule, resolvectl status, /run/wireguard, processes)"
else
	diff <(echo "$BEFORE") <(echo "$AFTER") | sed 's/^/    /'
	die "the namespace differs after the stop"
fi
show cns ip route show proto tund

step "The kill switch: the same profile with KillSwitch = yes in [Tund]"
e2e_profile demo "DNS = 192.0.2.1, corp.example" "" "KillSwitch = yes"
echo "    Without it, the server's own address 198.51.100.1 (the underlay, around the tunnel) answers:"
show cns ping -c 1 -W 1 198.51.100.1
e2e_shim_start demo
wait_for 20 e2e_ready demo || die "the VPN did not come up with its kill switch"
grep -E 'Kill switch' "$W/shim-demo.log" | tail -n 1 | sed 's/^/    /'
show ctl status demo
echo "    Through the tunnel, everything works:"
show cns ping -c 2 -i 0.2 203.0.113.1
echo "    Around it, nothing leaves (the table inet tund drops the packet):"
printf '%s$ %s%s\n' "$dim" "cns ping -c 1 -W 1 198.51.100.1" "$off"
if out=$(cns ping -c 1 -W 1 198.51.100.1 2>&1); then
	echo "$out" | sed 's/^/    /'
	die "a ping around the tunnel got through the kill switch"
fi
echo "$out" | sed 's/^/    /'
step "A crash keeps the switch: SIGKILL of tund-netshimd, and the cleanup systemd runs after a failure"
printf '%s$ %s%s\n' "$dim" "kill -9 <tund-netshimd>" "$off"
disown "${SHIM_PID[demo]}" 2>/dev/null # no "Killed" line from bash
cns sh -c 'kill -9 $(pgrep -x tund-netshimd)'
wait_for 5 bash -c "! kill -0 ${SHIM_PID[demo]} 2>/dev/null" || die "tund-netshimd survived SIGKILL"
SERVICE_RESULT=signal cns "$B/tund-netshimd" --config-dir "$W/etc" --cleanup demo 2>&1 | grep 'Kill switch' | sed 's/^/    /'
if cns ping -c 1 -W 1 198.51.100.1 >/dev/null 2>&1; then die "the kill switch let a ping through after a crash"; fi
echo "    the ping around the tunnel still fails: nothing leaks while the profile is down"
step "A stop on purpose lifts it (systemd's cleanup with SERVICE_RESULT=success)"
SERVICE_RESULT=success cns "$B/tund-netshimd" --config-dir "$W/etc" --cleanup demo 2>&1 | grep 'Kill switch' | sed 's/^/    /'
show cns ping -c 1 -W 1 198.51.100.1 || die "the underlay is still blocked after a stop"
step "Done. The namespaces are removed on exit."
