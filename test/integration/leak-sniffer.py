#!/usr/bin/env python3
"""leak-sniffer.py IFACE OUT PREFIX...: captures every frame on IFACE (AF_PACKET, no tcpdump
needed) until SIGTERM and appends one line to OUT for each IPv4/IPv6 packet whose source or
destination lies in one of the PREFIXes: traffic that should only cross IFACE inside the
tunnel's UDP, seen in clear. OUT stays empty when nothing leaked. Prints "listening" once the
socket is bound."""
import ipaddress
import signal
import socket
import sys

ETH_P_ALL = 0x0003


def main():
    iface, out = sys.argv[1], sys.argv[2]
    nets = [ipaddress.ip_network(p) for p in sys.argv[3:]]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening", flush=True)
    with open(out, "a") as f:
        while True:
            frame = s.recv(65535)
            ethertype = int.from_bytes(frame[12:14], "big")
            if ethertype == 0x0800 and len(frame) >= 34:
                src, dst = frame[26:30], frame[30:34]
            elif ethertype == 0x86DD and len(frame) >= 54:
                src, dst = frame[22:38], frame[38:54]
            else:
                continue
            a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
            if any(a in n or b in n for n in nets):
                f.write(f"{a} -> {b} ({len(frame)} bytes)\n")
                f.flush()


if __name__ == "__main__":
    main()
