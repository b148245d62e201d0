#!/bin/bash
# The README's main job, `./quickstart demo` (make demo, test/demo.sh), as the suite's own test:
# it must end with its "nothing left" comparison identical and exit 0. (It once failed on every
# run because it swapped the namespace's resolv.conf after resolved had read it, and no test
# ran it.)
. "$(dirname "$0")/lib.sh"

out=$(bash "$TOP/test/demo.sh" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
check demo_exit_0 test "$rc" = 0
check demo_pings_through bash -c "printf '%s\n' \"\$1\" | grep -q '3 packets transmitted, 3 received'" _ "$out"
check demo_split_dns bash -c "printf '%s\n' \"\$1\" | grep -q '192.0.2.53      intranet.corp.example'" _ "$out"
check demo_nothing_left bash -c "printf '%s\n' \"\$1\" | grep -q 'identical (ip -j addr/route/rule'" _ "$out"
