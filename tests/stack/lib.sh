# Shared by the stack's script tests.  Source after setting BUILD=$1.
# Gives: XWPERF, ECHO, a fresh hub dir $HUB, a work dir $WORK, cleanup of every
# background process started with bg (trap), and small assertion helpers.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
XWPERF=$BUILD/apps/xwperf/xwperf
ECHO=$BUILD/apps/examples/xway-echo
[ -x "$XWPERF" ] || { echo "FAIL: $XWPERF not built"; exit 1; }
[ -x "$ECHO" ] || { echo "FAIL: $ECHO not built"; exit 1; }
WORK=$(mktemp -d /tmp/xwt-XXXXXX)
HUB=$WORK/hub
mkdir -p "$HUB"
BG_PIDS=()
# These tests are about the stack's TCP path: no ring unless asked for.
export XWAY_BACKEND=${XWAY_BACKEND:-off}

# kill_tree PID: PID and every descendant (wrappers such as timeout or env
# would otherwise leave the real program running).
kill_tree() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
    kill -9 "$1" 2>/dev/null || true
}

cleanup() {
    local p
    for p in "${BG_PIDS[@]:-}"; do
        [ -n "$p" ] && kill_tree "$p"
    done
    [ -n "${EXTRA_CLEANUP:-}" ] && eval "$EXTRA_CLEANUP"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }

# bg LOG CMD...: start CMD in the background (stdout+stderr to LOG), remember it.
bg() {
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    BG_PIDS+=($!)
    LAST_PID=$!
}

# wait_line LOG PATTERN SECS: wait until LOG contains PATTERN.
wait_line() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "--- $1:"; cat "$1" || true
    fail "no '$2' in $1 after $3 s"
}

# json_get JSON KEY: a top-level value of xwperf's one-line JSON.
json_get() {
    python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(json.dumps(v))' "$1" "$2"
}

# on_hub ADDR CMD...: run CMD with a stack on $HUB at ADDR.
on_hub() {
    local addr=$1; shift
    XWAY_LINK=hub:$HUB XWAY_ADDR=$addr "$@"
}
