#!/usr/bin/env python3
# bench-recovery.sh's probe: recovery-probe.py echo ADDR PORT CLIENT (in the server) or
# recovery-probe.py send HOST PORT LOG INTERVAL (in the client); see below.
import select, socket, struct, sys, time
if sys.argv[1] == "echo":  # echo ADDR PORT CLIENT: answers datagrams from CLIENT only
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], int(sys.argv[3])))
    while True:
        d, a = s.recvfrom(64)
        if a[0] == sys.argv[4]:
            s.sendto(d, a)
# send HOST PORT LOG INTERVAL: a datagram with its send time every INTERVAL s; each answer is a
# line "send_ns recv_ns" in LOG (CLOCK_REALTIME, as date +%s%N)
host, port, interval = sys.argv[2], int(sys.argv[3]), float(sys.argv[5])
log = open(sys.argv[4], "a", buffering=1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
nxt = time.monotonic()
while True:
    now = time.monotonic()
    if now >= nxt:
        try:
            s.sendto(struct.pack("!Q", time.time_ns()), (host, port))
        except OSError:
            pass  # no route yet, the tunnel's engine gone: the next one
        nxt = max(nxt + interval, now)
    r, _, _ = select.select([s], [], [], max(0.0, nxt - time.monotonic()))
    if r:
        try:
            d = s.recv(64)
        except OSError:
            continue
        if len(d) == 8:
            log.write("%d %d\n" % (struct.unpack("!Q", d)[0], time.time_ns()))
