#!/usr/bin/env python3
"""Sends hand-made bytes to a tund socket and reports what came back, for bad-input tests.

rawclient.py SOCKET CASE: prints "EOF" if the peer closed the connection, "REPLY <hex> <text>" for
the first frame it answered with, or "CONNECT-ERROR <errno name>"."""
import errno
import os
import socket
import struct
import sys


def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def vint(num, v):
    return varint(num << 3) + varint(v)


def rpc(msg_id, fds=0):
    return field(1, vint(1, msg_id) + (vint(3, fds) if fds else b""))


def frame(body):
    return struct.pack(">I", len(body)) + body


HS = b"tund ctl 1.0\n"
PING = rpc(1) + field(10, b"")
CASES = {
    "wrong-preamble": b"GET / HTTP/1.0\r\n\r\n",
    "wrong-role": b"tund shim 1.0\n" + frame(PING),
    "no-common-version": b"tund ctl 9.0\n",
    "long-line": b"tund ctl " + b"1" * 400 + b"\n",
    "oversize": HS + struct.pack(">I", 0x7FFFFFFF),
    "zero-frame": HS + struct.pack(">I", 0),
    "garbage": HS + frame(b"\xff\xff\xff\xff\xff\xff"),
    "no-rpc": HS + frame(field(10, b"")),
    "fd-count": HS,  # the frame goes with an fd it does not announce
    "unknown-type": HS + frame(rpc(5) + field(99, b"\x08\x01")),
    "ping": HS + frame(PING),
    "stop": HS + frame(rpc(7) + field(15, field(1, b"nosuch"))),
}

path, case = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(path)
except OSError as e:
    print("CONNECT-ERROR", errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
try:
    s.sendall(CASES[case])
except (BrokenPipeError, ConnectionResetError):
    print("EOF")  # refused before we finished writing
    sys.exit(0)
if case == "fd-count":
    r, w = os.pipe()
    try:
        socket.send_fds(s, [frame(PING)], [r])
    except OSError as e:  # the receiver refuses fds (SO_PASSRIGHTS, Linux 6.16+)
        print("SEND-ERROR", errno.errorcode.get(e.errno, e.errno))
        sys.exit(0)
buf = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            print("EOF")
            break
        buf += d
        nl = buf.find(b"\n")
        if nl >= 0 and len(buf) >= nl + 5:
            n = struct.unpack(">I", buf[nl + 1:nl + 5])[0]
            if len(buf) >= nl + 5 + n:
                body = buf[nl + 5:nl + 5 + n]
                text = "".join(chr(c) if 32 <= c < 127 else "." for c in body)
                print("REPLY", body.hex(), text)
                break
except socket.timeout:
    print("TIMEOUT")
except ConnectionResetError:
    print("EOF")  # closed with our bytes unread: a reset instead of a FIN
