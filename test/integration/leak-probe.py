#!/usr/bin/env python3
"""leak-probe.py KIND ADDR PORT [TIMEOUT]: one probe of the kill-switch leak tests, as an
ordinary process. Prints one line, "RESULT MS": what happened and how long it took.

KIND   tcp   connect(); RESULT connected, or refused (a reset: the far end, or a local reject)
       udp   connect() and send one datagram that is not WireGuard's; wait a moment for an ICMP
             error; RESULT sent (nothing came back), refused, ...
       dns   an A query for probe.corp.example over UDP; RESULT answer when any reply came
       dnstcp the same query over TCP (length-prefixed); port 53 or 853 (no TLS: only the
             connection matters); RESULT answer, or connected when the far end just closed
RESULT otherwise: eperm (dropped by a local firewall), unreachable, timeout, or error-ERRNO.
Always exits 0: the caller decides what the result means.

leak-probe.py batch ID=KIND,ADDR,PORT,TIMEOUT...: several probes at once (one thread each; one
process is much cheaper than many on a loaded machine); prints "ID RESULT MS" for each, in
the order given, once all are done.

leak-probe.py listen ADDR PORT...: the world's side, a TCP listener on each PORT that accepts
and closes every connection (so that a TCP probe that is not blocked connects, and one that
is refused at once was rejected by the client). Runs until killed."""
import errno
import selectors
import socket
import struct
import sys
import threading
import time

QUERY = (struct.pack("!HHHHHH", 0x7e57, 0x0100, 1, 0, 0, 0) +
         b"".join(bytes([len(p)]) + p for p in (b"probe", b"corp", b"example")) + b"\0" +
         struct.pack("!HH", 1, 1))
NAMES = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "refused",
    errno.EPERM: "eperm",
    errno.EACCES: "eperm",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.EADDRNOTAVAIL: "unreachable",
}


def probe(kind, addr, port, timeout):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    stream = kind in ("tcp", "dnstcp")
    s = socket.socket(family, socket.SOCK_STREAM if stream else socket.SOCK_DGRAM)
    s.settimeout(timeout)
    with s:
        s.connect((addr, port))
        if kind == "tcp":
            return "connected"
        if kind == "udp":
            s.send(b"tund-leak-probe\n")
            s.settimeout(min(timeout, 0.3))
            try:
                s.recv(512)
            except socket.timeout:
                pass
            return "sent"
        if kind == "dns":
            s.send(QUERY)
            s.recv(4096)
            return "answer"
        try:  # the world's listener closes at once: a reset here still means it got through
            s.sendall(struct.pack("!H", len(QUERY)) + QUERY)
            return "answer" if s.recv(4096) else "connected"
        except OSError:
            return "connected"


def listen(addr, ports):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ)
    print("listening", flush=True)
    while True:
        for key, _ in sel.select():
            conn, _ = key.fileobj.accept()
            conn.close()


def timed(kind, addr, port, timeout):
    t0 = time.monotonic()
    try:
        result = probe(kind, addr, port, timeout)
    except socket.timeout:
        result = "timeout"
    except OSError as e:
        result = NAMES.get(e.errno, f"error-{errno.errorcode.get(e.errno, e.errno)}")
    return f"{result} {int((time.monotonic() - t0) * 1000)}"


def batch(specs):
    results = {}

    def run(ident, kind, addr, port, timeout):
        results[ident] = timed(kind, addr, int(port), float(timeout))

    threads = []
    for spec in specs:
        ident, rest = spec.split("=", 1)
        kind, addr, port, timeout = rest.split(",")
        threads.append(threading.Thread(target=run, args=(ident, kind, addr, port, timeout)))
        threads[-1].start()
    for t in threads:
        t.join()
    for spec in specs:
        ident = spec.split("=", 1)[0]
        print(ident, results[ident])


def main():
    if sys.argv[1] == "listen":
        listen(sys.argv[2], [int(p) for p in sys.argv[3:]])
    elif sys.argv[1] == "batch":
        batch(sys.argv[2:])
    else:
        timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 1.5
        print(timed(sys.argv[1], sys.argv[2], int(sys.argv[3]), timeout))


if __name__ == "__main__":
    main()
