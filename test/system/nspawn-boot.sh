#!/bin/sh
# usage: nspawn-boot.sh NAME ROOTDIR [systemd-nspawn options...]
# Boots ROOTDIR with systemd as PID 1 in systemd-nspawn, in the foreground: this script's pid
# becomes systemd-nspawn's, and the container's systemd is its only child. Works on a host
# without systemd as PID 1 (no machined, no unit of our own):
#  - --keep-unit keeps nspawn in its own cgroup, where it creates payload/ and supervisor/:
#    every container gets a parent cgroup of its own (tund-t-NAME, removed by nspawn-down.sh);
#  - a private mount namespace with a tmpfs on /run/systemd, so nspawn's scratch directories
#    never touch the host's /run;
#  - options before --boot.
set -e
NAME=$1
ROOT=$2
shift 2
for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
	[ -d "$h" ] || continue
	mkdir -p "$h/tund-t-$NAME"
	echo $$ >"$h/tund-t-$NAME/cgroup.procs"
done
exec unshare --mount --propagation private sh -c '
	NAME=$1; ROOT=$2; shift 2
	mount -t tmpfs -o mode=755 tund-t-nspawn-run /run/systemd
	exec systemd-nspawn --quiet --register=no --keep-unit --console=pipe \
		--machine="$NAME" --directory="$ROOT" "$@" --boot' sh "$NAME" "$ROOT" "$@"
