// usage: node polkit-rules.js RULES_FILE
// Runs a polkit .rules file the way polkitd does (its init.js: polkit.addRule, polkit.Result,
// rules called in order until one returns a result) against a table of actions and subjects,
// and prints one "PASS: name" / "FAIL: name: why" line per group of cases (test/run format).
// Exits 1 if anything failed. The subjects' groups are what polkitd computes from the user's
// group list; action.lookup() returns the details systemd sends for manage-units: "unit" and
// "verb" (systemd 252: start, stop, restart, reload, try-restart, reload-or-restart, kill, ...).
"use strict";
const fs = require("fs");
const vm = require("vm");

const file = process.argv[2];
let failed = 0;
const pass = (n) => console.log(`PASS: ${n}`);
const fail = (n, why) => { failed++; console.log(`FAIL: ${n}: ${why}`); };

function makePolkit() {
	return {
		_ruleFuncs: [],
		_adminRuleFuncs: [],
		Result: {
			NO: "no", YES: "yes", AUTH_SELF: "auth_self", AUTH_SELF_KEEP: "auth_self_keep",
			AUTH_ADMIN: "auth_admin", AUTH_ADMIN_KEEP: "auth_admin_keep", NOT_HANDLED: null,
		},
		addRule(f) { this._ruleFuncs.push(f); },
		addAdminRule(f) { this._adminRuleFuncs.push(f); },
		log() {},
		spawn() { throw new Error("the rule runs a program (polkit.spawn)"); },
		_runRules(action, subject) {
			for (const f of this._ruleFuncs) {
				const r = f(action, subject);
				if (r)
					return r;
			}
			return null;
		},
	};
}

function action(id, details) {
	const a = { id };
	a.lookup = (k) => (Object.prototype.hasOwnProperty.call(details, k) ? details[k] : undefined);
	return a;
}

function subject(user, groups) {
	return {
		user, groups, pid: 4242, session: "", system_unit: "", local: false, active: false,
		isInGroup(g) { return groups.indexOf(g) >= 0; },
		isInNetGroup() { return false; },
	};
}

let src;
try {
	src = fs.readFileSync(file, "utf8");
} catch (e) {
	fail("polkit_rule_readable", e.message);
	process.exit(1);
}

// polkitd's engine (duktape) is ECMAScript 5 with few additions: no let, arrow functions,
// template strings, classes or spread. A crude lexical check (comments removed).
const code = src.replace(/\/\/[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "");
const es6 = [/\blet\b/, /\bconst\b/, /=>/, /`/, /\bclass\b/, /\.\.\./].filter((re) => re.test(code));
if (es6.length === 0) pass("polkit_rule_es5"); else fail("polkit_rule_es5", `uses ${es6.join(" ")}`);

const polkit = makePolkit();
try {
	vm.runInNewContext(src, { polkit }, { filename: file, timeout: 1000 });
	pass("polkit_rule_parses");
} catch (e) {
	fail("polkit_rule_parses", String(e));
	process.exit(1);
}
// One rule for the operators, one for the network shims' DNS settings.
if (polkit._ruleFuncs.length === 2 && polkit._adminRuleFuncs.length === 0)
	pass("polkit_rule_adds_two_rules");
else
	fail("polkit_rule_adds_two_rules",
	     `${polkit._ruleFuncs.length} rules, ${polkit._adminRuleFuncs.length} admin rules`);

const MU = "org.freedesktop.systemd1.manage-units";
const operator = subject("alice", ["alice", "tund-operators"]);
const both = subject("dave", ["dave", "tund", "tund-operators"]);
const statusOnly = subject("bob", ["bob", "tund"]);
const nobody = subject("carol", ["carol", "users", "sudo"]);

// check NAME [ [ACTION, SUBJECT, EXPECTED], ... ]: every case gives EXPECTED, else the first
// that does not is named.
function check(name, cases) {
	for (const [a, s, want] of cases) {
		let got;
		try {
			got = polkit._runRules(a, s);
		} catch (e) {
			got = `exception ${e}`;
		}
		if (got === undefined)
			got = null;
		if (got !== want) {
			fail(name, `${a.id} unit=${JSON.stringify(a.lookup("unit"))} verb=${JSON.stringify(a.lookup("verb"))} ` +
			     `as ${s.user} (${s.groups.join(",")}): ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
			return;
		}
	}
	pass(name);
}

const units = ["tund@demo.service", "tund@work.service", "tund@A-b_c.1.service", "tund@x.service"];
const verbs = ["start", "stop", "restart"];
const grants = [];
for (const s of [operator, both])
	for (const u of units)
		for (const v of verbs)
			grants.push([action(MU, { unit: u, verb: v }), s, "yes"]);
check("polkit_rule_operators_start_stop_restart_tund_units", grants);

const otherUnits = [
	"tund-helper.service", "tund-helper-control.socket", "tund-helper-shim.socket",
	"tund@.service", "tund@demo.socket", "tund@demo.timer", "tund@demo.service.d",
	"xtund@demo.service", "tund@demo.serviceX", "tund@de mo.service", "tund@demo/x.service",
	"tund@demo.service\n", "\ntund@demo.service", "tund@demo.service\nssh.service",
	"tund@de\\x2dmo.service", "tund@demo@x.service", "TUND@demo.service",
	"ssh.service", "dbus.service", "systemd-journald.service", "multi-user.target", "",
];
check("polkit_rule_denies_other_units",
      [].concat(...otherUnits.map((u) => verbs.map((v) => [action(MU, { unit: u, verb: v }), operator, null]))));
check("polkit_rule_denies_missing_details", [
	[action(MU, {}), operator, null],
	[action(MU, { verb: "start" }), operator, null],
	[action(MU, { unit: "tund@demo.service" }), operator, null],
	[action(MU, { unit: ["tund@demo.service"], verb: "start" }), operator, null],
]);

const otherVerbs = ["kill", "reload", "try-restart", "reload-or-restart", "reload-or-try-restart",
	"freeze", "thaw", "clean", "", "START", "start ", "stop\n"];
check("polkit_rule_denies_other_verbs",
      otherVerbs.map((v) => [action(MU, { unit: "tund@demo.service", verb: v }), operator, null]));

const otherActions = ["org.freedesktop.systemd1.manage-unit-files", "org.freedesktop.systemd1.reload-daemon",
	"org.freedesktop.systemd1.set-environment", "org.freedesktop.login1.reboot",
	"org.freedesktop.resolve1.set-dns-servers", "org.freedesktop.NetworkManager.network-control",
	"org.freedesktop.systemd1.manage-units.x", "xorg.freedesktop.systemd1.manage-units"];
check("polkit_rule_denies_other_actions",
      otherActions.map((id) => [action(id, { unit: "tund@demo.service", verb: "start" }), operator, null]));

const notOperators = [];
for (const s of [statusOnly, nobody, subject("root", ["root"]), subject("tund", ["tund"]),
		  subject("op", ["tund-operators2"]), subject("op", ["xtund-operators"])])
	for (const v of verbs)
		notOperators.push([action(MU, { unit: "tund@demo.service", verb: v }), s, null]);
check("polkit_rule_denies_non_operators", notOperators);

// The network shims' user may change and revert a link's DNS settings in systemd-resolved,
// and nothing else; nobody else gets those actions from this file.
const R = "org.freedesktop.resolve1.";
const shimUser = subject("tund-netshim", ["tund-engine"]);
const shimActions = ["set-dns-servers", "set-domains", "set-default-route", "revert"];
check("polkit_rule_shim_sets_link_dns",
      shimActions.map((a) => [action(R + a, {}), shimUser, "yes"]));
const notShim = [];
for (const s of [operator, statusOnly, nobody, subject("root", ["root"]),
		  subject("tund-engine", ["tund-engine"]), subject("tund-netshim2", ["tund-engine"]),
		  subject("xtund-netshim", ["tund-netshim"])])
	for (const a of shimActions)
		notShim.push([action(R + a, {}), s, null]);
check("polkit_rule_link_dns_shim_only", notShim);
const otherResolve = ["set-llmnr", "set-mdns", "set-dns-over-tls", "set-dnssec",
	"set-dnssec-negative-trust-anchors", "register-service", "unregister-service",
	"set-dns-servers.x", "revert2"].map((a) => R + a).concat([MU,
	"org.freedesktop.systemd1.manage-unit-files", "org.freedesktop.NetworkManager.network-control",
	"xorg.freedesktop.resolve1.revert", ""]);
check("polkit_rule_shim_nothing_else",
      otherResolve.map((id) => [action(id, { unit: "tund@demo.service", verb: "start" }), shimUser, null]));

process.exit(failed ? 1 : 0);
