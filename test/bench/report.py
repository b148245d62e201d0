#!/usr/bin/env python3
"""Turns test/bench/run's raw samples (one JSON object a line) into the results: one line per
benchmark on stdout (ratio against its baseline, target met or not), results.json, the
Markdown report (BENCHMARKS.md) and a gnuplot PNG of the ratios."""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile

MIB = 1024  # KiB

# (id, title, bench, subject, baseline, better, target, note)
#   better: "lower" (times, memory) or "higher" (throughput); target: a ratio or None
ROWS = [
    ("ttfp", "Time to first packet", "ttfp", "tund", "wg-quick", "lower", 0.5,
     "profile start -> first ping reply through the tunnel; cold helper"),
    ("ttfp-bare", "Time to first packet (info)", "ttfp", "tund", "bare wireguard-go", "lower", None,
     "vs wireguard-go + wg set + ip by hand (no wg-quick script)"),
    ("dataplane", "Data plane (iperf3)", "dataplane", "tund", "bare wireguard-go", "higher", 0.95,
     "same engine, same peer, same namespaces"),
    ("ks-dataplane", "Data plane, kill switch (iperf3)", "ks-dataplane", "switch on", "switch off",
     "higher", 0.97, "one tund tunnel; a kill switch for its link set and lifted between samples"),
] + [
    (f"routes-{n}", f"Routes {n // 1000}k", f"routes-{n}", "libnetcfg", "ip-batch", "lower", 1.0,
     "IPv6 /64s on a TUN link")
    for n in (1000, 10000, 100000)
] + [
    (f"routes-{n}-pp", f"Routes {n // 1000}k vs one ip per route", f"routes-{n}", "libnetcfg",
     "per-process", "lower", 0.02,
     "per-process sampled: 2,000 routes timed, extrapolated" if n > 1000 else "")
    for n in (1000, 10000, 100000)
] + [
    ("ks-apply", "Kill switch, 1,000 AllowedBypass", "ks-apply-1000", "tund-netshimd", "nft -f",
     "lower", 1.0, "the whole table from none, one process, one transaction"),
] + [
    ("activation", "Activation", "activation", "helper", "floor", "lower", 2.0,
     "connect on a cold socket -> first reply, systemd-socket-activate"),
    ("activation-sd", "Activation (info)", "activation", "helper", "floor + libsystemd", "lower",
     None, "vs a floor that also loads libsystemd and runs sd-event"),
] + [
    (f"ctl-{n}", f"Control API, {n} client{'s' if n > 1 else ''}", f"ctl-{n}", "GetStatus", "Ping",
     "higher", None, "req/s, GetStatus vs the cheapest request (Ping), live session")
    for n in (1, 10, 100)
] + [
    ("fanout", "Watch fan-out", "fanout", None, "1 subscribers", "lower", None,
     "event leaves the tunnel -> last subscriber has it (median of 10 events)"),
] + [
    # a tuple of baselines: the best (lowest median) of them counts
    ("recovery", "Recovery after a path change", "recovery", "tund",
     ("wg-quick", "wg-quick + reresolve-dns"), "lower", 0.1,
     "underlay path dies, default route to a second path -> first answer through the tunnel; "
     "target also tund ≤ 1 s; fewer wg-quick samples (RECOVERY_WG_ROUNDS, ~15 s each)"),
]
ABS_MAX = {"recovery": 1000}  # an absolute target as well: the subject's median at most (unit)
MEM = [("helper", "tund-helperd"), ("shim", "tund-netshimd"), ("tunnel", "tund-tunnel"),
       ("wireguard-go", "wireguard-go (info)")]


def stats(v):
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v),
            "samples": v}


def fmt(x):
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(s, unit):
    if not s:
        return "—"
    return f"{fmt(s['median'])} {unit} ({fmt(s['min'])}–{fmt(s['max'])}, n={s['n']})"


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) // 1024} MiB"
    except (OSError, ValueError, IndexError):
        pass
    wg = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "wireguard-go"],
                        capture_output=True, text=True).stdout or "?"
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu, "memory": mem,
            "wireguard_go": wg}


def main():
    ap = argparse.ArgumentParser()
    for a in ("raw", "json", "md", "plot", "started"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=0)
    args = ap.parse_args()

    samples, details, units = {}, {}, {}
    with open(args.raw) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            key = (r["bench"], r["variant"])
            samples.setdefault(key, []).append(float(r["value"]))
            units[r["bench"]] = r.get("unit", "")
            if "anon_kib" in r:
                details.setdefault(key + ("anon",), []).append(float(r["anon_kib"]))
            if "detail" in r:
                details.setdefault(key, []).append(r["detail"])
            if "routes" in r or "rules" in r:
                details.setdefault(key, []).append(r)

    results = []
    fan_subject = None
    for (b, v) in samples:
        if b == "fanout" and v != "1 subscribers":
            fan_subject = v
    for rid, title, bench, subj, base, better, target, note in ROWS:
        if subj is None:
            subj = fan_subject
        s = stats(samples.get((bench, subj), []))
        bases = base if isinstance(base, tuple) else (base,)
        base = min((b for b in bases if samples.get((bench, b))),
                   key=lambda b: statistics.median(samples[(bench, b)]), default=bases[0])
        bs = stats(samples.get((bench, base), []))
        if not s or not bs:
            continue
        ratio = s["median"] / bs["median"] if bs["median"] else None
        met = None
        if target is not None and ratio is not None:
            met = ratio <= target if better == "lower" else ratio >= target
            if rid in ABS_MAX:
                met = met and s["median"] <= ABS_MAX[rid]
        res = {"id": rid, "title": title, "subject": subj, "baseline": base,
               "unit": units.get(bench, ""), "better": better, "target": target,
               "ratio": ratio, "met": met, "subject_stats": s, "baseline_stats": bs,
               "note": note}
        if bench.startswith("routes-"):
            n = int(bench.split("-")[1])
            res["us_per_route"] = {subj: s["median"] * 1000 / n, base: bs["median"] * 1000 / n}
        if bench.startswith("ks-apply-"):
            d = details.get((bench, subj), [])
            if d:
                res["ks_rules"] = {"prefixes": d[0]["prefixes"], "rules": d[0]["rules"]}
        if bench.startswith("ctl-"):
            for who, key in ((subj, "subject_latency"), (base, "baseline_latency")):
                d = details.get((bench, who), [])
                if d:
                    res[key] = {"p50_us": statistics.median(x["p50_us"] for x in d),
                                "p99_us": statistics.median(x["p99_us"] for x in d)}
        if bench == "fanout":
            d = details.get((bench, subj), [])
            if d:
                res["fanout"] = {
                    "subscribers_wanted": d[0]["subscribers_wanted"],
                    "subscribers": min(x["subscribers"] for x in d),
                    "refused": max(x["refused"] for x in d),
                    "dropped": max(x["dropped"] for x in d),
                    "missing": sum(x.get("missing", 0) for x in d),
                    "procs": d[0].get("procs", 1),
                    "p50_us": statistics.median(x["p50_us"] for x in d),
                    "p99_us": statistics.median(x["p99_us"] for x in d),
                    "max_us": max(x["max_us"] for x in d),
                }
        if bench == "recovery":
            res["recovery"] = {}
            for v in bases:
                d = details.get((bench, v), [])
                if d:
                    res["recovery"][v] = {
                        "stats": stats(samples.get((bench, v), [])),
                        "capped": sum(1 for x in d if x.get("capped")),
                        "reresolve_runs": sum(x.get("reresolve_runs", 0) for x in d),
                        "reresolve_sets": sum(x.get("reresolve_sets", 0) for x in d)}
        results.append(res)

    memory = []
    for phase in ("idle", "iperf", "load", "fanout"):
        for who, name in MEM:
            s = stats(samples.get((f"mem-{phase}", who), []))
            if not s:
                continue
            # wireguard-go is not tund's code; the fan-out helper holds 1,000 connections,
            # beyond what the target is defined for (idle and the control-API load)
            info = who == "wireguard-go" or phase == "fanout"
            ratio = s["max"] / (4 * MIB)  # the peak of the peaks
            memory.append({"id": f"mem-{phase}-{who}", "process": name, "phase": phase,
                           "unit": "KiB", "stats": s,
                           "anon": stats(details.get((f"mem-{phase}", who, "anon"), [])),
                           "target_kib": None if info else 4 * MIB,
                           "ratio": ratio, "met": None if info else s["max"] <= 4 * MIB})

    phases = sorted(((v, s[0]) for (b, v), s in samples.items() if b == "ttfp-phases"),
                    key=lambda x: x[1])
    m = machine()
    out = {"started": args.started, "seconds": args.seconds, "rounds": args.rounds, "machine": m,
           "results": results, "memory": memory,
           "ttfp_phases_ms": [{"phase": k, "ms": v} for k, v in phases]}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)

    # --- the lines on stdout ---
    def verdict(r):
        if r["met"] is None:
            return "(no target)"
        op = "<=" if r["better"] == "lower" else ">="
        t = f" and <= {fmt(ABS_MAX[r['id']])} {r['unit']}" if r["id"] in ABS_MAX else ""
        return f"target {op} {r['target']}x{t}: {'MET' if r['met'] else 'MISSED'}"
    for r in results:
        print(f"{r['title']:<34} {r['subject']} {fmt(r['subject_stats']['median'])} {r['unit']}"
              f" vs {r['baseline']} {fmt(r['baseline_stats']['median'])} {r['unit']}:"
              f" {r['ratio']:.3f}x  {verdict(r)}")
    for r in memory:
        v = "(info)" if r["met"] is None else ("target <= 4 MiB: " + ("MET" if r["met"] else "MISSED"))
        print(f"{'Peak RSS ' + r['phase']:<34} {r['process']} {r['stats']['max'] / MIB:.2f} MiB"
              f" ({r['ratio']:.2f}x of 4 MiB)  {v}")

    write_md(args.md, out)
    plot(args.plot, results, memory)


def write_md(path, out):
    m = out["machine"]
    L = []
    L.append("# Benchmarks\n")
    L.append("Generated by `make bench` (`test/bench/run`, report by `test/bench/report.py`); "
             "do not edit by hand. Every benchmark runs side by side with its baseline in the same "
             "run, alternating, and is reported as the ratio of the medians, so that the noise "
             "of a shared machine hits both sides alike. Benchmarks never fail CI for being "
             "slow (`make check` does not run them).\n")
    L.append(f"- **Date:** {out['started']} ({out['seconds']} s for the whole run)")
    L.append(f"- **Machine:** {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, "
             f"kernel {m['kernel']}, wireguard-go {m['wireguard_go']} (Debian); a shared "
             "machine with other test runs going on: absolute numbers are noisy, ratios less so")
    L.append(f"- **Samples:** median of at least {out['rounds']} samples per variant, taken "
             "alternately with the baseline's; (min–max, number of samples) in brackets; "
             "ratio = median / median of the baseline\n")
    L.append("## Results\n")
    L.append("| benchmark | tund | baseline | ratio | target | met |")
    L.append("|---|---|---|---|---|---|")
    for r in out["results"]:
        t = "—" if r["target"] is None else ("≤ " if r["better"] == "lower" else "≥ ") + f"{r['target']}×"
        if r["id"] in ABS_MAX:
            t += f" and ≤ {fmt(ABS_MAX[r['id']])} {r['unit']}"
        met = "—" if r["met"] is None else ("yes" if r["met"] else "**no**")
        extra = ""
        if "us_per_route" in r:
            u = r["us_per_route"]
            extra = "<br>" + ", ".join(f"{k}: {v:.2f} µs/route" for k, v in u.items())
        if "ks_rules" in r:
            k = r["ks_rules"]
            extra = f"<br>{k['prefixes']:,} prefixes: {k['rules']:,} rules in table inet tund"
        if "subject_latency" in r:
            a, b = r["subject_latency"], r.get("baseline_latency", {})
            extra = (f"<br>GetStatus p50 {a['p50_us']:.0f} µs, p99 {a['p99_us']:.0f} µs"
                     + (f"; Ping p50 {b['p50_us']:.0f} µs, p99 {b['p99_us']:.0f} µs" if b else ""))
        if "fanout" in r:
            f = r["fanout"]
            extra = (f"<br>{f['subscribers']} of {f['subscribers_wanted']} subscribers accepted "
                     f"({f['refused']} refused, {f['dropped']} dropped, {f['missing']} events "
                     f"missing), {f['procs']} receiver processes; all deliveries: "
                     f"p50 {f['p50_us']:.0f} µs, p99 {f['p99_us']:.0f} µs, max {f['max_us']:.0f} µs")
        if "recovery" in r:
            parts = []
            for v, x in r["recovery"].items():
                p = f"{v}: {cell(x['stats'], r['unit'])}"
                if x["capped"]:
                    p += f", {x['capped']} capped"
                if x["reresolve_runs"]:
                    p += (f"; reresolve-dns ran {x['reresolve_runs']}×, set an endpoint "
                          f"{x['reresolve_sets']}×")
                parts.append(p)
            extra = "<br>" + "<br>".join(parts)
        note = f"<br><small>{r['note']}</small>" if r["note"] else ""
        L.append(f"| {r['title']}{note} | {r['subject']}: {cell(r['subject_stats'], r['unit'])}{extra} "
                 f"| {r['baseline']}: {cell(r['baseline_stats'], r['unit'])} "
                 f"| {r['ratio']:.3f}× | {t} | {met} |")
    L.append("")
    if out["ttfp_phases_ms"]:
        L.append("Time to first packet, where tund's time goes (one more start under "
                 "`ip -ts monitor`, not counted above; ms after tund-netshimd was started): "
                 + ", ".join(f"{p['phase']} +{p['ms']:.0f}" for p in out["ttfp_phases_ms"]) + ".\n")
    if out["memory"]:
        L.append("### Memory: peak RSS (VmHWM), target ≤ 4 MiB per tund process\n")
        L.append("| process | phase | VmHWM median (min–max) | max of 4 MiB | met | of which RssAnon (median) |")
        L.append("|---|---|---|---|---|---|")
        phases = {"idle": "tunnel up, idle (each round, after the first ping)",
                  "iperf": "after the data-plane samples (iperf3 through the tunnel)",
                  "load": "after the control-API load (all rounds, 1–100 clients)",
                  "fanout": "fake-tunnel helper after the watch fan-out (1,000 connections; info)"}
        for r in out["memory"]:
            s = r["stats"]
            met = "— (info)" if r["met"] is None else ("yes" if r["met"] else "**no**")
            L.append(f"| {r['process']} | {phases[r['phase']]} | {s['median'] / MIB:.2f} MiB "
                     f"({s['min'] / MIB:.2f}–{s['max'] / MIB:.2f}) | {r['ratio']:.2f}× | {met} | "
                     + (f"{r['anon']['median'] / MIB:.2f} MiB |" if r.get("anon") else "— |"))
        L.append("")
    L.append(METHOD)
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


METHOD = """## Method

Everything runs as root inside network namespaces the run creates (`tund-t*-PID`, removed at
exit, also on failure), on documentation addresses; the e2e setup is `test/integration/lib-e2e.sh`:
a client namespace with a private D-Bus and systemd-resolved, a server namespace with a
wireguard-go peer, joined by veth. The plot of the ratios is written to `build/bench/results.png`
and the samples to `build/bench/results.json` (not committed).

1. **Time to first packet.** tund: the helper waits cold under `systemd-socket-activate` with the
   two named sockets; the clock starts when `tund-netshimd` is started and stops at the first
   ping reply from the server's tunnel address, polled with `ping -i 0.005` (a new ping every
   5 ms while there is no route yet). Baseline: `wg-quick up` (wireguard-go as the userspace
   implementation, it creates the TUN and daemonizes) with the same profile minus `[Tund]`, polled
   the same way; `wg-quick down` between rounds. The profile has no `DNS=` (wg-quick would need
   resolvconf). Extra row: wireguard-go started by hand and configured with `wg set` and `ip`
   (one nsenter per command, so it pays more process starts than wg-quick). A warm-up round of
   all three is discarded. One more tund start runs under `ip -ts monitor` to show where the
   time goes (the line under the table).
2. **Route programming.** `test/bench/bench-routes.sh` (also `make bench-routes`): N IPv6 /64
   routes on a TUN link in a private namespace: `netcfg-tool --routes-file` (libnetcfg: libmnl
   batches, one ack per route; process start included) vs `ip -batch` (process start included),
   alternating which goes first, table flushed between methods. The one-`ip`-per-route baseline
   (wg-quick's way) times the whole set for 1k (3 rounds) and the first 2,000 routes for 10k and
   100k (2 rounds), extrapolated linearly.
3. **Activation.** A fresh `systemd-socket-activate -l control.sock -l shim.sock
   --fdname=control:shim` per sample; the clock runs from `connect()` on the cold control socket
   to the first reply: for tund-helperd the handshake lines and a `Ping` -> `Pong`
   (`bench-ctl-load activate`), for the floor (`test/helpers/bench-floor.c`, accepts and writes
   a line) that line. A second floor (`bench-floor-sd.c`) does the same with libsystemd loaded,
   `sd_listen_fds_with_names()` and sd-event, to show what the library costs alone.
   4×ROUNDS samples each, alternating; one warm-up round is discarded.
4. **Control API.** `test/helpers/bench-ctl-load.c` (libipc): N connections (1, 10, 100), each
   with one request outstanding in a loop for `CTL_TIME` s, against the real helper with a live
   session; GetStatus alternating with Ping (the cheapest request: the baseline). Requests per
   second over all connections, latency p50/p99 per request. **Watch fan-out:** the helper with
   `test/helpers/helperd-fake-tunnel.c` (FAKE_TUNNEL_REBIND_STAMP=1) as its tunnel; N
   connections send Watch; a CtlRebind makes the fake tunnel emit a Status event stamped with CLOCK_MONOTONIC just before it leaves the
   tunnel; every subscriber records arrival − stamp; per event the slowest subscriber counts;
   10 events per sample, 1 subscriber (baseline) alternating with `FANOUT` subscribers. The
   subscribers are spread over `FANOUT_PROCS` (10) processes: one sd-event loop dispatches one
   ready connection per iteration and re-polls all the others each time, so a single receiver
   process with 1,000 ready sockets measures itself (quadratically: 1 process ~60–80 ms,
   2 ~31 ms, 4 ~19 ms, 8 ~12 ms for the last subscriber here); the number shown is therefore an
   upper bound on the helper's share, on 2 CPUs shared by the helper and the receivers.
5. **Data plane.** iperf3 (`IPERF_TIME` s per sample, TCP, client -> server, 2×ROUNDS samples
   each) through tund vs through a bare wireguard-go (it creates its own TUN; configured by hand
   with `wg set` and `ip`): same engine, same peer, same namespaces, both tunnels up at once
   (the bare one with a second key the server knows as a second peer, reaching a second server
   address only), samples alternating every few seconds so that both see the same load.
6. **Memory.** VmHWM from `/proc/PID/status` of tund-helperd, tund-netshimd and tund-tunnel,
   after each round's first ping (idle), after the data-plane samples and after the
   control-API load; the target is checked against the largest value seen. RssAnon (the
   process's private memory; the rest of VmHWM is shared-library pages) is shown alongside.
   wireguard-go is reported for information (it is not tund's code).
7. **Data plane with the kill switch.** iperf3 as in 5 (2×ROUNDS samples each) through one tund
   tunnel with a kill switch on and off alternately: `tund-netshimd --killswitch` sets it and
   `--killswitch-off` lifts it before every sample (the boot unit's one-shot modes), so that
   every sample follows a toggle to its own state; same engine, peer, namespaces and stream. The
   switch is profile bk's, which is the tunnel's profile plus `KillSwitch = yes` (same link,
   endpoint and engine user, so the rules the tunnel's own switch would have: table `inet tund`,
   base chains input/output/forward with policy drop, chains ks-bk-in/-out/-fwd): the shim of a
   KillSwitch profile puts back a switch deleted under it (or fails its session), so a running
   session's own switch cannot be toggled. After each toggle a ping to the server's underlay
   address, around the tunnel, must fail (on) or pass (off). Before and after each "on" sample
   the table is there with the rules of the first install (`nft list table inet tund`, counters
   aside) and the same table handle; before and after each "off" sample the client's namespace
   has no nf_tables table at all (so not even conntrack runs); an `nft monitor` in the client's
   namespace runs throughout and must log nothing during any sample.
8. **Applying a kill switch.** `test/bench/bench-killswitch.sh`: a profile with 1,000
   AllowedBypass prefixes (900 IPv4 /24s in 10.0.0.0/8, 100 IPv6 /48s in 2001:db8:8000::/33;
   none covers the endpoint or the Address; each is one rule in each of the profile's three
   chains) in a fresh namespace of its own: `tund-netshimd --killswitch` (libnftnl, the whole
   table in one transaction; it also writes the spec file and reads the table back to check
   it) vs `nft -f` of the same table, as `nft list table inet tund` printed it after a tund
   install. Every sample starts from nothing (no table; for tund no spec directory either) and
   times one whole process, fork+exec to exit, clocked inside the namespace; ROUNDS samples
   each, alternating which goes first, one warm-up round discarded; after every sample the
   table must list exactly as the reference, character for character.
9. **Recovery after a path change.** `test/bench/bench-recovery.sh`: the e2e namespaces with
   two veth paths between client and server, A (`198.51.100.0/28`) and B (`198.51.100.16/28`),
   both up; the server's WireGuard endpoint is on its loopback (`198.51.100.200`), reached
   through the client's default route (via A at first, not on-link). A split tunnel
   (`192.0.2.1/32, 203.0.113.0/24`, the server-only network) carries a steady UDP probe: a
   datagram every 10 ms stamped with its send time, echoed by the server only when it comes
   from the client's tunnel address (so only answers through the tunnel count). The change is
   one `ip -batch` in the client's namespace: path A's addresses flushed, its link down, the
   default route replaced via B. Recovery = end of that change -> arrival of the first answer
   to a probe sent after it; a sample that has none after `RECOVERY_CAP` (200) s counts as
   that (capped). Every sample brings its tunnel up fresh over path A (restored first) and
   waits for a second of steady answers. tund: the whole stack (helper under
   `systemd-socket-activate`, kept running; one session per sample), ROUNDS samples. wg-quick
   (wireguard-go, no kernel module) inside the client's namespaces with a private
   `/etc/wireguard`, the same profile without `[Tund]`, `RECOVERY_WG_ROUNDS` (3) samples; and
   the same plus wireguard-tools' contrib `reresolve-dns.sh` run as its README says ("from cron
   every thirty seconds or so"): a loop every 30 s whose first run comes a uniformly random
   0–30 s after the change (the phase of a cron job is unrelated to the change), also
   `RECOVERY_WG_ROUNDS` samples. The ratio is against the better wg-quick variant. What
   wireguard-go (0.0.20220316) does: it keeps the local address and interface it last received
   on as the sticky source of every later send (IP_PKTINFO); once that address is gone a send
   fails with ENETUNREACH (it retries without the source only on EINVAL). Its rtnetlink route
   listener asks the kernel for the route to the endpoint *from that old source* on every route
   change and drops the source when the answer's interface differs, but with the address gone
   the question itself fails, so it keeps it. It drops the source only when a handshake is
   started because nothing came back for 15 s (KeepaliveTimeout + RekeyTimeout, + up to 333 ms
   jitter) of sending, so recovery takes ~15 s. reresolve-dns.sh sets an endpoint again only
   when the latest handshake is over 135 s old, which never happens while traffic flows (the
   engine rekeys every 120 s and recovers in 15 s by itself), so it changes nothing here. If
   the default route moves while the old address still exists (a separate `ip route` a few ms
   before the address is removed, or the old link going down with its address kept),
   wireguard-go's route listener does drop the source and recovers within ~10 ms by itself:
   the benchmark measures the case where it cannot.
"""


def plot(path, results, memory):
    gp = shutil.which("gnuplot")
    if not gp:
        print("bench: gnuplot not found, no plot (apt-get install gnuplot-nox)")
        return
    rows = [(r["title"], r["ratio"], r["target"], r["met"]) for r in results if r["ratio"]]
    rows += [(f"Peak RSS {r['phase']}: {r['process'].split(' ')[0]}", r["ratio"],
              None if r["met"] is None else 1.0, r["met"]) for r in memory
             if r["phase"] != "fanout"]
    with tempfile.TemporaryDirectory(prefix="tund-t-plot.") as d:
        data = os.path.join(d, "ratios.dat")
        with open(data, "w") as f:
            for i, (t, ratio, target, met) in enumerate(reversed(rows)):
                color = {True: 0x2a9d3a, False: 0xd62828, None: 0x5078b4}[met]
                lx = max(ratio, target or 0) * 1.25
                f.write(f"{i} \"{t}\" {ratio:.6g} {target if target else 'NaN'} {color} {lx:.6g}\n")
        n = len(rows)
        script = f"""
set terminal pngcairo size 1100,{120 + 26 * n} font "DejaVu Sans,10"
set output "{path}"
set title "tund benchmarks: ratio to the baseline measured in the same run (log scale)"
set logscale x
set xrange [0.001:300]
set yrange [-0.7:{n - 0.3}]
set ytics nomirror
set grid xtics
set key top right
set xlabel "ratio (tund / baseline; memory: VmHWM / 4 MiB); green: target met, red: missed, blue: no target"
set arrow from 1, graph 0 to 1, graph 1 nohead dt 2 lc rgb "#444444"
plot "{data}" using (sqrt(0.001 * $3)):1:(0.001):3:($1 - 0.35):($1 + 0.35):4:ytic(2) \\
        with boxxyerror fs solid 0.7 lc rgb variable notitle, \\
     "" using 6:1:(sprintf("%.3g", $3)) with labels left notitle, \\
     "" using 4:1 with points pt 7 ps 1.0 lc rgb "black" title "target"
"""
        # boxxyerror reads x:y:xlow:xhigh:ylow:yhigh; color from column 5
        script = script.replace(":4:ytic(2)", ":5:ytic(2)")
        sp = os.path.join(d, "plot.gp")
        with open(sp, "w") as f:
            f.write(script)
        r = subprocess.run([gp, sp], capture_output=True, text=True)
        if r.returncode != 0:
            print("bench: gnuplot failed: " + r.stderr.strip()[:500])


if __name__ == "__main__":
    main()
