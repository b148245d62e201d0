#!/usr/bin/env python3
# bench/run: ttfp-phases.py MONITOR T0_NS TTFP_MS: the phases of a tunnel start (TUN created,
# engine running, link up, routes applied, first ping reply) from `ip -ts monitor link route`,
# in ms since T0_NS (date +%s%N), as result lines (JSON) for the raw file.
import datetime, json, re, sys
t0 = int(sys.argv[2]) / 1e6
marks = {}
for line in open(sys.argv[1]):
    m = re.match(r"\[(\S+)\]\s*(.*)", line)
    if not m or "tund-bn" not in m.group(2):
        continue
    t = datetime.datetime.fromisoformat(m.group(1))  # local time, as ip -ts prints it
    ms = t.timestamp() * 1000 - t0
    rest = m.group(2)
    if "tund-bn:" in rest:
        marks.setdefault("TUN created", ms)
        if "mtu 1420" in rest:
            marks.setdefault("engine running (MTU set)", ms)
        if ",UP," in rest:
            marks.setdefault("link up", ms)
    elif "proto tund" in rest:
        marks.setdefault("routes applied", ms)
marks["first ping reply"] = float(sys.argv[3])
for k, v in sorted(marks.items(), key=lambda kv: kv[1]):
    print(json.dumps({"bench": "ttfp-phases", "variant": k, "round": 0, "value": round(v, 1), "unit": "ms"}))
