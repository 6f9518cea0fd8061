# Shared by the shim tests: $1 = build dir, $2 = source dir.
# Fresh hub and sim host per test; every background process is killed on exit.
set -euo pipefail
B=$(cd "$1" && pwd)
RUN="$B/shim/xway-run"
T=$(mktemp -d)
export XWAY_LINK="hub:$T/hub" XWAY_HOST=$(mktemp -d /dev/shm/xw-shimtest-XXXXXX) XWAY_LOG=info
mkdir -p "$T/hub"
PIDS=()
# kill_tree PID: PID and every descendant (xway-run, timeout and env wrap the
# real program).
kill_tree() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
    kill "$1" 2>/dev/null || true
}
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill_tree "$p"; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T" "$XWAY_HOST"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.err; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }
# bg CMD...: start in the background (process group leader killed by cleanup)
bg() { "$@" & PIDS+=($!); }
# wait_log FILE PATTERN: until FILE contains PATTERN (10 s)
wait_log() {
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    fail "no '$2' in $1"
}
# ring_used FILE: the stack logged a ring connection in FILE
ring_used() { grep -q "fd [0-9]*: ring path" "$1" || fail "no ring path in $1"; }
