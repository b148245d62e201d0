#!/bin/sh
# usage: nspawn-down.sh NAME NSPAWN_PID
# Clean shutdown of a container started by nspawn-boot.sh (SIGTERM: nspawn asks the container's
# systemd to power off; a second SIGTERM terminates at once), then its cgroups go.
NAME=$1
NP=$2
if [ "${NP:-0}" -gt 1 ] 2>/dev/null && kill -0 "$NP" 2>/dev/null; then
	kill -TERM "$NP"
	i=0
	while [ $i -lt 200 ] && kill -0 "$NP" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
	if kill -0 "$NP" 2>/dev/null; then
		kill -TERM "$NP"
		sleep 1
		kill -KILL "$NP" 2>/dev/null
	fi
fi
for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
	[ -d "$h/tund-t-$NAME" ] && find "$h/tund-t-$NAME" -depth -type d -exec rmdir {} \; 2>/dev/null
done
true
