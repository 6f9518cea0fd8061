#!/usr/bin/env python3
"""make bench: xway over the ring, xway over its own TCP path, kernel TCP over
loopback and kernel AF_UNIX -- message sizes, parallel connections, bulk and
request/response -- plus real programs natively and under xway-run: iperf3,
sockperf, a pre-fork echo server, an event-loop server, memcached with memcaslap,
and nginx sending a file (sendfile) to ApacheBench.

Interleaved: in each repetition every transport runs one point back to back
(in an order that rotates from one repetition to the next) before the next
point, so machine noise hits all alike.  Every xwperf transfer is verified byte
for byte; results are medians over the repetitions with min-max.

Writes OUT/results.json (machine, configuration, every raw sample, summary),
OUT/results.csv, OUT/results.md and three PNG plots.  Progress goes to stderr.
Exit status: 0 every run ok, 1 a run failed (see results.md), 2 could not run,
130/143 interrupted.  However it ends, no process it started is left running
and its hub directory and sim host are removed.

  scripts/bench/bench.py --build BUILD [--out DIR] [--quick] [options]
"""
import argparse
import datetime
import json
import os
import statistics
import platform
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs as P  # noqa: E402
import report  # noqa: E402
import runs  # noqa: E402

FULL = {"sizes": [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576],
        "conns": [1, 4, 16, 64, 256], "reps": 3, "seconds": 2.0, "app_seconds": 3}
QUICK = {"sizes": [64, 4096, 65536, 1048576], "conns": [1, 16, 256], "reps": 2,
         "seconds": 1.0, "app_seconds": 2}
HEADLINE_SIZE = report.HEADLINE_SIZE
# The point the ring also runs through the zero-copy API (xwperf --zc), right
# after every transport's run of it.
ZC_POINT = ("bulk", HEADLINE_SIZE, 1)
TOOLS = ("iperf3", "sockperf", "gnuplot", "memcached", "memcaslap", "nginx", "ab")


def size_arg(text):
    out = []
    for part in text.split(","):
        part = part.strip().upper().removesuffix("B").removesuffix("I")
        mult = {"K": 1 << 10, "M": 1 << 20}.get(part[-1:], 1)
        out.append(int(part.rstrip("KM")) * mult)
    return out


def parse_args():
    first, rest = __doc__.split("\n\n", 1)
    ap = argparse.ArgumentParser(description=first, epilog=rest,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="the build directory (default build)")
    ap.add_argument("--out", help="output directory (default BUILD/bench)")
    ap.add_argument("--quick", action="store_true",
                    help="the quick subset: 4 sizes, 1/16/256 connections, 2 repetitions, 1 s")
    ap.add_argument("--reps", type=int, help="repetitions of every point")
    ap.add_argument("--seconds", type=float, help="seconds per xwperf point")
    ap.add_argument("--app-seconds", type=int, help="seconds per iperf3/sockperf run")
    ap.add_argument("--sizes", type=size_arg, help="message sizes, e.g. 64,4K,64K,1M")
    ap.add_argument("--conns", type=lambda t: [int(x) for x in t.split(",")],
                    help="parallel connections for the aggregate sweep, e.g. 1,16,256")
    ap.add_argument("--transports", type=lambda t: t.split(","), default=list(runs.TRANSPORTS),
                    help="subset of " + ",".join(runs.TRANSPORTS))
    ap.add_argument("--no-apps", action="store_true", help="leave out the real programs (iperf3, sockperf, ..., nginx)")
    ap.add_argument("--no-xwperf", action="store_true", help="only the real programs (iperf3, sockperf, ..., nginx)")
    ap.add_argument("--report-from", metavar="RESULTS_JSON",
                    help="run nothing: redo the tables and plots of an earlier results.json")
    a = ap.parse_args()
    cfg = dict(QUICK if a.quick else FULL, quick=a.quick, custom=[])
    for k in ("reps", "seconds", "app_seconds", "sizes", "conns"):
        if getattr(a, k) is not None:
            cfg[k] = getattr(a, k)
            cfg["custom"].append(k)
    bad = [t for t in a.transports if t not in runs.TRANSPORTS]
    if bad or cfg["reps"] < 1 or cfg["seconds"] <= 0 or not cfg["sizes"] or not cfg["conns"]:
        ap.error(f"bad option value {bad or ''}")
    if max(cfg["sizes"]) > 4 << 20:
        ap.error("message sizes up to 4M (xwperf's limit)")
    cfg.update(transports=a.transports, apps=not a.no_apps, xwperf=not a.no_xwperf)
    if a.transports != list(runs.TRANSPORTS) or a.no_apps or a.no_xwperf:
        cfg["custom"].append("subset")
    return a, cfg


def plan(cfg):
    """One repetition's runs, in order: (kind, params)."""
    steps = []
    if cfg["xwperf"]:
        points = [("bulk", s, 1) for s in cfg["sizes"]] + [("rr", s, 1) for s in cfg["sizes"]]
        points += [("bulk", HEADLINE_SIZE, c) for c in cfg["conns"]
                   if ("bulk", HEADLINE_SIZE, c) not in points]
        steps += [("xwperf", p) for p in points]
    if cfg["apps"]:
        steps += [("iperf3", ()), ("sockperf", ("pp", runs.SOCKPERF_PP_SIZE)),
                  ("sockperf", ("tp", runs.SOCKPERF_TP_SIZE)), ("prefork", ())]
        steps += [("evloop", (c,)) for c in runs.EVLOOP_CLIENTS]
        steps += [("memcached", ()), ("sendfile", ())]
    return steps


def zc_after(cfg, params):
    """Whether the ring's --zc run follows this xwperf point."""
    return params == ZC_POINT and "ring" in cfg["transports"]


def human(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return f"{n}B"


def describe(s):
    if not s["ok"]:
        return "FAILED: " + (s["error"] or "?")
    if s.get("transactions_per_s") is not None:
        v = f"{s['transactions_per_s']:.0f} requests/s"
    elif s.get("rtt_us_p50") is not None:
        v = f"rtt p50 {s['rtt_us_p50']:.2f} us, p99 {s['rtt_us_p99']:.2f} us"
    else:
        v = f"{s['gbytes_per_s']:.3f} GB/s"
    check = {True: "verified", None: "no check possible", False: "NOT verified"}[s.get("verified")]
    return f"{v} ({s.get('path', '?')}, {check})"


class Progress:
    def __init__(self, total):
        self.total, self.done, self.t0 = total, 0, time.monotonic()

    def line(self, what, sample):
        self.done += 1
        el = time.monotonic() - self.t0
        eta = el / self.done * (self.total - self.done)
        print(f"[{self.done}/{self.total} {el:4.0f}s, ~{eta:3.0f}s left] {what}: {describe(sample)}",
              file=sys.stderr, flush=True)


def run_matrix(bench, cfg, samples):
    steps = plan(cfg)
    ntr = len(cfg["transports"])
    total = cfg["reps"] * sum(ntr + zc_after(cfg, p) if k == "xwperf" else 2 for k, p in steps)
    prog = Progress(total)
    for rep in range(cfg["reps"]):
        order = cfg["transports"][rep % ntr:] + cfg["transports"][:rep % ntr]
        for kind, params in steps:
            if kind == "xwperf":
                mode, size, conns = params
                for t in order:
                    s = bench.xwperf_client(t, mode, size, conns, cfg["seconds"])
                    s.update(mode=mode, msglen=size, conns=conns, rep=rep)
                    samples.append(s)
                    prog.line(f"{t:<6} {mode:<4} {human(size):>6} P{conns:<3} rep{rep + 1}", s)
                if zc_after(cfg, params):
                    s = bench.xwperf_client("ring", mode, size, conns, cfg["seconds"], zc=True)
                    s.update(mode=report.ZC_MODE, msglen=size, conns=conns, rep=rep)
                    samples.append(s)
                    prog.line(f"ring   {mode:<4} {human(size):>6} P{conns:<3} rep{rep + 1} --zc", s)
                continue
            for xway in ((False, True) if rep % 2 == 0 else (True, False)):
                if kind == "iperf3":
                    s = bench.iperf3(xway, cfg["app_seconds"])
                    what = "iperf3 bulk"
                elif kind == "prefork":
                    s = bench.prefork(xway, cfg["app_seconds"])
                    what = "pre-fork 2 workers, 16 x 64B rr"
                elif kind == "evloop":
                    s = bench.evloop(xway, params[0], cfg["app_seconds"])
                    what = f"event loop, {params[0]} x 64B rr"
                elif kind == "memcached":
                    s = bench.memcached(xway, cfg["app_seconds"])
                    what = f"memcached, memcaslap {runs.MEMCACHED_CLIENTS} conns"
                elif kind == "sendfile":
                    s = bench.sendfile(xway, cfg["app_seconds"])
                    what = "nginx sendfile 1MiB, ab -k"
                else:
                    test, size = params
                    s = bench.sockperf(xway, test, size, cfg["app_seconds"])
                    what = f"sockperf {test} {human(size)}"
                s["rep"] = rep
                samples.append(s)
                prog.line(f"{what} {'xway-run' if xway else 'native':<8} rep{rep + 1}", s)


def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def machine():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = first_line(["git", "-C", src, "describe", "--always", "--dirty"])
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
            "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "loadavg_start": os.getloadavg(), "commit": commit,
            "iperf3": first_line(["iperf3", "--version"]),
            "sockperf": first_line(["sockperf", "--version"]),
            "gnuplot": first_line(["gnuplot", "--version"])}


def keep_logs(work, dest):
    """The servers' logs, for a failed run's story: OUT/logs (replaced)."""
    shutil.rmtree(dest, ignore_errors=True)
    if not work or not os.path.isdir(work):
        return
    os.makedirs(dest)
    for name in os.listdir(work):
        path = os.path.join(work, name)
        if name.endswith((".log", ".out", ".err")) and os.path.isfile(path):
            shutil.copy(path, dest)


def preflight(args):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        sys.exit(f"bench: {', '.join(missing)} not installed: run `make deps` "
                 "(scripts/install-deps.sh), which installs them")
    for f in ("apps/xwperf/xwperf", "shim/xway-run", "shim/libxwayshim.so"):
        if not os.path.exists(os.path.join(args.build, f)):
            sys.exit(f"bench: {args.build}/{f} not built (make build)")


def report_again(path, out):
    with open(path) as f:
        r = json.load(f)
    os.makedirs(out, exist_ok=True)
    h = report.write_all(out, r["machine"], r["config"], r["samples"], P.Procs())
    print(report.headline_text(h), end="")
    return 0


def run_switch(build, reps):
    """The switches (tests/switch/bench.c): a stream whose receiver is moved
    away (ring -> TCP) and back (TCP -> ring) with xwayctl sim-move; reps runs
    (at least 3), their medians."""
    prog = os.path.join(build, "tests", "switch", "switch_bench")
    ctl = os.path.join(build, "apps", "xwayctl", "xwayctl")
    got = []
    for i in range(max(reps, 3)):
        r = subprocess.run([prog, ctl, "6"], capture_output=True, text=True, timeout=120)
        line = [l for l in r.stdout.splitlines() if l.startswith("{")]
        if r.returncode == 0 and line:
            got.append(json.loads(line[-1]))
        print(f"  switch ring -> tcp, run {i + 1}: "
              f"{line[-1] if line else 'failed: ' + r.stderr.strip()[-200:]}",
              file=sys.stderr, flush=True)
    keys = ("ring_gbps", "tcp_gbps", "back_gbps", "first_tcp_ms", "first_ring_ms", "stall_ms",
            "switch_ms")
    med = {k: statistics.median(g[k] for g in got) for k in keys} if got else None
    return {"runs": got, "median": med, "failed": max(reps, 3) - len(got)}


def main():
    args, cfg = parse_args()
    if args.report_from:
        return report_again(args.report_from, os.path.abspath(
            args.out or os.path.dirname(os.path.abspath(args.report_from))))
    preflight(args)
    build = os.path.abspath(args.build)
    out = os.path.abspath(args.out or os.path.join(build, "bench"))
    os.makedirs(out, exist_ok=True)
    meta = machine()
    procs = P.Procs()
    P.trap_signals()
    samples, status, rc = [], "complete", 0
    work = simhost = None
    t0 = time.monotonic()
    print(f"bench: {'quick subset' if cfg['quick'] else 'full suite'}"
          f"{' with options' if cfg['custom'] else ''}, {cfg['reps']} repetition(s), "
          f"results in {out}", file=sys.stderr, flush=True)
    try:
        work = tempfile.mkdtemp(prefix="xwbench-")
        # The bench's own sim host (tmpfs): its processes are co-resident domains.
        simhost = tempfile.mkdtemp(prefix="xwbench-host-", dir="/dev/shm")
        bench = runs.Bench(procs, build, work, simhost, net=200)
        run_matrix(bench, cfg, samples)
        if not cfg["custom"]:
            meta["switch"] = run_switch(build, cfg["reps"])
    except KeyboardInterrupt:
        status, rc = "interrupted (SIGINT)", 130
    except P.Interrupted as e:
        status, rc = f"interrupted ({e})", 143
    except RuntimeError as e:
        status, rc = f"error: {e}", 2
    finally:
        P.ignore_signals()
        procs.stop_all()
        keep_logs(work, os.path.join(out, "logs"))
        for d in (work, simhost):
            if d:
                shutil.rmtree(d, ignore_errors=True)
    meta.update(loadavg_end=os.getloadavg(), wall_seconds=round(time.monotonic() - t0, 1),
                status=status)
    headline = report.write_all(out, meta, cfg, samples, procs)
    failed = [s for s in samples if not s["ok"]]
    print(report.headline_text(headline), end="")
    print(f"bench: {status}; {len(samples)} runs, {len(failed)} failed, "
          f"{meta['wall_seconds']:.0f} s; {out}/results.md", file=sys.stderr)
    if rc == 0 and failed:
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
