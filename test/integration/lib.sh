# Shared shell helpers for the root integration tests. Source it; it sets a
# trap that tears down every namespace, process and file a test registered,
# also when the test fails.
#   ns_add NAME          create netns tund-t<NAME>-<pid>, echo its name
#   bg_start CMD...      run CMD in the background, remember its pid for cleanup
#   pass NAME / fail NAME WHY / skip NAME WHY / check NAME CMD...
#   jcheck NAME FILE JQ-EXPR [JQ-OPTION...]
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${B:-build}
case "$B" in /*) ;; *) B="$TOP/$B" ;; esac
T_NETNS=()
T_PIDS=()
T_FILES=()
T_CLEANUP=()

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: ${2:-}"; }
skip() { echo "SKIP: $1: ${2:-}"; }
# check NAME CMD...: PASS if CMD succeeds, else FAIL with its output.
check() {
	local _name=$1 _out
	shift
	if _out=$("$@" 2>&1); then pass "$_name"; else fail "$_name" "$(echo "$_out" | tail -n 5 | tr '\n' ' ')"; fi
}
# jcheck NAME FILE JQ-EXPR [JQ-OPTION...]: PASS if the jq expression over the JSON in FILE is
# true (jq -e; options such as --arg NAME VALUE, --argjson NAME JSON or -s come after it).
jcheck() {
	local _name=$1 _file=$2 _expr=$3 _out
	shift 3
	if _out=$(jq -e "$@" "$_expr" "$_file" 2>&1); then
		pass "$_name"
	else
		fail "$_name" "$(printf '%s gives %s for %s' "$_expr" "${_out:-nothing}" "$(head -c 600 "$_file")" |
			tr -s '\n\t' '  ')"
	fi
}

ns_add() {
	local n="tund-t$1-$$"
	ip netns add "$n" || return 1
	T_NETNS+=("$n")
	ip -n "$n" link set lo up
	echo "$n"
}

bg_start() {
	"$@" &
	T_PIDS+=($!)
}

on_exit_do() { T_CLEANUP+=("$*"); }

t_cleanup() {
	local p n f i
	for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${T_CLEANUP[$i]}" 2>/dev/null || true; done
	for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${T_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# ns_add usually runs in $(...), a subshell whose T_NETNS additions are lost: sweep by
	# name ($$ is the test's pid in subshells too).
	for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -- "^tund-t.*-$$\$"); do
		T_NETNS+=("$n")
	done
	for n in "${T_NETNS[@]}"; do
		# end anything still running inside the namespace we created
		for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$n" 2>/dev/null
	done
	for f in "${T_FILES[@]}"; do rm -rf "$f"; done
	rm -rf "/run/tund-test-bin-$$" # trusted_copy, usually called in $(...)
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds.
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 20; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}

# notify_listen PATH OUT: receive sd_notify datagrams on PATH, append each to OUT (one message
# per line, fields joined by '|'). Stands in for systemd's NOTIFY_SOCKET.
notify_listen() {
	bg_start python3 "$TOP/test/integration/dgram-listener.py" --join-fields "$1" "$2"
	wait_for 5 test -S "$1"
}

# ns_dump NS: the namespace's addresses, routes and rules as JSON, for before/after diffs.
ns_dump() {
	local n=$1
	ip -n "$n" -j addr show | jq -cS 'map(del(.ifindex, .txqlen, .operstate, .link_type, .flags,
		.group, .qdisc) | if has("addr_info") then
		.addr_info |= map(del(.valid_life_time, .preferred_life_time)) else . end)'
	ip -n "$n" -j -4 route show table all
	ip -n "$n" -j -6 route show table all
	ip -n "$n" -j -4 rule show
	ip -n "$n" -j -6 rule show
}

# The head of the tests that run tund-helperd with the fake tunnel: H (helper), C (test client),
# F (fake tunnel) and any further programs given must be built; R=/run/tund-test-$$ holds the
# fake as $R/libexec/tund-tunnel (a root-owned 0755 tree under /run passes the helper's
# verification; /tmp, 1777, is refused even though sticky) and $R/sock for the sockets; NS is a
# new namespace named after SUFFIX; LOG=$R/helper.log. Ends the test when something is missing.
helper_test_setup() { # NAME SUFFIX [PROGRAM...]
	local name=$1 suffix=$2 f
	shift 2
	H=$B/tund-helperd C=$B/test/helpers/helperd-client F=$B/test/helpers/helperd-fake-tunnel
	for f in "$H" "$C" "$F" "$@"; do
		[ -x "$f" ] || { fail "$name-setup" "$f not built"; exit 1; }
	done
	R=/run/tund-test-$$
	T_FILES+=("$R")
	mkdir -m 0755 "$R" "$R/libexec" "$R/sock" && install -m 0755 "$F" "$R/libexec/tund-tunnel" ||
		{ fail "$name-setup" "cannot install the fake tunnel under $R"; exit 1; }
	NS=$(ns_add "$suffix") || { fail "$name-setup" "cannot create a namespace"; exit 1; }
	LOG=$R/helper.log
}

# trusted_copy FILE: a copy of FILE on a path tund-helperd's verifier accepts (root-owned, no
# group/other-writable directory up to /), whatever the checkout's path (a clone under /tmp
# is not); echoes the copy's path. Removed at exit. Also the way to run a program or script as
# another user: the checkout may be in a directory only root can enter (/root on Debian; test/run
# runs every test from such a view).
trusted_copy() {
	local d="/run/tund-test-bin-$$"
	[ -d "$d" ] || { mkdir -m 0755 "$d" && chown root:root "$d"; } || return 1
	T_FILES+=("$d")
	install -m 0755 -o root -g root "$1" "$d/$(basename "$1")" && echo "$d/$(basename "$1")"
}
