# The one shell harness of the tests (tests/*/*.sh) and scripts/demo.sh.
# Source it first: it turns on errexit, nounset and pipefail, and everything a
# script starts or creates with it is removed at exit, also when interrupted.
#
#   die MSG                  "FAIL: MSG" on stderr (and the tails of $XW_DIE_SHOW,
#                            a glob of logs), exit 1.  There is no skip.
#   bg [-e ERR] LOG CMD...   CMD in the background, stdout and stderr to LOG (stderr
#                            to ERR with -e); its pid in LAST_PID, stopped at exit
#   track PID                remember a process started otherwise (stopped at exit)
#   kill_tree [-SIG] PID     PID and every descendant (default SIGKILL)
#   stop_all                 every remembered process: TERM to its whole tree, KILL
#                            to what is left after 2 s, quietly; forgets them
#   at_exit CMD...           run CMD at exit, after the processes stopped, before the
#                            directories go; the last registered runs first
#   xw_tmpdir VAR [TEMPLATE] a fresh directory (mktemp -d TEMPLATE) in VAR, removed
#                            at exit
#   xw_simhost VAR [PREFIX]  a fresh sim host directory under /dev/shm in VAR,
#                            removed at exit
#   wait_for LOG PAT SECS [PID]   until LOG matches PAT (grep regex): 0; 1 after
#                            SECS or as soon as PID died without writing it
#   wait_line LOG PAT SECS [PID]  the same, or die showing LOG
#   json_get JSON KEY        a top-level value of a one-line JSON (xwperf --json),
#                            JSON-encoded
#   json_expect JSON KEY VAL the JSON-encoded value of KEY is VAL, or die
#   json_check JSON PYEXPR   a python expression over o (the parsed JSON), or die
#   in_netns "$0" "$@"       re-execute the script, as root, in a network namespace
#                            of its own (it dies with the script); lo up
#   tap_up IF CIDR           a TAP device IF in this namespace, the kernel's side at CIDR
#   netns_add NAME           a named network namespace (lo up), deleted at exit
#
# Set-ups of the areas (each takes the build directory, $1 of every CTest script):
#   stack_env BUILD  XWPERF, ECHO, a work dir $WORK with a hub $HUB, on_hub,
#                    XWAY_BACKEND=off unless set
#   ring_env BUILD   stack_env with the sim backend on a fresh sim host $SIMHOST
#                    (exported as XWAY_HOST)
#   shim_env "$@"    (the script's own arguments: BUILD first) re-executes the
#                    script in a network namespace of its own (in_netns: the
#                    kernel ports the programs and the twin listeners take are
#                    the test's alone), then RUN (xway-run), $WORK, XWAY_LINK on
#                    the hub $HUB, a fresh XWAY_HOST, XWAY_LOG=info, ring_used
set -euo pipefail

XW_PIDS=()    # processes to stop at exit
XW_DIRS=()    # directories to remove at exit
XW_AT_EXIT=() # commands to run at exit (eval'd)
XW_DIE_SHOW=""
LAST_PID=""

die() {
    local f
    echo "FAIL: $*" >&2
    for f in $XW_DIE_SHOW; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
    done
    exit 1
}

bg() {
    local err=""
    [ "$1" = -e ] && { err=$2; shift 2; }
    local log=$1; shift
    if [ -n "$err" ]; then
        "$@" >"$log" 2>"$err" &
    else
        "$@" >"$log" 2>&1 &
    fi
    LAST_PID=$!
    XW_PIDS+=("$LAST_PID")
}

track() { LAST_PID=$1; XW_PIDS+=("$1"); }

# xw_tree PID: PID and its descendants, parents first.
xw_tree() {
    local c
    echo "$1"
    for c in $(pgrep -P "$1" 2>/dev/null); do xw_tree "$c"; done
}

kill_tree() {
    local sig=-KILL
    [[ $1 == -* ]] && { sig=$1; shift; }
    # Take the whole tree before signalling: once a parent dies, its children
    # belong to init and are no longer found under it.
    kill "$sig" $(xw_tree "$1") 2>/dev/null || true
}

stop_all() {
    local p i alive pids=()
    for p in "${XW_PIDS[@]}"; do
        pids+=($(xw_tree "$p"))
    done
    {
        if [ ${#pids[@]} -gt 0 ]; then
            kill -TERM "${pids[@]}"
            for ((i = 0; i < 20; i++)); do
                alive=""
                for p in "${pids[@]}"; do kill -0 "$p" && { alive=1; break; }; done
                [ -z "$alive" ] && break
                sleep 0.1
            done
            [ -n "$alive" ] && kill -KILL "${pids[@]}"
        fi
        for p in "${XW_PIDS[@]}"; do wait "$p"; done
    } 2>/dev/null || true
    XW_PIDS=()
}

at_exit() { XW_AT_EXIT+=("$*"); }

xw_tmpdir() {
    local d
    d=$(mktemp -d ${2:+"$2"}) || die "mktemp -d ${2:-}"
    XW_DIRS+=("$d")
    printf -v "$1" %s "$d"
}

xw_simhost() { xw_tmpdir "$1" "/dev/shm/${2:-xwt-host-}XXXXXX"; }

xw_cleanup() {
    local i
    set +e
    trap '' INT TERM HUP
    stop_all
    for ((i = ${#XW_AT_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${XW_AT_EXIT[i]}" >/dev/null 2>&1
    done
    for i in "${XW_DIRS[@]}"; do rm -rf "$i"; done
}
trap xw_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# free_port: a loopback TCP port free now, below the kernel's ephemeral range
# (other tests' connections take ports there at any moment: a port picked in
# it collided with one, "Address already in use").
free_port() {
    python3 -c '
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randrange(10000, max(10001, lo))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
'
}
wait_for() {
    local log=$1 pat=$2 secs=$3 pid=${4:-} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qs -e "$pat" "$log" && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            grep -qs -e "$pat" "$log" # it may have written it just before it ended
            return
        fi
        sleep 0.1
    done
    return 1
}

wait_line() {
    wait_for "$@" && return 0
    local why="after $3 s"
    [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && why="(process $4 ended)"
    echo "--- $1:" >&2
    cat "$1" >&2 || true
    die "no '$2' in $1 $why"
}

json_get() {
    python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(json.dumps(v))' "$1" "$2"
}

json_expect() {
    local got
    got=$(json_get "$1" "$2") || die "no key $2 in: $1"
    [ "$got" = "$3" ] || die "$2 is $got, want $3: $1"
}

json_check() {
    python3 -c 'import json,sys; o=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' \
        "$1" "$2" || die "not ($2): $1"
}

in_netns() {
    if [ -z "${XWT_IN_NETNS:-}" ]; then
        [ "$(id -u)" = 0 ] || die "needs root (CI runs as root)"
        exec env XWT_IN_NETNS=1 unshare --net bash "$@"
    fi
    ip link set lo up
    # The tests' fixed ports are below 50000: the kernel's own ephemeral ports
    # in this namespace (the shim's kernel twins, clients' connects) stay above
    # them (one took a listener's port 41630: "Address already in use").
    echo "50000 60999" >/proc/sys/net/ipv4/ip_local_port_range
}

tap_up() {
    ip tuntap add dev "$1" mode tap && ip addr add "$2" dev "$1" && ip link set "$1" up
}

netns_add() {
    ip netns add "$1" || return
    at_exit ip netns delete "'$1'"
    ip -n "$1" link set lo up
}

# ---- the areas' set-ups ----------------------------------------------------------

stack_env() {
    BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
    XWPERF=$BUILD/apps/xwperf/xwperf
    ECHO=$BUILD/apps/examples/xway-echo
    [ -x "$XWPERF" ] || die "$XWPERF not built"
    [ -x "$ECHO" ] || die "$ECHO not built"
    xw_tmpdir WORK /tmp/xwt-XXXXXX
    HUB=$WORK/hub
    mkdir -p "$HUB"
    # These tests are about the stack's TCP path: no ring unless asked for.
    export XWAY_BACKEND=${XWAY_BACKEND:-off}
}

# on_hub ADDR CMD...: run CMD with a stack on $HUB at ADDR.
on_hub() {
    local addr=$1; shift
    XWAY_LINK=hub:$HUB XWAY_ADDR=$addr "$@"
}

ring_env() {
    export XWAY_BACKEND=sim
    stack_env "$@"
    xw_simhost SIMHOST
    export XWAY_HOST=$SIMHOST
}

shim_env() {
    in_netns "$0" "$@"
    BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
    RUN=$BUILD/shim/xway-run
    xw_tmpdir WORK
    HUB=$WORK/hub
    mkdir -p "$HUB"
    xw_simhost XWAY_HOST xw-shimtest-
    export XWAY_LINK="hub:$HUB" XWAY_HOST XWAY_LOG=info
    XW_DIE_SHOW="$WORK/*.err"
}

# ring_used FILE: the stack logged a ring connection in FILE.
ring_used() { grep -q "fd [0-9]*: ring path" "$1" || die "no ring path in $1"; }

# pgrep_here ARGS...: pgrep among the processes of this test's network
# namespace (its own under in_netns): a second suite running on the machine
# at the same time has processes with the same command lines.
pgrep_here() { pgrep --ns $$ --nslist net "$@"; }
