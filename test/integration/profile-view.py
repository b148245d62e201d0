#!/usr/bin/env python3
# lib-profiles.sh: pv_snap SNAP OUT PROBES NAME:IFNAME:SLOT...: one view file per profile (and
# host.view, EMPTY.view) in OUT, from the snapshot pv_snap took in the client namespace.
import json, os, re, sys

snap, out, probes = sys.argv[1], sys.argv[2], sys.argv[3].split()
profs = []
for a in sys.argv[4:]:
    name, ifname, slot = a.split(":")
    profs.append((name, ifname, int(slot) if slot else None))

sec, cur = {}, None
for line in open(snap, errors="replace"):
    line = line.rstrip("\n")
    if line.startswith("### "):
        cur = line[4:].strip()
        sec[cur] = []
    elif cur:
        sec[cur].append(line)

def js(name, i=0):
    """The i-th JSON array of a section (ip -batch prints one a line)."""
    lines = [l for l in sec.get(name, []) if l.strip()]
    if i >= len(lines):
        return [{"missing": "%s[%d]" % (name, i)}]
    try:
        return json.loads(lines[i])
    except ValueError:
        return [{"unparsed": lines[i]}]

# The kernel's own IPv6 link-local address of a TUN link is random (addr_gen_mode random for
# links without a hardware address): not tund's doing, and new with every link.
def ll(a):
    return "fe80::(link-local)" if str(a).startswith("fe80:") and "/" not in str(a) else a

TUND = ("tund", "116")
def is_tund(o):
    return str(o.get("protocol", "")) in TUND

addrs = js("addr")
for l in addrs:
    l.pop("ifindex", None)
    for a in l.get("addr_info", []):
        a.pop("valid_life_time", None)
        a.pop("preferred_life_time", None)
        if a.get("scope") == "link" and a.get("family") == "inet6":
            a["local"] = ll(a.get("local"))
routes = []
for fam in ("4", "6"):
    for r in js("v" + fam, 0):
        r = dict(r)
        r["family"] = fam
        r.setdefault("table", "main")
        if r.get("type") == "local":
            r["dst"] = ll(r.get("dst"))
        routes.append(r)
rules = []
for fam in ("4", "6"):
    for r in js("v" + fam, 1):
        r = dict(r)
        r["family"] = fam
        rules.append(r)

# resolvectl status: "Global" and "Link 7 (tund-x)" sections of "Key: value" lines. What
# resolved picks at run time (Current DNS Server, Current Scopes) is left out.
dns, link = {}, None
for line in sec.get("dns", []):
    m = re.match(r"^Link \d+ \(([^)]*)\)$", line)
    if m or line.strip() == "Global":
        link = m.group(1) if m else "(global)"
        dns[link] = {}
    elif ":" in line and link is not None:
        k, v = line.split(":", 1)
        if not k.strip().startswith("Current"):
            dns[link][k.strip()] = v.strip()
    elif line.strip():
        dns.setdefault("(other)", {}).setdefault("lines", []).append(line.strip())

# "/proc/PID/cmdline:arg\0arg\0..." -> "arg arg ..."
procs = [l.split(":", 1)[1].replace("\0", " ").strip() for l in sec.get("ps", []) if ":" in l]
procs = [p for p in procs if p and "pview-snap" not in p]
socks = sec.get("wg", [])
claims = {}  # profile -> [slot numbers], from "DIR/slots/N:NAME"
for line in sec.get("slots", []):
    path, _, name = line.partition(":")
    claims.setdefault(name.strip(), []).append(path.rsplit("/", 1)[-1])
# ip -o route get: "[type] DEST [from ..] [via ..] dev DEV ... [mark M] uid U"
rget = {}
for line in sec.get("rget", []):
    toks = line.split()
    dest = next((t for t in toks[:2] if re.match(r"^[0-9a-f:.]+$", t) and t not in ("local",)), None)
    if dest is None:
        continue
    key = dest + ("/mark" if " mark " in line else "/uid" if " uid 991 " in line + " " else "")
    m = re.search(r" dev (\S+)", line)
    rget[key] = m.group(1) if m else "none"

def table_of(slot):
    return None if slot is None else str(29813 + slot)
def span_of(slot):
    return None if slot is None else range(21700 + 10 * slot, 21700 + 10 * slot + 10)

def owns_route(r, ifname, slot):
    if r.get("dev") == ifname:
        return True
    return slot is not None and r["table"] == table_of(slot) and is_tund(r)
def owns_rule(r, slot):
    return slot is not None and is_tund(r) and r.get("priority") in span_of(slot)

def canon(lst):
    return sorted(json.dumps(x, sort_keys=True, separators=(",", ":")) for x in lst)

def view(name, ifname, slot):
    tok = re.compile(r"(^|\s|/)(" + re.escape(ifname) + r"|" + re.escape(name) + r")(\s|$)")
    return {
        "addr": canon(l for l in addrs if l.get("ifname") == ifname),
        "routes": canon(r for r in routes if owns_route(r, ifname, slot)),
        "rules": canon(r for r in rules if owns_rule(r, slot)),
        "dns": dns.get(ifname, {}),
        "procs": sorted(p for p in procs if tok.search(p)),
        "uapi": sorted(s for s in socks if s == ifname + ".sock"),
        "claims": sorted(claims.get(name, [])),
    }

def dump(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=1, sort_keys=True) + "\n")

for name, ifname, slot in profs:
    dump(os.path.join(out, name + ".view"), view(name, ifname, slot))
dump(os.path.join(out, "EMPTY.view"),
     {"addr": [], "routes": [], "rules": [], "dns": {}, "procs": [], "uapi": [], "claims": []})

ifnames = {p[1] for p in profs}
def anyone_route(r):
    return any(owns_route(r, i, s) for _, i, s in profs)
def anyone_rule(r):
    return any(owns_rule(r, s) for _, _, s in profs)
host = {
    "addr": canon(l for l in addrs if l.get("ifname") not in ifnames),
    "routes": canon(r for r in routes if not is_tund(r) and r.get("dev") not in ifnames),
    "rules": canon(r for r in rules if not is_tund(r)),
    "dns": {k: v for k, v in dns.items() if k not in ifnames},
    "orphan_routes": canon(r for r in routes if is_tund(r) and not anyone_route(r)),
    "orphan_rules": canon(r for r in rules if is_tund(r) and not anyone_rule(r)),
}
dump(os.path.join(out, "host.view"), host)

with open(os.path.join(out, "rget"), "w") as f:
    for p in probes:
        f.write("%s %s\n" % (p, rget.get(p, "none")))

with open(os.path.join(out, "learn"), "w") as f:
    for name, ifname, slot in profs:
        got = None
        if len(claims.get(name, [])) == 1 and claims[name][0].isdigit():
            got = int(claims[name][0])
        else:
            for r in routes:
                if r.get("dev") == ifname and r["table"].isdigit() and int(r["table"]) >= 29813:
                    got = int(r["table"]) - 29813
        if got is not None:
            f.write("%s %d %s\n" % (name, got, ",".join(claims.get(name, [])) or "-"))
