#!/usr/bin/env python3
"""A tiny authoritative DNS responder for the end-to-end tests.

dns-responder.py ADDR ZONE ANSWER LOG [ZONE ANSWER]...: answers A queries for ZONE and names
under it with ANSWER, NXDOMAIN for other names, an empty NOERROR for other types; logs each
query name to LOG, so a test can prove the query reached this server (through the tunnel)."""
import socket
import struct
import sys

addr, zone, answer, log = sys.argv[1:5]
zones = [(zone, answer)] + list(zip(sys.argv[5::2], sys.argv[6::2]))
zones = [(z.lower().rstrip("."), a) for z, a in zones]
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.bind((addr, 53))


def parse_name(msg, off):
    labels = []
    while True:
        n = msg[off]
        if n == 0:
            return ".".join(labels), off + 1
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


while True:
    msg, peer = s.recvfrom(4096)
    if len(msg) < 12:
        continue
    qid, flags, qd = struct.unpack(">HHH", msg[:6])
    try:
        name, end = parse_name(msg, 12)
        qtype, qclass = struct.unpack(">HH", msg[end:end + 4])
    except (IndexError, struct.error):
        continue
    question = msg[12:end + 4]
    with open(log, "a") as f:
        f.write(f"{name.lower()} {qtype}\n")
    lname = name.lower().rstrip(".")
    match = [a for z, a in zones if lname == z or lname.endswith("." + z)]
    rcode = 0 if match else 3
    answers = b""
    if match and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(match[0])
    hdr = struct.pack(">HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1,
                      1 if answers else 0, 0, 0)
    s.sendto(hdr + question + answers, peer)
