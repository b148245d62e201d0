#!/bin/bash
# tundctl check: a good profile (by name and by file, human and --json, never a key in the
# output) and each kind of bad profile: exit 5 and libprofile's FILE:LINE error.
. "$(dirname "$0")/lib.sh"

CTL="$B/tundctl"
[ -x "$CTL" ] || { fail setup "$CTL not built"; exit 1; }
W=$(mktemp -d /tmp/tund-t-check-XXXXXX) || exit 1
T_FILES+=("$W")
E="$W/etc"
mkdir -p "$E" && chmod 700 "$E"

PRIV=$(wg genkey)
PUB=$(wg genkey | wg pubkey)
PSK=$(wg genpsk)

cat >"$E/good.conf" <<CONF
# a wg-quick profile with tund's section
[Interface]
PrivateKey = $PRIV
Address = 192.0.2.2/32, 2001:db8:1::2/128
DNS = 192.0.2.53, corp.example
MTU = 1400

[Peer]
PublicKey = $PUB
PresharedKey = $PSK
Endpoint = vpn.example.com:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25

[Tund]
ExcludedRoutes = 198.51.100.0/24
RoutingDomains = ~internal.example
CONF
chmod 600 "$E/good.conf"

# --- good ---
"$CTL" --config-dir "$E" check good >"$W/out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -qF "$E/good.conf: valid: interface tund-good, 2 addresses, 1 peer, DNS full, full tunnel" "$W/out"; then
	pass check_good_by_name
else
	fail check_good_by_name "rc=$rc $(cat "$W/out")"
fi
"$CTL" check "$E/good.conf" >/dev/null 2>&1
check check_good_by_path test $? = 0
"$CTL" check --json "$E/good.conf" >"$W/g.json" 2>&1
# shellcheck disable=SC2016 # $names in the jq program are jq's
jcheck check_good_json_valid "$W/g.json" '.profile as $p | $p.peers[0] as $peer |
	.schema == 1 and .valid == true and
	$p.name == "good" and $p.interface == "tund-good" and
	$p.addresses == ["192.0.2.2/32", "2001:db8:1::2/128"] and
	$p.dns_servers == ["192.0.2.53"] and $p.search_domains == ["corp.example"] and
	$p.routing_domains == ["internal.example"] and $p.dns_mode == "full" and
	$p.mtu == 1400 and $p.table == "auto" and $p.full_tunnel == true and
	$p.excluded_routes == ["198.51.100.0/24"] and
	$peer.public_key == $pub and $peer.has_preshared_key == true and
	$peer.endpoint == "vpn.example.com:51820" and $peer.persistent_keepalive == 25 and
	$peer.allowed_ips == ["0.0.0.0/0", "::/0"]' --arg pub "$PUB"
# never a secret, in either output
cat "$W/out" "$W/g.json" >"$W/all"
"$CTL" --config-dir "$E" check good -h >>"$W/all" 2>&1
check check_no_private_key bash -c "! grep -qF -- '$PRIV' '$W/all'"
check check_no_preshared_key bash -c "! grep -qF -- '$PSK' '$W/all'"

# --- good: a kill switch with a LAN exception and bypasses beside the endpoint ---
cat >"$E/ks.conf" <<CONF
[Interface]
PrivateKey = $PRIV
Address = 10.8.0.2/32, fd00:8::2/128

[Peer]
PublicKey = $PUB
Endpoint = 203.0.113.5:51820
AllowedIPs = 0.0.0.0/0, ::/0

[Tund]
KillSwitch = yes
AllowLAN = yes
AllowedBypass = 198.51.100.0/24, 2001:db8:5::/48
AllowedBypass = 203.0.113.64/26
CONF
chmod 600 "$E/ks.conf"
"$CTL" --config-dir "$E" check ks >"$W/out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -qF "$E/ks.conf: valid: interface tund-ks, 2 addresses, 1 peer, DNS none, full tunnel" "$W/out"; then
	pass check_good_kill_switch
else
	fail check_good_kill_switch "rc=$rc $(cat "$W/out")"
fi
"$CTL" --config-dir "$E" --json check ks >"$W/ks.json" 2>&1
jcheck check_good_kill_switch_json "$W/ks.json" '.valid == true and .profile.name == "ks"'

# --- bad: NAME LINE EXPECTED-TEXT, then the file's lines (key material substituted) ---
bad() {
	local name=$1 line=$2 text=$3 rc
	shift 3
	printf '%s\n' "$@" | sed -e "s|@PRIV@|$PRIV|" -e "s|@PUB@|$PUB|" >"$E/$name.conf"
	chmod 600 "$E/$name.conf"
	"$CTL" --config-dir "$E" check "$name" >"$W/out" 2>"$W/err"
	rc=$?
	if [ "$rc" = 5 ] && grep -qF "tundctl: $E/$name.conf:$line: $text" "$W/err"; then
		pass "check_bad_$name"
	else
		fail "check_bad_$name" "rc=$rc $(cat "$W/err")"
	fi
	"$CTL" --config-dir "$E" --json check "$name" >"$W/b.json" 2>/dev/null
	# shellcheck disable=SC2016 # $names in the jq program are jq's
	jcheck "check_bad_${name}_json" "$W/b.json" '.valid == false and .line == ($line | tonumber) and
		.exit_code == 5 and (.error | startswith($file + ":" + $line + ": ")) and (has("profile") | not)' \
		--arg line "$line" --arg file "$E/$name.conf"
	if grep -qF -- "$PRIV" "$W/err" "$W/b.json"; then fail "check_bad_${name}_no_key" "private key printed"; fi
}
bad syntax 3 'syntax error' '[Interface]' 'PrivateKey = @PRIV@' 'Address 192.0.2.2/32'
bad unknownkey 3 'Colour: unknown key in this section' '[Interface]' 'PrivateKey = @PRIV@' 'Colour = blue'
bad badkey 2 'PrivateKey: not a valid WireGuard key' '[Interface]' 'PrivateKey = notakey'
bad postup 3 'PostUp: not supported' '[Interface]' 'PrivateKey = @PRIV@' 'PostUp = iptables -F'
bad saveconfig 2 'SaveConfig: not supported' '[Interface]' 'SaveConfig = true' 'PrivateKey = @PRIV@'
bad duplicate 4 'MTU: duplicate key (already set on line 3)' '[Interface]' 'PrivateKey = @PRIV@' 'MTU = 1400' 'MTU = 1300'
bad noprivkey 1 'PrivateKey: missing in [Interface]' '[Interface]' 'Address = 192.0.2.2/32'
bad section 3 'unknown section [Frobnicate]' '[Interface]' 'PrivateKey = @PRIV@' '[Frobnicate]'
bad address 3 'Address: "192.0.2.300/32" is not a valid' '[Interface]' 'PrivateKey = @PRIV@' 'Address = 192.0.2.300/32'
bad endpoint 5 'Endpoint: "vpn.example.com" is not HOST:PORT' '[Interface]' 'PrivateKey = @PRIV@' '[Peer]' 'PublicKey = @PUB@' 'Endpoint = vpn.example.com'
bad nopubkey 3 'PublicKey: missing in [Peer]' '[Interface]' 'PrivateKey = @PRIV@' '[Peer]' 'AllowedIPs = 10.0.0.0/8'
bad dnsmode 5 'DNSMode: "full" needs DNS servers' '[Interface]' 'PrivateKey = @PRIV@' '' '[Tund]' 'DNSMode = full'
bad mtu 3 'MTU: "100" is not a number between 576 and 65535' '[Interface]' 'PrivateKey = @PRIV@' 'MTU = 100'
# the kill switch's checks that need the whole file: the line of the key at fault
bad killswitch_table_off 6 'KillSwitch: cannot be used with Table = off (line 3): nothing would be routed into the tunnel' '[Interface]' 'PrivateKey = @PRIV@' 'Table = off' '' '[Tund]' 'KillSwitch = yes'
bad bypass_endpoint 9 'AllowedBypass: "203.0.113.0/24" covers the endpoint of peer 1: 203.0.113.5:51820 ([Peer] on line 3)' '[Interface]' 'PrivateKey = @PRIV@' '[Peer]' 'PublicKey = @PUB@' 'Endpoint = 203.0.113.5:51820' 'AllowedIPs = 0.0.0.0/0' '[Tund]' 'KillSwitch = yes' 'AllowedBypass = 203.0.113.0/24'
bad bypass_everything 5 'AllowedBypass: "::/0" would make the kill switch meaningless' '[Interface]' 'PrivateKey = @PRIV@' '[Tund]' 'KillSwitch = yes' 'AllowedBypass = ::/0'
bad allowlan_alone 4 'AllowLAN: has no effect without KillSwitch = yes' '[Interface]' 'PrivateKey = @PRIV@' '[Tund]' 'AllowLAN = yes'

# --- refused files: too open, wrong kind, missing ---
cp "$E/good.conf" "$E/open.conf"
chmod 644 "$E/open.conf"
"$CTL" --config-dir "$E" check open >/dev/null 2>"$W/err"
rc=$?
if [ "$rc" = 5 ] && grep -qF "$E/open.conf: permissions 0644 are too open" "$W/err"; then pass check_too_open_exit5; else fail check_too_open_exit5 "rc=$rc $(cat "$W/err")"; fi
"$CTL" --config-dir "$E" --json check open >"$W/b.json" 2>/dev/null
jcheck check_too_open_json_line_null "$W/b.json" '.valid == false and has("line") and .line == null and .exit_code == 5'
"$CTL" --config-dir "$E" check missing >/dev/null 2>"$W/err"
rc=$?
if [ "$rc" = 1 ] && grep -qF "$E/missing.conf: cannot open: No such file or directory" "$W/err"; then pass check_missing_exit1; else fail check_missing_exit1 "rc=$rc $(cat "$W/err")"; fi
"$CTL" check 'bad name' >/dev/null 2>&1
check check_bad_name_exit2 test $? = 2
# a non-root caller cannot read a root-only profile: permission denied, exit 4
chmod 755 "$W" "$E"
CTLN=$(trusted_copy "$CTL") || { fail check_unreadable_setup "cannot copy $CTL"; exit 1; }
setpriv --reuid nobody --regid nogroup --clear-groups "$CTLN" check "$E/good.conf" >/dev/null 2>"$W/err"
rc=$?
if [ "$rc" = 4 ] && grep -q 'Permission denied' "$W/err"; then pass check_unreadable_exit4; else fail check_unreadable_exit4 "rc=$rc $(cat "$W/err")"; fi
