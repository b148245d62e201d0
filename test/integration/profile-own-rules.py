#!/usr/bin/env python3
# e2e-profiles.sh: profile-own-rules.py VIEW PRIORITY TABLE IFNAME: a full-tunnel profile's rules
# and its own table, as its view file (lib-profiles.sh's pv_snap) shows them. Per family: at
# PRIORITY "lookup main suppress_prefixlength 0", at PRIORITY+1 "not <engine> lookup TABLE" where
# <engine> is "fwmark 0x7475" or, for an engine without CAP_NET_ADMIN, "uidrange 991-991" (its
# user); the default route in TABLE on IFNAME. Prints "mark" or "uid", or fails saying why.
import json
import sys

view, prio, table, ifname = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
v = json.load(open(view))
rules = [json.loads(r) for r in v["rules"]]
routes = [json.loads(r) for r in v["routes"]]
kinds = set()
for fam in ("4", "6"):
    got = sorted((r["priority"], r.get("table"), "not" in r, r.get("suppress_prefixlen"), r.get("fwmark"),
                  r.get("uid_start"), r.get("uid_end")) for r in rules if r["family"] == fam)
    want = [(prio, "main", False, 0, None, None, None)]
    assert got[:1] == want and len(got) == 2, (fam, got)
    if got[1] == (prio + 1, table, True, None, "0x7475", None, None):
        kinds.add("mark")
    elif got[1] == (prio + 1, table, True, None, None, 991, 991):
        kinds.add("uid")
    else:
        assert False, (fam, got[1], "want not fwmark 0x7475 or not uidrange 991-991, lookup " + table)
    assert any(r["table"] == table and r.get("dst") == "default" and r.get("dev") == ifname
               for r in routes if r["family"] == fam), ("no default in " + table, fam)
assert all(r.get("protocol") in ("tund", "116") for r in rules), rules
assert len(kinds) == 1, kinds
print(kinds.pop())
