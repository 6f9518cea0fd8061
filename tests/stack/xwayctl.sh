#!/bin/bash
# xwayctl (apps/xwayctl, stack/sock/ctl.c): with a ring connection, a
# not-co-resident TCP connection and a backend-off one alive at once, its text
# and JSON views list all three with the right path, reason and byte counts
# (each client sent one byte); a stack killed with -9 disappears (its socket is
# removed); another user sees none of these stacks; xwperf's ring bulk with
# `xwayctl -i 0.1` running beside it stays verified, and the best of 3 runs
# within 0.5x of the best of 3 without (a loose bound against a pathological
# slowdown, not a benchmark: the figures are printed).  (`xway-run --stats`:
# tests/shim/nc_pipe.sh.)
source "$(dirname "$0")/../lib.sh"
ring_env "$@"
CTL=$BUILD/apps/xwayctl/xwayctl
LIVE=$BUILD/tests/xen/xwt_live
[ -x "$CTL" ] && [ -x "$LIVE" ] || die "xwayctl or xwt_live not built"
export XWAY_CTL_DIR=$WORK/ctl # (other tests' stacks run meanwhile)
XW_DIE_SHOW="$WORK/*.log"
xw_simhost OTHERHOST # a second sim host: not co-resident with the first

# Three servers (one stack each), three clients: ring, not co-resident, backend off.
for i in 1 2 3; do
    bg "$WORK/srv$i.log" on_hub 10.77.92.$i/24 "$LIVE" server 740$i
    wait_line "$WORK/srv$i.log" listening 10 $LAST_PID
done
bg "$WORK/cli1.log" on_hub 10.77.92.11/24 "$LIVE" client 10.77.92.1 7401
bg "$WORK/cli2.log" env XWAY_HOST=$OTHERHOST XWAY_LINK=hub:$HUB XWAY_ADDR=10.77.92.12/24 \
    "$LIVE" client 10.77.92.2 7402
bg "$WORK/cli3.log" env XWAY_BACKEND=off XWAY_LINK=hub:$HUB XWAY_ADDR=10.77.92.13/24 \
    "$LIVE" client 10.77.92.3 7403
for i in 1 2 3; do
    wait_line "$WORK/cli$i.log" connected 10
    wait_line "$WORK/srv$i.log" "marker received" 10
done
grep -q "path ring" "$WORK/cli1.log" && grep -q "path tcp" "$WORK/cli2.log" &&
    grep -q "path tcp" "$WORK/cli3.log" || die "the clients' paths are not ring, tcp, tcp"

"$CTL" > "$WORK/stacks.txt" || die "xwayctl failed"
[ "$(grep -c xwt_live "$WORK/stacks.txt")" = 6 ] || die "xwayctl: want 6 stacks: $(cat "$WORK/stacks.txt")"
"$CTL" conns > "$WORK/conns.txt" || die "xwayctl conns failed"
cat "$WORK/conns.txt"
row() { grep -E "$1" "$WORK/conns.txt" | grep established; }
row "10.77.92.11:[0-9]+ +10.77.92.1:7401" | grep -Eq " ring +none +262144 +1 +0 +0 +0 " ||
    die "text: the ring client's row"
row "10.77.92.1:7401 +10.77.92.11" | grep -Eq " ring +none +262144 +0 +1 +0 +0 " ||
    die "text: the ring server's row"
row "10.77.92.2:7402 +10.77.92.12" | grep -Eq " tcp +not-co-resident +0 +0 +0 +0 +1 " ||
    die "text: the not-co-resident server's row"
row "10.77.92.13:[0-9]+ +10.77.92.3:7403" | grep -Eq " tcp +backend-off +0 +0 +0 +1 +0 " ||
    die "text: the backend-off client's row"
row "10.77.92.3:7403 +10.77.92.13" | grep -Eq " tcp +peer-no-option +0 +0 +0 +0 +1 " ||
    die "text: the backend-off client's server's row"
echo "ok: text: ring, not-co-resident and backend-off connections with their reasons and bytes"

"$CTL" conns --json > "$WORK/conns.json" || die "xwayctl conns --json failed"
python3 - "$WORK/conns.json" <<'EOF' || die "JSON: $(cat "$WORK/conns.json")"
import json, sys
c = [x for x in json.load(open(sys.argv[1]))["connections"] if x["state"] == "established"]
def one(local_port=None, remote_port=None):
    m = [x for x in c if (local_port and x["local"].endswith(":%d" % local_port)) or
         (remote_port and x["remote"].endswith(":%d" % remote_port))]
    assert len(m) >= 1, (local_port, remote_port, c)
    return m
want = {7401: ("ring", "none"), 7402: ("tcp", "not-co-resident"), 7403: ("tcp", "peer-no-option")}
for port, (path, reason) in want.items():
    srv = one(local_port=port)[0]
    cli = one(remote_port=port)[0]
    assert srv["path"] == path and srv["reason"] == reason, srv
    assert cli["path"] == path, cli
    got = srv["ring_rx"] if path == "ring" else srv["tcp_rx"]
    sent = cli["ring_tx"] if path == "ring" else cli["tcp_tx"]
    assert got == 1 and sent == 1, (srv, cli)
    assert isinstance(srv["pid"], int) and srv["switches"] == 0
print("ok: JSON: the three connections, paths, reasons, one byte each")
EOF
"$CTL" stats --json > "$WORK/stats.json" || die "xwayctl stats --json failed"
python3 - "$WORK/stats.json" <<'EOF' || die "stats: $(cat "$WORK/stats.json")"
import json, sys
t = json.load(open(sys.argv[1]))["total"]
assert t["ring"] == 2 and t["tcp"] == 4, t
r = t["reasons"]
assert r.get("not-co-resident") == 2 and r.get("backend-off") == 1 and r.get("peer-no-option") == 1, r
print("ok: stats: 2 ring, 4 tcp, the reasons summed")
EOF
"$CTL" stats --reset > /dev/null && "$CTL" stats --json > "$WORK/stats2.json" &&
    python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; assert t["ring"] == 0 and t["tcp"] == 0 and not t["reasons"], t' \
    "$WORK/stats2.json" || die "stats --reset: $(cat "$WORK/stats2.json")"
echo "ok: stats --reset"

# Killed: gone from the list, its socket removed.
CLI1=$(pgrep_here -f "xwt_live client 10.77.92.1 7401") || die "no ring client process"
kill -9 $CLI1
while kill -0 $CLI1 2>/dev/null; do sleep 0.05; done
"$CTL" --json > "$WORK/after.json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["stacks"]; assert len(s) == 5 and all(x["pid"] != int(sys.argv[2]) for x in s), s' \
    "$WORK/after.json" $CLI1 || die "killed stack still listed: $(cat "$WORK/after.json")"
[ ! -e "$XWAY_CTL_DIR/$CLI1" ] || die "the killed stack's socket was not removed"
echo "ok: a stack killed with -9 is gone, its socket removed"

# Another user: nothing of ours (the directory is ours alone).
setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" --json > "$WORK/nobody.json" ||
    die "xwayctl as nobody failed"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["stacks"] == []' "$WORK/nobody.json" ||
    die "another user sees our stacks: $(cat "$WORK/nobody.json")"
echo "ok: another user sees none of them"

# The data path with xwayctl polling every 0.1 s beside it.
bg "$WORK/perf-srv.log" on_hub 10.77.92.20/24 "$XWPERF" -s -B 10.77.92.20
wait_line "$WORK/perf-srv.log" listening 10 $LAST_PID
bulk() { # best of 3
    for i in 1 2 3; do
        on_hub 10.77.92.21/24 "$XWPERF" -c 10.77.92.20 -n 512M --json |
            python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["verified"] and d["path"] == "ring", d; print(d["gbytes_per_s"])' ||
            return 1
    done | sort -g | tail -1
}
a=$(bulk) || die "bulk without xwayctl"
"$CTL" -i 0.1 conns > /dev/null &
W=$!
b=$(bulk) || { kill $W; die "bulk with xwayctl -i 0.1"; }
kill $W
echo "ring bulk: $a GB/s alone, $b GB/s with xwayctl -i 0.1 conns"
awk -v a="$a" -v b="$b" 'BEGIN { exit !(b >= 0.5 * a) }' || die "xwayctl slowed the ring: $a -> $b GB/s"
echo "ok: xwayctl -i 0.1 beside a ring transfer: still verified, within the loose bound"

