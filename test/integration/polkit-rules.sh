#!/bin/bash
# The polkit rule of issue 15 item 8 (data/polkit-1/rules.d/60-tund.rules), checked without
# polkitd: run under node with a stand-in for polkitd's `polkit` object (polkit-rules.js), it
# grants start/stop/restart of tund@PROFILE.service to group tund-operators and returns nothing
# for every other unit, verb, action and group. Broken copies of the rule (unanchored unit
# pattern, no verb check, the wrong group, a syntax error, ES6) must make that check fail, so
# the check itself is tested. Also: sysusers.d creates the group, `make install` installs the
# rule 0644, the README and tundctl(8) name the group. The real polkitd is exercised in the
# system test (system-nspawn.sh). Needs node (nodejs): SKIP without it.
. "$(dirname "$0")/lib.sh"

RULES=$TOP/data/polkit-1/rules.d/60-tund.rules
JS=$TOP/test/integration/polkit-rules.js
W=$(mktemp -d /tmp/tund-t-polkit-XXXXXX) || exit 1
T_FILES+=("$W")

check polkit_rule_exists test -f "$RULES"
if command -v node >/dev/null 2>&1; then
	node "$JS" "$RULES"
	# mutant NAME SED_EXPRESSION: a broken copy; the check must fail on it.
	mutant() {
		local m="$W/$1.rules"
		sed -e "$2" "$RULES" >"$m"
		if cmp -s "$m" "$RULES"; then
			fail "polkit_rule_mutant_$1" "the sed expression changed nothing: update the mutant"
		elif node "$JS" "$m" >"$W/$1.out" 2>&1; then
			fail "polkit_rule_mutant_$1" "the check passed a broken rule: $(tr '\n' ' ' <"$W/$1.out")"
		else
			pass "polkit_rule_mutant_$1"
		fi
	}
	mutant unanchored 's|/^tund@|/tund@|'
	mutant unanchored_end 's|\\\.service\$/|\\.service/|'
	mutant any_verb 's/verb === "restart"/true/'
	mutant kill_verb 's/verb === "restart"/verb === "restart" || verb === "kill"/'
	mutant status_group 's/isInGroup("tund-operators")/isInGroup("tund")/'
	mutant any_action 's/action.id !== "org.freedesktop.systemd1.manage-units"/false/'
	mutant denies_instead 's/return polkit.Result.NOT_HANDLED;$/return polkit.Result.NO;/'
	mutant syntax 's/^});$/}/'
	mutant es6 's/var unit/let unit/'
	mutant shim_any_user 's/subject.user === "tund-netshim"/true/'
	mutant shim_any_resolve 's/action.id === "org.freedesktop.resolve1.revert"/action.id.indexOf("org.freedesktop.resolve1.") === 0/'
else
	fail polkit_rule_node "node not found: make deps installs nodejs (deps.txt)"
fi

check polkit_group_in_sysusers grep -qx 'g tund-operators -' "$TOP/data/sysusers.d/tund.conf"
check polkit_rule_documented bash -c "grep -q 'tund-operators' '$TOP/README.md' &&
	grep -q 'tund-operators' '$TOP/man/tundctl.8.scd' && grep -q '60-tund.rules' '$TOP/README.md'"
# make install puts it where polkitd reads packaged rules, readable by polkitd's user.
if make -s -C "$TOP" B="$B" DESTDIR="$W/inst" PREFIX=/usr install >"$W/install.log" 2>&1; then
	check polkit_rule_installed test "$(stat -c '%a %U:%G' "$W/inst/usr/share/polkit-1/rules.d/60-tund.rules")" = "644 root:root"
	check polkit_rule_installed_same cmp "$RULES" "$W/inst/usr/share/polkit-1/rules.d/60-tund.rules"
	check polkit_group_installed grep -qx 'g tund-operators -' "$W/inst/usr/lib/sysusers.d/tund.conf"
else
	fail polkit_rule_installed "make install: $(tail -n 5 "$W/install.log" | tr '\n' ' ')"
fi
exit 0
