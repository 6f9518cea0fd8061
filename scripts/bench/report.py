"""The bench's outputs: results.json (machine, configuration, every raw sample,
summary), results.csv (the samples, flat), results.md (the tables the README
embeds) and three PNG plots drawn by gnuplot (plots.gp beside them redraws them).
Medians over repetitions with min-max; ratios are against kernel TCP over
loopback measured in the same run."""
import csv
import json
import os
import statistics

from runs import (EVLOOP_CLIENTS, IPERF3_LEN, MEMCACHED_CLIENTS, MEMCACHED_THREADS,
                  PREFORK_CLIENTS, SENDFILE_SIZE, SOCKPERF_PP_MPS, SOCKPERF_PP_SIZE,
                  SOCKPERF_TP_SIZE, TRANSPORTS)

BULK_TARGET = 8.0  # ring >= 8x kernel TCP loopback, bulk at 64 KiB (the issues' targets)
RTT_TARGET = 20.0  # ring round trip >= 20x lower
HEADLINE_SIZE = 65536
ZC_MODE = "bulk-zc"  # the ring's bulk at HEADLINE_SIZE through the zero-copy API (xwperf --zc)
COLORS = {"ring": "#d62728", "tcp": "#1f77b4", "kernel": "#2ca02c", "unix": "#9467bd"}
METRICS = ("gbytes_per_s", "rtt_us_p50", "rtt_us_p99", "transactions_per_s")


def key_of(s):
    return (s["tool"], s["transport"], s["mode"], s["msglen"], s["conns"])


def summarize(samples):
    """key -> {n, n_ok, errors, metric: {median, min, max, values}}."""
    out = {}
    for s in samples:
        g = out.setdefault(key_of(s), {"n": 0, "n_ok": 0, "errors": [], "reps": {}})
        g["n"] += 1
        if not s["ok"]:
            g["errors"].append(s["error"])
            continue
        g["n_ok"] += 1
        g["reps"][s["rep"]] = s
        for m in METRICS:
            if s.get(m) is not None:
                g.setdefault(m, {"values": []})["values"].append(s[m])
    for g in out.values():
        for m in METRICS:
            if m in g:
                v = g[m]["values"]
                g[m].update(median=statistics.median(v), min=min(v), max=max(v))
    return out


def ratio(summary, metric, a, b, invert=False):
    """Ratio of the medians of a over b (b over a when invert), with the range of
    the per-repetition ratios (a and b of one repetition ran back to back)."""
    ga, gb = summary.get(a), summary.get(b)
    if not ga or not gb or metric not in ga or metric not in gb:
        return None
    def r(x, y):
        if x is None or y is None or (x if invert else y) <= 0:
            return None
        return y / x if invert else x / y
    med = r(ga[metric]["median"], gb[metric]["median"])
    per = [r(ga["reps"][k][metric], gb["reps"][k][metric])
           for k in ga["reps"] if k in gb["reps"]]
    per = [p for p in per if p is not None]
    if med is None:
        return None
    return {"median": med, "min": min(per, default=med), "max": max(per, default=med)}


def headline(summary, cfg):
    small = min(cfg["sizes"]) if cfg["sizes"] else 64
    bulk = lambda t: ("xwperf", t, "bulk", HEADLINE_SIZE, 1)  # noqa: E731
    rr = lambda t: ("xwperf", t, "rr", small, 1)  # noqa: E731
    h = {"bulk_size": HEADLINE_SIZE, "rr_size": small, "rows": {}}
    for t in cfg["transports"]:
        h["rows"][t] = {
            "bulk": (summary.get(bulk(t)) or {}).get("gbytes_per_s"),
            "bulk_vs_kernel": ratio(summary, "gbytes_per_s", bulk(t), bulk("kernel")),
            "rtt_p50": (summary.get(rr(t)) or {}).get("rtt_us_p50"),
            "rtt_p99": (summary.get(rr(t)) or {}).get("rtt_us_p99"),
            "rtt_lower_than_kernel": ratio(summary, "rtt_us_p50", rr(t), rr("kernel"),
                                           invert=True),
        }
    zc = ("xwperf", "ring", ZC_MODE, HEADLINE_SIZE, 1)
    if zc in summary:
        h["ring_zc"] = {"bulk": summary[zc].get("gbytes_per_s"),
                        "bulk_vs_kernel": ratio(summary, "gbytes_per_s", zc, bulk("kernel"))}
    ring = h["rows"].get("ring", {})
    for name, r, target in (("bulk", ring.get("bulk_vs_kernel"), BULK_TARGET),
                            ("rtt", ring.get("rtt_lower_than_kernel"), RTT_TARGET)):
        h[f"{name}_target"] = {"target": target, "ratio": r and r["median"],
                               "met": None if r is None else r["median"] >= target}
    return h


# --- formatting ---------------------------------------------------------------

def num(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def cell(st, scale=1.0):
    """median (min-max), or a dash."""
    if not st:
        return "-"
    m, lo, hi = (st[k] * scale for k in ("median", "min", "max"))
    if len(st.get("values", [])) == 1 or num(lo) == num(hi):
        return num(m)
    return f"{num(m)} ({num(lo)}–{num(hi)})"


def xcell(r, lower=False):
    """A ratio; with lower, how many times lower (or, below 1, higher)."""
    if not r:
        return "-"
    med, lo, hi, word = r["median"], r["min"], r["max"], ""
    if lower:
        word = " lower"
        if med < 1:
            med, lo, hi, word = 1 / med, 1 / hi, 1 / lo, " higher"
    if num(lo) == num(hi):
        return f"{num(med)}x{word}"
    return f"{num(med)}x{word} ({num(lo)}–{num(hi)})"


def size_name(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def failed_cell(summary, key, metric, scale=1.0):
    g = summary.get(key)
    if not g:
        return "-"
    c = cell(g.get(metric), scale)
    if g["n_ok"] < g["n"]:
        c += f" **{g['n'] - g['n_ok']}/{g['n']} failed**" if g["n_ok"] else " **failed**"
    return c


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def target_text(h, name, what, lower=False):
    t = h.get(f"{name}_target")
    if not t or t["ratio"] is None:
        return f"{what}: not measured"
    verdict = "met" if t["met"] else "**NOT met**"
    r = {"median": t["ratio"], "min": t["ratio"], "max": t["ratio"]}
    return f"{what} **{xcell(r, lower)}** (target ≥ {t['target']:g}x{' lower' if lower else ''}: {verdict})"


def headline_text(h):
    if not h:
        return ""
    return ("bench: ring vs kernel TCP loopback, same run: "
            + target_text(h, "bulk", f"bulk at {size_name(h['bulk_size'])}").replace("**", "")
            + "; " + target_text(h, "rtt", f"round trip p50 at {size_name(h['rr_size'])}",
                                 lower=True).replace("**", "") + "\n")


def markdown(meta, cfg, summary, samples, h):
    md = []
    tr = cfg["transports"]
    mode = "`make bench QUICK=1` (quick subset)" if cfg["quick"] else "`make bench` (full suite)"
    if cfg.get("custom"):
        mode += " with options (" + ", ".join(cfg["custom"]) + ")"
    md.append("# xway benchmark\n")
    if not meta["status"].startswith("complete"):
        md.append(f"**{meta['status'].upper()}: partial results.**\n")
    md.append(f"{mode}, {meta['date_utc']}, commit `{meta['commit']}`: {cfg['reps']} "
              f"repetition(s) of every point, interleaved (all transports back to back at each "
              f"point); {cfg['seconds']:g} s per xwperf point, {cfg['app_seconds']} s per "
              f"iperf3/sockperf run; {meta['wall_seconds']:.0f} s in all. Medians, min–max "
              f"over the repetitions in parentheses.\n")
    la0, la1 = meta["loadavg_start"], meta["loadavg_end"]
    md.append(f"Machine: {meta['nproc']} × {meta['cpu_model']}, Linux {meta['kernel']}, "
              f"{meta['os']}; load average {la0[0]:.2f} at the start, {la1[0]:.2f} at the end.\n")
    if cfg["xwperf"]:
        md.append("Ring vs kernel TCP over loopback, same run: "
                  + target_text(h, "bulk", f"bulk at {size_name(h['bulk_size'])}") + "; "
                  + target_text(h, "rtt", f"round trip p50 at {size_name(h['rr_size'])}",
                                lower=True) + ".\n")
        md.append(markdown_xwperf(cfg, summary, h, tr))
    if cfg["apps"]:
        md.append(markdown_apps(cfg, summary))
    if meta.get("switch"):
        md.append(markdown_switch(meta["switch"]))
    md.append(markdown_failures(samples))
    if cfg["xwperf"]:
        md.append("![Throughput vs message size](throughput_vs_size.png)\n"
                  "![Round trip vs message size](rtt_vs_size.png)\n"
                  "![Aggregate throughput vs connections](throughput_vs_conns.png)\n")
    return "\n".join(md)


def markdown_xwperf(cfg, summary, h, tr):
    md = []
    md.append(f"### {size_name(h['bulk_size'])} bulk, 1 connection; "
              f"{size_name(h['rr_size'])} request/response (xwperf, every byte verified)\n")
    rows = []
    for t in tr:
        r = h["rows"][t]
        rows.append([TRANSPORTS[t], cell(r["bulk"]), xcell(r["bulk_vs_kernel"]),
                     cell(r["rtt_p50"]), cell(r["rtt_p99"]),
                     xcell(r["rtt_lower_than_kernel"])])
        if t == "ring" and "ring_zc" in h:
            z = h["ring_zc"]
            rows.append([TRANSPORTS[t] + ", zero-copy (`xwperf --zc`)", cell(z["bulk"]),
                         xcell(z["bulk_vs_kernel"]), "-", "-", "-"])
    md.append(table(["transport", "bulk GB/s", "÷ kernel TCP", "rtt p50 µs", "rtt p99 µs",
                     "kernel TCP p50 ÷ this"], rows))
    md.append("Ratios: above 1 is better than kernel TCP; medians' ratio, then the range of "
              "the ratios within each repetition (run back to back).\n")
    sizes = cfg["sizes"]
    for title, mode, metric in (("Bulk throughput, GB/s, 1 connection", "bulk", "gbytes_per_s"),
                                ("Round trip p50, µs, 1 connection", "rr", "rtt_us_p50"),
                                ("Round trip p99, µs, 1 connection", "rr", "rtt_us_p99")):
        md.append(f"### {title}, by message size\n")
        md.append(table(["transport"] + [size_name(s) for s in sizes],
                        [[TRANSPORTS[t]] + [failed_cell(summary, ("xwperf", t, mode, s, 1), metric)
                                            for s in sizes] for t in tr]))
    conns = cfg["conns"]
    md.append(f"### Aggregate bulk throughput, GB/s, {size_name(HEADLINE_SIZE)} messages, "
              "by parallel connections\n")
    md.append(table(["transport"] + [f"{c}" for c in conns],
                    [[TRANSPORTS[t]] + [failed_cell(summary, ("xwperf", t, "bulk", HEADLINE_SIZE, c),
                                                    "gbytes_per_s") for c in conns] for t in tr]))
    return "\n".join(md)


def markdown_apps(cfg, summary):
    n, x = "native", "xway-run"
    secs = cfg["app_seconds"]
    rows = []
    def row(prog, what, tool, mode, size, metric, lower, conns=1):
        kn, kx = (tool, n, mode, size, conns), (tool, x, mode, size, conns)
        r = ratio(summary, metric, kx, kn, invert=lower)
        rows.append([prog, what, failed_cell(summary, kn, metric), failed_cell(summary, kx, metric),
                     xcell(r)])
    pp, tp = SOCKPERF_PP_SIZE, SOCKPERF_TP_SIZE
    row(f"`iperf3 -c … -t {secs} -J`, 1 stream", "GB/s received", "iperf3", "bulk", IPERF3_LEN,
        "gbytes_per_s", False)
    row(f"`sockperf pp --tcp -m {pp} --full-rtt --data-integrity --mps={SOCKPERF_PP_MPS} "
        f"-t {secs}`", "round trip p50 µs", "sockperf", "rr", pp, "rtt_us_p50", True)
    row("", "round trip p99 µs", "sockperf", "rr", pp, "rtt_us_p99", True)
    row(f"`sockperf tp --tcp -m {tp} -t {secs}`", "GB/s sent", "sockperf", "bulk", tp,
        "gbytes_per_s", False)
    row(f"pre-fork echo server, 2 workers (`tests/fork/prefork block`), {PREFORK_CLIENTS} "
        f"clients, 64 B request/response, {secs} s", "requests/s", "prefork", "rr", 64,
        "transactions_per_s", False, PREFORK_CLIENTS)
    for c in EVLOOP_CLIENTS:
        row(f"event-loop server (`xwperf -s --epoll --kernel`: one thread, epoll), {c} "
            f"client{'s' if c > 1 else ''} (`xwperf --kernel --rr -l 64 -P {c}`), {secs} s",
            "requests/s", "evloop", "rr", 64, "transactions_per_s", False, c)
    row(f"memcached (4 threads, libevent/epoll) and `memcaslap -T {MEMCACHED_THREADS} "
        f"-c {MEMCACHED_CLIENTS} -t {secs}s --verify=0.1`", "requests/s", "memcached", "rr", 0,
        "transactions_per_s", False, MEMCACHED_CLIENTS)
    row(f"nginx, one event-loop process, `sendfile on`, a {SENDFILE_SIZE >> 20} MiB file; "
        "`ab -k -c 1`", "responses/s", "sendfile", "bulk", SENDFILE_SIZE, "transactions_per_s",
        False)
    return ("### Real programs: natively over 127.0.0.1 vs both ends under `xway-run` "
            "(co-resident: the ring)\n\n"
            + table(["program", "measure", "native (kernel TCP)", "under xway-run",
                     "gain under xway-run (>1 better)"], rows)
            + "\nChecks: xwperf verifies every byte; iperf3 carries no pattern, so both ends' "
            "exit status and byte counts; the pre-fork client compares every reply with "
            "its request; memcaslap verifies a tenth of its gets; ab checks every response's "
            "length; sockperf ping-pong checks each reply "
            "(`--data-integrity`) and counts drops, duplicates and reordering; sockperf "
            "throughput reports the sender's rate only. Under xway-run both ends must log "
            "a ring connection.\n")


def markdown_switch(sw):
    m = sw.get("median")
    if not m:
        return "### The switches\n\nNo run succeeded.\n"
    return ("### The switches (a stream's receiver moved away and back: xwayctl sim-move)\n\n"
            + table(["ring GB/s", "TCP GB/s after the move", "ring GB/s after the way back",
                     "move -> first TCP byte, ms", "move back -> first ring byte, ms",
                     "longest stall, ms", "the move itself, ms"],
                    [[f"{m['ring_gbps']:.2f}", f"{m['tcp_gbps']:.2f}", f"{m['back_gbps']:.2f}",
                      f"{m['first_tcp_ms']:.1f}", f"{m['first_ring_ms']:.1f}",
                      f"{m['stall_ms']:.1f}", f"{m['switch_ms']:.1f}"]])
            + f"\nMedians of {len(sw['runs'])} runs ({sw['failed']} failed); every byte "
              "verified.\n")


def markdown_failures(samples):
    bad = [s for s in samples if not s["ok"]]
    if not bad:
        return f"All {len(samples)} runs finished and checked out.\n"
    lines = [f"### Failed runs ({len(bad)} of {len(samples)})\n"]
    for s in bad:
        lines.append(f"- {s['tool']} {s['transport']} {s['mode']} {size_name(s['msglen'])} "
                     f"P{s['conns']} rep {s['rep'] + 1}: {s['error']}")
    return "\n".join(lines) + "\n"


# --- plots --------------------------------------------------------------------

def series(summary, cfg, t, mode, metric, xs, conns_axis):
    rows = []
    for x in xs:
        key = ("xwperf", t, mode, HEADLINE_SIZE if conns_axis else x, x if conns_axis else 1)
        st = (summary.get(key) or {}).get(metric)
        if st:
            rows.append(f"{x} {st['median']} {st['min']} {st['max']}")
    return rows


def plot_script(out, cfg, summary):
    ddir = os.path.join(out, "plot-data")
    os.makedirs(ddir, exist_ok=True)
    sizes, conns = cfg["sizes"], cfg["conns"]
    gp = ["set terminal pngcairo size 1000,640 noenhanced font 'DejaVu Sans,11'",
          "set grid", "set key below horizontal", "set logscale x 2",
          "set offsets graph 0.03, graph 0.03, 0, 0", "set pointsize 1.2"]
    size_tics = ", ".join(f'"{size_name(s)}" {s}' for s in sizes)
    note = f"median of {cfg['reps']}, bars min–max"
    plots = [
        ("throughput_vs_size", "bulk", "gbytes_per_s", sizes, False,
         f"Bulk throughput vs message size, 1 connection\\n{note}", "message size",
         "GB/s (log)",
         f"set xtics ({size_tics})", "set logscale y"),
        ("rtt_vs_size", "rr", "rtt_us_p50", sizes, False,
         f"Round trip vs message size, request/response, 1 connection\\n"
         f"p50 {note}; dashed: p99", "message size (each way)", "round trip, µs (log)",
         f"set xtics ({size_tics})", "set logscale y"),
        ("throughput_vs_conns", "bulk", "gbytes_per_s", conns, True,
         f"Aggregate bulk throughput vs parallel connections, {size_name(HEADLINE_SIZE)} "
         f"messages\\n{note}", "parallel connections", "GB/s, all connections",
         "set xtics (" + ", ".join(f'"{c}" {c}' for c in conns) + ")", "unset logscale y"),
    ]
    for name, mode, metric, xs, conns_axis, title, xl, yl, xtics, ylog in plots:
        gp += [f"set output '{name}.png'", f"set title \"{title}\"", f"set xlabel '{xl}'",
               f"set ylabel '{yl}'", xtics, ylog, "set yrange [0:*]" if ylog.startswith("unset")
               else "set yrange [*:*]"]
        parts = []
        for i, t in enumerate(cfg["transports"]):
            color = COLORS[t]
            rows = series(summary, cfg, t, mode, metric, xs, conns_axis)
            dat = f"{name}-{t}.dat"
            with open(os.path.join(ddir, dat), "w") as f:
                f.write("# x median min max\n" + "\n".join(rows) + "\n")
            if rows:
                parts.append(f"'plot-data/{dat}' using 1:2:3:4 with yerrorlines lw 2 pt {5 + 2 * (i % 4)} "
                             f"lc rgb '{color}' title '{TRANSPORTS[t]}'")
            else:
                parts.append(f"NaN lc rgb '{color}' title '{TRANSPORTS[t]}: no successful run'")
            if metric == "rtt_us_p50":
                rows99 = series(summary, cfg, t, mode, "rtt_us_p99", xs, conns_axis)
                dat99 = f"{name}-{t}-p99.dat"
                with open(os.path.join(ddir, dat99), "w") as f:
                    f.write("# x median min max\n" + "\n".join(rows99) + "\n")
                if rows99:
                    parts.append(f"'plot-data/{dat99}' using 1:2 with lines lw 1 dt 2 "
                                 f"lc rgb '{color}' notitle")
        gp.append("plot " + ", \\\n     ".join(parts))
    path = os.path.join(out, "plots.gp")
    with open(path, "w") as f:
        f.write("# Redraw: cd to this directory, then gnuplot plots.gp\n" + "\n".join(gp) + "\n")
    return path


def draw(out, cfg, summary, procs):
    """The PNGs; None, or what went wrong."""
    for name in ("throughput_vs_size", "rtt_vs_size", "throughput_vs_conns"):
        try:
            os.unlink(os.path.join(out, name + ".png"))
        except FileNotFoundError:
            pass
    if not cfg["xwperf"]:
        return None
    script = plot_script(out, cfg, summary)
    rc, _, err = procs.run(["sh", "-c", f"cd '{out}' && exec gnuplot plots.gp"], timeout=60)
    return None if rc == 0 else f"gnuplot failed ({rc}): {err.strip()[-500:]} ({script})"


def write_all(out, meta, cfg, samples, procs):
    summary = summarize(samples)
    h = headline(summary, cfg) if cfg["xwperf"] else None
    plot_error = draw(out, cfg, summary, procs)
    if plot_error:
        meta["plot_error"] = plot_error
    flat = [{"tool": k[0], "transport": k[1], "mode": k[2], "msglen": k[3], "conns": k[4],
             "runs": g["n"], "ok": g["n_ok"], "errors": g["errors"],
             **{m: {x: g[m][x] for x in ("median", "min", "max")} for m in METRICS if m in g}}
            for k, g in summary.items()]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"machine": meta, "config": cfg, "headline": h, "summary": flat,
                   "samples": samples}, f, indent=1, default=str)
        f.write("\n")
    cols = ["tool", "transport", "mode", "msglen", "conns", "rep", "ok", "gbytes_per_s",
            "rtt_us_p50", "rtt_us_p99", "transactions_per_s", "path", "verified", "error"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(samples)
    text = markdown(meta, cfg, summary, samples, h or {})
    if plot_error:
        text += f"\n**Plots: {plot_error}**\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    return h
