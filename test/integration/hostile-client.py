#!/usr/bin/env python3
# robust-hostile.sh: hostile-client.py CONTROL_SOCKET MODE [ARG]: a control client that misbehaves in
# one way per MODE (slow-handshake, stall-header, stall-body, flood N) and prints what it saw.
import os, resource, select, socket, struct, sys, time

path, mode = sys.argv[1], sys.argv[2]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

def wait_eof(s, limit):
    """Seconds until the peer closed (reading and discarding its bytes), or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            try:
                if not s.recv(4096):
                    return time.monotonic() - t0
            except ConnectionResetError:
                return time.monotonic() - t0
    return None

if mode == "slow-handshake":
    # "tund ctl 1.0\n", one byte per second: 13 s if nobody cut it short.
    s, line, t0 = connect(), b"tund ctl 1.0\n", time.monotonic()
    for i in range(len(line)):
        try:
            s.send(line[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            break
        if wait_eof(s, 1.0) is not None:
            break
    else:
        print("completed the line: not cut"); sys.exit(1)
    print("closed after %.1f s, %d of %d bytes sent" % (time.monotonic() - t0, i + 1, len(line)))
elif mode in ("stall-header", "stall-body"):
    s = connect()
    s.sendall(b"tund ctl 1.0\n")
    t0 = time.monotonic()
    if mode == "stall-header":
        s.sendall(b"\x00\x10")                            # half a header
    else:
        s.sendall(struct.pack(">I", 1 << 20) + b"x" * 1000)  # 1 MiB announced, 1000 bytes sent
    dt = wait_eof(s, 30)
    print("closed after %.1f s" % dt if dt is not None else "still open after 30 s")
elif mode == "flood":
    # N connections at once, each says its handshake line and then stays (a patient watcher
    # would look the same); counts those the helper closed at once. Then waits for "release"
    # on stdin and closes them all.
    n = int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    socks, refused = [], 0
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            pass  # backlog full: counts as in flight
        except OSError:
            refused += 1; s.close(); continue
        socks.append(s)
    for s in socks:
        try:
            s.send(b"tund ctl 1.0\n")
        except OSError:
            pass
    time.sleep(2)
    closed = 0
    for s in socks:
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    closed += 1; break
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print("connections=%d held=%d closed=%d refused=%d" % (n, n - closed - refused, closed, refused),
          flush=True)
    sys.stdin.readline()
    for s in socks:
        s.close()
    print("released", flush=True)
