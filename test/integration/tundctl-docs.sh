#!/bin/bash
# Documentation and shell pieces of issue 7: every man page builds with scdoc (and names what
# the code has: every verb, option, exit code, profile key), the bash completion completes
# commands, options and profile names, the NetworkManager hook is shellcheck-clean.
. "$(dirname "$0")/lib.sh"

MAN="$TOP/man"
W=$(mktemp -d /tmp/tund-t-docs-XXXXXX) || exit 1
T_FILES+=("$W")

# --- scdoc ---
for page in tundctl.8 tund.conf.5 tund-helperd.8 tund-netshimd.8 tund-tunnel.8; do
	src="$MAN/$page.scd"
	if [ ! -f "$src" ]; then
		fail "man_$page" "$src missing"
		continue
	fi
	if scdoc <"$src" >"$W/$page" 2>"$W/err" && [ -s "$W/$page" ]; then
		pass "man_$page"
	else
		fail "man_$page" "$(cat "$W/err")"
	fi
done

# --- the pages say what the code does ---
T8="$MAN/tundctl.8.scd"
for v in status peers watch up down rebind check profiles doctor version; do
	check "man_tundctl_verb_$v" grep -q "^\*$v\*" "$T8"
	check "help_lists_verb_$v" grep -q "^  $v" <("$B/tundctl" --help)
done
for o in socket config-dir timeout json no-color no-block all count; do
	check "man_tundctl_option_$o" grep -q -- "--$o" "$T8"
done
for code in 0 1 2 3 4 5; do
	check "man_tundctl_exit_$code" grep -q "^\*$code\*$" "$T8"
done
check man_tundctl_schema grep -q '"schema": 1' "$T8"
# every key of libprofile's key table, and the refused ones
keys=$(sed -n 's/^ *{ PROFILE_SECTION_[A-Z]*, "\([A-Za-z]*\)".*/\1/p' "$TOP/libprofile/profile-keys.c")
[ -n "$keys" ] || fail man_conf_keys "no keys found in libprofile/profile-keys.c"
for k in $keys PreUp PostUp PreDown PostDown SaveConfig; do
	check "man_conf_key_$k" grep -q "\*$k\*" "$MAN/tund.conf.5.scd"
done
for o in $("$B/tund-helperd" --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
	check "man_helperd_option_$o" grep -q -- "$o" "$MAN/tund-helperd.8.scd"
done
for o in $("$B/tund-netshimd" --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
	check "man_netshimd_option_$o" grep -q -- "$o" "$MAN/tund-netshimd.8.scd"
done
for o in $("$B/tund-tunnel" --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
	check "man_tunnel_option_$o" grep -q -- "$o" "$MAN/tund-tunnel.8.scd"
done

# --- bash completion ---
COMP="$TOP/tools/tundctl/tundctl.bash-completion"
check completion_syntax bash -n "$COMP"
command -v shellcheck >/dev/null && check completion_shellcheck shellcheck -s bash "$COMP"
mkdir -p "$W/etc"
: >"$W/etc/work.conf"
: >"$W/etc/home.conf"
: >"$W/etc/notes.txt"
# complete WORDS...: the completions of the last word
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _tundctl; [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$COMP" "$@"
}
expect() { # NAME EXPECTED WORDS...
	local name=$1 want=$2 got
	shift 2
	got=$(complete_words "$@")
	if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "got '$got', want '$want'"; fi
}
expect completion_verbs "check doctor down peers profiles rebind status up version watch " tundctl ""
expect completion_verb_prefix "peers profiles " tundctl p
expect completion_profiles "home work " tundctl --config-dir "$W/etc" status ""
expect completion_profile_prefix "work " tundctl --config-dir "$W/etc" up w
expect completion_one_profile_only "" tundctl --config-dir "$W/etc" up work ""
expect completion_rebind_all "--all " tundctl rebind --a
expect completion_watch_count "--config-dir --count " tundctl watch --co
expect completion_globals "--json " tundctl --js
