# Shared by the ring script tests: tests/stack/lib.sh (XWPERF, $HUB, $WORK, bg,
# wait_line, json_get, on_hub, fail) plus a fresh sim host $SIMHOST (removed at
# exit) that every stack started here shares, with the sim backend on.
export XWAY_BACKEND=sim
source "$(dirname "${BASH_SOURCE[0]}")/../stack/lib.sh"
SIMHOST=$(mktemp -d /dev/shm/xwt-host-XXXXXX)
export XWAY_HOST=$SIMHOST
EXTRA_CLEANUP="rm -rf '$SIMHOST'${EXTRA_CLEANUP:+; $EXTRA_CLEANUP}"

# json_expect JSON KEY VALUE: the JSON-encoded value of KEY is VALUE.
json_expect() {
    local got
    got=$(json_get "$1" "$2") || fail "no key $2 in: $1"
    [ "$got" = "$3" ] || fail "$2 is $got, want $3: $1"
}

# json_check JSON PYEXPR: a python expression over o (the parsed JSON) is true.
json_check() {
    python3 -c 'import json,sys; o=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' \
        "$1" "$2" || fail "not ($2): $1"
}
