#!/bin/bash
# run.sh <git-repo-path> [<log-file>] — the README's `./quickstart test` on a fresh minimal
# Debian 12 (a copy of $MINDEB_DIR/base, see make-base.sh), as root, in systemd-nspawn with
# all capabilities and /dev/net/tun, sharing the host network. The repository's committed HEAD is
# cloned into /root/tund. Exits with quickstart's status; prints the "N passed, N failed" lines
# and every FAIL: line. Per-test logs are kept in $MINDEB_DIR/logs-<timestamp>/.
# Everything it creates (tree copy, cgroups, processes) is removed on exit, also on failure.
set -uo pipefail
DIR=${MINDEB_DIR:-/var/tmp/tund-mindeb} # MINDEB_DIR: where trees, logs and runs go
BASE=$DIR/base
REPO=${1:?usage: run.sh <git-repo-path> [<log-file>]}
LOG=${2:-$DIR/last.log}
[ "$(id -u)" = 0 ] || { echo "run: run as root" >&2; exit 1; }
[ -e "$BASE/.complete" ] || { echo "run: no base tree: run $DIR/make-base.sh first" >&2; exit 1; }
REPO=$(cd "$REPO" && pwd) || exit 1
LOG=$(realpath -m "$LOG")
# MINDEB_CMD replaces the command run in /root/tund (for debugging; default the README's).
CMD=${MINDEB_CMD:-./quickstart test}

STAMP=$(date +%Y%m%d-%H%M%S)
TREE=""; NSPID=""; CG=""; KEEP=$DIR/logs-$STAMP
CGH="/sys/fs/cgroup/systemd /sys/fs/cgroup/unified"

cgroup_pids() {	# every pid left in our cgroups (both hierarchies, all levels)
	local h
	for h in $CGH; do
		[ -d "$h/$CG" ] && find "$h/$CG" -name cgroup.procs -exec cat {} + 2>/dev/null
	done | sort -un
}

cleanup() {
	local rc=$? p i h
	trap - EXIT INT TERM HUP
	if [ -n "$NSPID" ] && kill -0 "$NSPID" 2>/dev/null; then
		echo "run: stopping systemd-nspawn (pid $NSPID)" >&2
		kill -TERM "$NSPID" 2>/dev/null
		for i in $(seq 1 100); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$NSPID" 2>/dev/null && kill -KILL "$NSPID" 2>/dev/null
		wait "$NSPID" 2>/dev/null
	fi
	if [ -n "$CG" ]; then
		# Anything still in our cgroups descends from the nspawn we started.
		for i in 1 2 3 4 5; do
			p=$(cgroup_pids); [ -z "$p" ] && break
			echo "run: killing leftover pids in $CG:" $p >&2
			kill -KILL $p 2>/dev/null; sleep 0.5
		done
		for h in $CGH; do
			[ -d "$h/$CG" ] && find "$h/$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
			[ -d "$h/$CG" ] && echo "run: could not remove cgroup $h/$CG" >&2
		done
	fi
	if [ -n "$TREE" ] && [ -d "$TREE" ]; then
		for d in build build-asan; do
			if [ -d "$TREE/root/tund/$d/test-logs" ]; then
				mkdir -p "$KEEP/$d"
				cp -a "$TREE/root/tund/$d/test-logs" "$KEEP/$d/"
			fi
		done
		[ -d "$KEEP" ] && echo "run: per-test logs kept in $KEEP" >&2
		if findmnt -rn -o TARGET | grep -qF "$TREE"; then
			echo "run: mounts left under $TREE, not deleting it:" >&2
			findmnt -rn -o TARGET | grep -F "$TREE" >&2
		else
			rm -rf --one-file-system "$TREE"
		fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

TREE=$(mktemp -d "$DIR/run-XXXX")
NAME=mindeb-$(basename "$TREE")
CG=$NAME
echo "run: tree $TREE, log $LOG" >&2
cp -a "$BASE/." "$TREE/" || exit 1
rm -f "$TREE/.complete"
git clone -q --no-hardlinks "$REPO" "$TREE/root/tund" || exit 1
chown -R root:root "$TREE/root"
chmod 0700 "$TREE/root"
echo "run: cloned $REPO at $(git -C "$TREE/root/tund" rev-parse --short HEAD)" >&2

for h in $CGH; do mkdir -p "$h/$CG"; done
START=$(date +%s)
(
	for h in $CGH; do echo "$BASHPID" > "$h/$CG/cgroup.procs"; done
	export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
	# fd limit: nspawn starts the payload with soft 1024 (Debian's default) and the host's hard limit;
	# a fresh Debian 12 has hard 524288, but this host lacks CAP_SYS_RESOURCE (hard stays 20000).
	# Private mount namespace + tmpfs over /run/systemd: nspawn's scratch dirs never touch the host.
	exec unshare --mount --propagation private sh -c '
		mount -t tmpfs -o mode=755 mindeb-nspawn-run /run/systemd || exit 1
		exec systemd-nspawn --quiet --register=no --keep-unit --console=pipe \
			--machine="$1" --directory="$2" --capability=all --bind=/dev/net/tun \
			--as-pid2 /bin/bash -c "
				echo \"mindeb: ulimit -Sn \$(ulimit -Sn) -Hn \$(ulimit -Hn) (as started)\"
				cd /root/tund && ulimit -Sn 1024 &&
				echo \"mindeb: ulimit -Sn \$(ulimit -Sn) -Hn \$(ulimit -Hn); uid \$(id -u); /root \$(stat -c %a /root); HEAD \$(git rev-parse --short HEAD)\" &&
				$3"' sh "$NAME" "$TREE" "$CMD"
) >"$LOG" 2>&1 </dev/null &
NSPID=$!
wait "$NSPID"; RC=$?
NSPID=""
END=$(date +%s)

echo "run: $CMD exited $RC after $(( (END-START)/60 ))m$(( (END-START)%60 ))s (log: $LOG)"
grep -aE '^mindeb: ulimit' "$LOG"
grep -aE '^[0-9]+ passed, [0-9]+ failed' "$LOG" || echo "run: no 'N passed, N failed' line in the log"
grep -aE '^ *FAIL:' "$LOG"
exit "$RC"
