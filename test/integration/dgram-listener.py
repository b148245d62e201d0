#!/usr/bin/env python3
"""Receive datagrams on a Unix socket and append each to a file, a line per datagram.

Usage: dgram-listener.py [--join-fields] [--timestamp] SOCKET OUT

Stands in for the receiving end of sd_notify (NOTIFY_SOCKET: --join-fields joins a message's
newline-separated fields with '|') and of syslog (/dev/log: --timestamp puts the time of
arrival, seconds since the epoch to the microsecond, and a space before each line).
"""
import argparse
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--join-fields", action="store_true")
    ap.add_argument("--timestamp", action="store_true")
    ap.add_argument("socket")
    ap.add_argument("out")
    args = ap.parse_args()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(args.socket)
    with open(args.out, "a") as f:
        while True:
            line = s.recv(65536).decode(errors="replace")
            if args.join_fields:
                line = "|".join(line.strip().split("\n"))
            if args.timestamp:
                line = "%.6f %s" % (time.time(), line)
            f.write(line + "\n")
            f.flush()


if __name__ == "__main__":
    main()
