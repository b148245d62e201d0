#!/bin/bash
# test/deps.sh (make deps, the first step of ./quickstart) on a machine that lacks packages:
# one progress line and one result line whatever apt-get prints, apt-get's output in the log it
# names, and on failure the end of that log and its name. apt-get and dpkg-query are stand-ins
# on PATH (nothing is installed); every package counts as missing.
. "$(dirname "$0")/lib.sh"

W=$(mktemp -d /tmp/tund-t-deps-XXXXXX) || exit 1
T_FILES+=("$W")
mkdir "$W/bin"
cat >"$W/bin/dpkg-query" <<'SH'
#!/bin/sh
exit 1
SH
cat >"$W/bin/apt-get" <<'SH'
#!/bin/sh
for i in $(seq 200); do echo "apt noise $i: $*"; done
[ "$1" = install ] && [ -n "${FAKE_APT_FAIL:-}" ] && { echo "E: Unable to locate package $FAKE_APT_FAIL" >&2; exit 100; }
exit 0
SH
chmod 0755 "$W/bin/dpkg-query" "$W/bin/apt-get"
printf '# a comment\nfoo\nbar  # two\n\n' >"$W/deps.txt"

out=$(PATH="$W/bin:$PATH" TUND_DEPS_LOG="$W/apt.log" sh "$TOP/test/deps.sh" "$W/deps.txt" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
check deps_quiet_success test "$rc" = 0
check deps_quiet_two_lines test "$(printf '%s\n' "$out" | wc -l)" = 2
check deps_quiet_names_log bash -c "printf '%s\n' \"\$1\" | head -n 1 | grep -q 'installing 2 missing package(s) with apt-get (log: $W/apt.log)'" _ "$out"
check deps_quiet_log_has_apt grep -q 'apt noise 200: install -y --no-install-recommends foo bar' "$W/apt.log"

out=$(PATH="$W/bin:$PATH" TUND_DEPS_LOG="$W/apt2.log" FAKE_APT_FAIL=bar sh "$TOP/test/deps.sh" "$W/deps.txt" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
check deps_failure_exit test "$rc" != 0
check deps_failure_says_why bash -c "printf '%s\n' \"\$1\" | grep -q 'E: Unable to locate package bar' &&
	printf '%s\n' \"\$1\" | grep -q 'the end of its log ($W/apt2.log)'" _ "$out"
check deps_failure_short test "$(printf '%s\n' "$out" | wc -l)" -le 20
