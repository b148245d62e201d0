#!/bin/bash
# The Debian package and the system test under a real systemd (PID 1 in systemd-nspawn):
# see test/system/system-test.sh. Fails (never skips) when debootstrap or systemd-nspawn is
# missing. About 1 min on a cold cache (debootstrap), well under on a warm one.
. "$(dirname "$0")/lib.sh"
. "$TOP/test/system/system-test.sh"
exit 0
