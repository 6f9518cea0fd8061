#!/bin/bash
# A peer whose domain dies without a word, as seen from a guest (the sim with
# XWAY_SIM_LIVENESS=guest: another domain's life cannot be seen, nothing is
# notified): the peer process is stopped (SIGSTOP plays the destroyed domain,
# where nothing runs), and the survivor's blocked recv ends with
# ECONNRESET within 5 s, told by the missing heartbeats.  Where the peer's
# life can be seen (the default: a sim domain is its process), a stopped peer
# is alive, as a process in a debugger is: its connection stays.
source "$(dirname "$0")/../lib.sh"
ring_env "$@"
LIVE=$BUILD/tests/xen/xwt_live
[ -x "$LIVE" ] || die "$LIVE not built"
XW_DIE_SHOW="$WORK/*.log"

# MODE PORT: server and client on the ring; stop the client; the server's
# recv-ended line within SECS (or none).
run() {
    local mode=$1 port=$2 n=$3
    export XWAY_SIM_LIVENESS=$mode
    bg "$WORK/$mode-srv.log" on_hub 10.77.91.1/24 timeout 60 "$LIVE" server $port
    local srv=$LAST_PID
    wait_line "$WORK/$mode-srv.log" listening 10 $srv
    bg "$WORK/$mode-cli.log" on_hub 10.77.91.$n/24 timeout 60 "$LIVE" client 10.77.91.1 $port
    local cli=$LAST_PID
    wait_line "$WORK/$mode-cli.log" "connected, path ring" 10 $cli
    wait_line "$WORK/$mode-srv.log" "marker received, path ring" 10 $srv
    sleep 1
    T0=$("$LIVE" now)
    local victim
    victim=$(pgrep_here -f "xwt_live client 10.77.91.1 $port") || die "no client process"
    kill -STOP $victim
    wait_for "$WORK/$mode-srv.log" recv-ended 8 $srv
    local rc=$?
    kill -CONT $victim
    kill $cli $srv 2>/dev/null
    return $rc
}

run guest 7301 2 || die "guest liveness: the stopped peer's connection did not end"
grep -q "err=Connection reset by peer" "$WORK/guest-srv.log" || die "guest: $(cat "$WORK/guest-srv.log")"
d=$(awk -v a="$T0" '/recv-ended/ { sub(/.*at=/, ""); print $0 - a }' "$WORK/guest-srv.log")
awk -v d="$d" 'BEGIN { exit !(d >= 2.5 && d <= 5) }' ||
    die "guest: the error came ${d}s after the stop (want 3-5 s: the heartbeats' timeout)"
echo "ok: guest liveness: a stopped peer (a destroyed domain) reset the connection after ${d}s"

if run process 7302 3; then
    die "process liveness: a stopped (living) peer's connection ended: $(cat "$WORK/process-srv.log")"
fi
echo "ok: process liveness: a stopped peer's connection stays (8 s)"
