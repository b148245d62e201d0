#!/bin/bash
# The daemons under valgrind for one full session (start, traffic, status, watch, stop, idle
# exit): no invalid access, no definite leak, no use of uninitialised memory. tund-tunnel is
# not wrapped (the helper executes only the binary it verified); it runs under ASan in
# `make asan` instead.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-e2e.sh"

command -v valgrind >/dev/null || { fail valgrind "valgrind is not installed (make deps)"; exit 1; }
if ! e2e_setup vg; then fail setup "could not build the namespaces"; exit 1; fi
E2E_WRAP=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
	--errors-for-leak-kinds=definite --track-origins=yes --log-file="$W/vg-%p.log")
E2E_IDLE_EXIT=3 e2e_helper_start || { fail setup "helper"; exit 1; }
e2e_profile vg "DNS = 192.0.2.1, corp.example"
e2e_shim_start vg
if wait_for 60 e2e_ready vg; then pass vg_up; else fail vg_up "$(tail -5 "$W/shim-vg.log" | tr '\n' ' ')"; fi
check vg_ping cns ping -c 2 -W 5 203.0.113.1
check vg_status bash -c "ctl --timeout 20 status --json | grep -q '\"state\":\"running\"'"
check vg_peers ctl --timeout 20 peers
e2e_shim_stop vg
if [ "$E2E_RC" = 0 ]; then
	pass vg_shim_clean_exit
else
	fail vg_shim_clean_exit "exit $E2E_RC (99 = valgrind errors)"
fi
# the helper exits by itself once idle; valgrind then checks it too
if wait_for 60 bash -c "! kill -0 $HELPER_PID 2>/dev/null"; then pass vg_helper_idle_exit; else
	fail vg_helper_idle_exit "still running"
fi
wait "$HELPER_PID"
rc=$?
if [ "$rc" = 0 ]; then
	pass vg_helper_clean_exit
else
	fail vg_helper_clean_exit "exit $rc (99 = valgrind errors)"
fi
n=$(cat "$W"/vg-*.log 2>/dev/null | grep -c 'ERROR SUMMARY: [1-9]\|Invalid \(read\|write\)\|definitely lost: [1-9]\|uninitialised')
if [ "$n" = 0 ]; then
	pass vg_no_errors_in_logs
else
	fail vg_no_errors_in_logs "$n findings"
	cat "$W"/vg-*.log | head -60
fi
check vg_logs_written bash -c "ls $W/vg-*.log >/dev/null 2>&1"
