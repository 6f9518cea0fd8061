#!/bin/bash
# xway's first contact (`make demo`).  On this one machine: kernel TCP over
# 127.0.0.1 as the yardstick; on a private hub, two co-resident domains (one sim
# host: the shared-memory ring), a domain on a second sim host (TCP, not
# co-resident), a client with the backend off (TCP); as root, the stack over a TAP
# device in a network namespace of its own against a Linux-kernel peer (TCP, the
# kernel does not answer the option).  Each pair runs a verified bulk transfer
# and a 1-byte request/response; one table at the end.  Everything it starts or
# creates (processes, namespace, TAP, hub, sim hosts) is removed on exit, also
# when interrupted.  Traffic stays on the hub, 127.0.0.1 and that namespace.
# Usage: scripts/demo.sh [BUILD_DIR]
# Exit status: 0 all verified and every pair took its expected path; 1 otherwise;
# 2 setup error; 130/143 interrupted.
source "$(dirname "$0")/../tests/lib.sh"
BUILD=${1:-build}
XWPERF=$BUILD/apps/xwperf/xwperf
BULK_S=2 # seconds of bulk transfer per pair
RR_S=1   # seconds of request/response per pair
[ -x "$XWPERF" ] || { echo "demo: $XWPERF not built (make demo builds it)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "demo: needs python3 (scripts/install-deps.sh)" >&2; exit 2; }

# tests/lib.sh stops every process started with bg (servers and clients, each
# with its whole tree) and removes the namespace, TAP, hub and sim hosts at exit.
trap 'echo; echo "demo: interrupted, cleaning up" >&2; exit 130' INT HUP
TAP=xwdemo0

xw_tmpdir WORK /tmp/xwdemo-XXXXXX
# Two sim hosts (tmpfs directories): processes that share one are co-resident
# domains, as if on one Xen host; the two hosts are different physical machines.
xw_simhost HOST_A xwdemo-hostA-
xw_simhost HOST_B xwdemo-hostB-
HUB=$WORK/hub
mkdir "$HUB"
export XWAY_HOST=$HOST_A # every xway process names its sim host; none uses the default

# summary KIND JSONFILE: one line about a finished xwperf run.
summary() {
    python3 - "$@" "$BULK_S" "$RR_S" <<'PY'
import json, sys
kind, path, bulk_s, rr_s = sys.argv[1:5]
try:
    d = json.loads(open(path).read().strip().splitlines()[-1])
except Exception:
    d = {}
f = lambda k, fmt: "-" if d.get(k) is None else format(d[k], fmt)
ok = "verified" if d.get("verified") else "NOT VERIFIED"
if kind == "bulk":
    print(f"     bulk {bulk_s} s, 64 KiB sends: {f('gbytes_per_s', '.3f')} GB/s; "
          f"path {d.get('path')}, fallback {d.get('fallback')}; {ok}")
else:
    print(f"     request/response {rr_s} s, 1 byte each way: rtt p50 {f('rtt_us_p50', '.1f')} us, "
          f"p99 {f('rtt_us_p99', '.1f')} us; {ok}")
PY
}

# client ROW KIND CMD...: one xwperf client run (in the background, so that an
# interrupt is handled at once); its JSON in $WORK/ROW.KIND.json.  Prints a line.
client() {
    local row=$1 kind=$2 rc=0; shift 2
    local out=$WORK/$row.$kind.json
    bg -e "$WORK/$row.$kind.err" "$out" "$@" --json --timeout 20
    wait "$LAST_PID" || rc=$?
    if [ "$rc" != 0 ] && ! grep -q '"verified"' "$out"; then
        echo "     $kind: FAILED (xwperf exit $rc): $(tr '\n' ' ' <"$WORK/$row.$kind.err")"
        return 0
    fi
    summary "$kind" "$out"
}

# pair ROW CMD...: the bulk and request/response runs of one row.
pair() {
    local row=$1; shift
    client "$row" bulk "$@" -t "$BULK_S" -l 64K
    client "$row" rr "$@" -t "$RR_S" --rr
}

ROWS=() # name|expected path|expected fallback|file stem, for the table

echo "== xway demo: a userspace TCP/IP stack (lwIP) whose connections switch to a"
echo "   shared-memory ring when both ends are co-resident (same Xen host; here a"
echo "   'sim host' directory).  Every byte of every transfer is verified."
echo "   hub $HUB, sim hosts $(basename "$HOST_A") and $(basename "$HOST_B")"
echo

# The yardstick: the kernel's own TCP over loopback.  A free port: retry a few.
echo "-- kernel TCP over 127.0.0.1: two kernel sockets, the baseline for 'vs kernel'"
for try in 1 2 3 4 5; do
    KPORT=$((20000 + RANDOM % 30000))
    bg "$WORK/kserver.log" timeout 120 "$XWPERF" -s --kernel -B 127.0.0.1 -p "$KPORT"
    wait_for "$WORK/kserver.log" listening 10 "$LAST_PID" && break
    [ "$try" = 5 ] && { cat "$WORK/kserver.log" >&2; echo "demo: kernel server did not start" >&2; exit 2; }
    stop_all # most likely the port was taken: another one
done
pair kernel timeout 60 "$XWPERF" --kernel -c 127.0.0.1 -p "$KPORT"
ROWS+=("kernel 127.0.0.1|kernel|none|kernel")

# The xway server, domain A1: on sim host A, on the hub at 10.77.100.1.
bg "$WORK/server.log" env XWAY_LINK="hub:$HUB" XWAY_ADDR=10.77.100.1/24 \
    timeout 120 "$XWPERF" -s
wait_for "$WORK/server.log" listening 10 "$LAST_PID" ||
    { cat "$WORK/server.log" >&2; echo "demo: xway server did not start" >&2; exit 2; }
# hubclient ADDR ENV...: in HC, the command of an xway client on the hub at ADDR.
hubclient() {
    local addr=$1; shift
    HC=(env XWAY_LINK="hub:$HUB" XWAY_ADDR="$addr/24" "$@" timeout 60 "$XWPERF" -c 10.77.100.1)
}

echo "-- an xwperf server runs in domain A1 (sim host A) on the hub, 10.77.100.1"
echo "-- co-resident: client domain A2 is on sim host A too; its SYN says 'xway"
echo "   capable', A1 answers, they map a ring: the payload skips TCP"
hubclient 10.77.100.2 XWAY_HOST="$HOST_A"
pair ring "${HC[@]}"
ROWS+=("A1 <-> A2 co-resident|ring|none|ring")

echo "-- second sim host: client domain B1 is on sim host B (another Xen host)."
echo "   Same hub, both offer the ring, but they are not co-resident: lwIP TCP"
hubclient 10.77.100.3 XWAY_HOST="$HOST_B"
pair otherhost "${HC[@]}"
ROWS+=("A1 <-> B1 2nd sim host|tcp|not-co-resident|otherhost")

echo "-- backend off: client domain A3 (sim host A) runs with XWAY_BACKEND=off and"
echo "   sends no option in its SYN: lwIP TCP although co-resident"
hubclient 10.77.100.4 XWAY_HOST="$HOST_A" XWAY_BACKEND=off
pair off "${HC[@]}"
ROWS+=("A1 <-> A3 backend off|tcp|backend-off|off")

# A Linux-kernel peer: a TAP device in a network namespace created here.
KPEER_NOTE="" KPEER_INFO="" # why the kernel-peer row is missing: an error; a fact
if [ "$(id -u)" = 0 ]; then
    echo "-- kernel peer: in network namespace xwdemo-$$, an xway client on TAP device"
    echo "   $TAP (10.77.101.2) and a kernel-socket server (10.77.101.1); the kernel"
    echo "   does not answer the xway option: TCP"
    NS=xwdemo-$$
    if netns_add "$NS" && at_exit ip netns exec "$NS" ip link del "$TAP" &&
        ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap &&
        ip -n "$NS" addr add 10.77.101.1/24 dev "$TAP" && ip -n "$NS" link set "$TAP" up; then
        bg "$WORK/tserver.log" ip netns exec "$NS" timeout 120 "$XWPERF" -s --kernel -B 10.77.101.1
        if wait_for "$WORK/tserver.log" listening 10 "$LAST_PID"; then
            pair kpeer ip netns exec "$NS" env XWAY_LINK="tap:$TAP" XWAY_ADDR=10.77.101.2/24 \
                timeout 60 "$XWPERF" -c 10.77.101.1
            ROWS+=("xway <-> kernel, TAP|tcp|peer-no-option|kpeer")
        else
            cat "$WORK/tserver.log" >&2
            KPEER_NOTE="kernel-peer row: its kernel server did not start (see above)"
        fi
    else
        KPEER_NOTE="kernel-peer row: cannot create network namespace $NS with a TAP device"
    fi
else
    KPEER_INFO="the kernel-peer row needs root (a TAP device in a network namespace); left out"
    echo "-- kernel peer: $KPEER_INFO"
fi

echo
python3 - "$WORK" "$KPEER_NOTE" "$KPEER_INFO" "${ROWS[@]}" <<'PY'
import json, sys
work, kpeer_note, kpeer_info = sys.argv[1:4]
rows = [r.split("|") for r in sys.argv[4:]]

def load(stem, kind):
    try:
        with open(f"{work}/{stem}.{kind}.json") as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except Exception:
        return None

def num(d, k, fmt):
    return "-" if d.get(k) is None else format(d[k], fmt)

kb = load("kernel", "bulk")
base = kb["gbytes_per_s"] if kb and kb.get("gbytes_per_s") else None
ok_all = True
hdr = (f"{'pair':<26}{'path':<8}{'fallback':<17}{'GB/s':>8}{'rtt p50 us':>12}"
       f"{'rtt p99 us':>12}{'vs kernel':>11}{'verified':>10}")
print(hdr)
print("-" * len(hdr))
notes = []
for name, want_path, want_fb, stem in rows:
    b, r = load(stem, "bulk"), load(stem, "rr")
    if b is None or r is None:
        ok_all = False
        print(f"{name:<26}{'-':<8}{'-':<17}{'-':>8}{'-':>12}{'-':>12}{'-':>11}{'FAILED':>10}")
        continue
    path, fb = b["path"], b.get("fallback", "none")
    verified = b["verified"] and r["verified"]
    as_expected = (path, fb) == (want_path, want_fb) and (r["path"], r.get("fallback", "none")) == (path, fb)
    if not as_expected:
        notes.append(f"{name}: expected path {want_path} ({want_fb}), got {path} ({fb}) / "
                     f"{r['path']} ({r.get('fallback', 'none')})")
    ok_all = ok_all and verified and as_expected
    ratio = f"{b['gbytes_per_s'] / base:.2f}x" if base else "-"
    mark = "" if as_expected else " !"
    print(f"{name:<26}{path + mark:<8}{fb:<17}{num(b, 'gbytes_per_s', '.3f'):>8}"
          f"{num(r, 'rtt_us_p50', '.1f'):>12}{num(r, 'rtt_us_p99', '.1f'):>12}{ratio:>11}"
          f"{('yes' if verified else 'NO'):>10}")
print()
print("GB/s: bulk, one connection, 64 KiB sends; rtt: 1-byte request/response round trips;")
print("vs kernel: bulk throughput over the kernel's 127.0.0.1 row of this run; A1, A2, A3:")
print("domains on sim host A, B1 on sim host B, all on one hub.")
for n in notes:
    print(f"demo: {n}")
if kpeer_info:
    print(f"demo: {kpeer_info}")
if kpeer_note:
    print(f"demo: {kpeer_note}")
    ok_all = False
print("demo: all transfers verified, every pair on its expected path" if ok_all
      else "demo: FAILED (see above)")
sys.exit(0 if ok_all else 1)
PY
