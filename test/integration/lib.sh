# Shared shell helpers for the root integration tests. Source it; it sets a
# trap that tears down every namespace, process and file a test registered,
# also when the test fails.
#   ns_add NAME          create netns tund-t<NAME>-<pid>, echo its name
#   bg_start CMD...      run CMD in the background, remember its pid for cleanup
#   pass NAME / fail NAME WHY / skip NAME WHY / check NAME CMD...
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
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -n 5 | tr '\n' ' ')"; fi
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
	for n in "${T_NETNS[@]}"; do
		# end anything still running inside the namespace we created
		for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$n" 2>/dev/null
	done
	for f in "${T_FILES[@]}"; do rm -rf "$f"; done
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
