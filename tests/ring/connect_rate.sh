#!/bin/bash
# Connection setup on the ring: 500 connections one after another (connect with
# the negotiation, hello, result, EOF, close) all take the ring, complete and
# verify; the rate is printed next to the kernel's loopback connect rate.
source "$(dirname "$0")/../lib.sh"
ring_env "$@"

bg "$WORK/srv.log" on_hub 10.77.66.1/24 timeout 100 "$XWPERF" -s -1
wait_line "$WORK/srv.log" listening 10 $LAST_PID
out=$(on_hub 10.77.66.2/24 timeout 60 "$XWPERF" -c 10.77.66.1 --connect-rate 500 --timeout 40 --json) ||
    die "client exit $? ($out) - sequential ring connections did not complete"
echo "$out"
json_expect "$out" verified true
json_expect "$out" path '"ring"'
json_expect "$out" connections 500
port=$(free_port)
bg "$WORK/ksrv.log" timeout 100 "$XWPERF" -s -1 --kernel -B 127.0.0.1 -p $port
wait_line "$WORK/ksrv.log" listening 10 $LAST_PID
kout=$(timeout 60 "$XWPERF" -c 127.0.0.1 -p $port --kernel --connect-rate 500 --json) || die "kernel: $kout"
echo "$kout"
python3 -c 'import json,sys; r, k = (json.loads(a)["connects_per_s"] for a in sys.argv[1:]); print("ring/kernel connect rate: %.2f" % (r / k))' "$out" "$kout"
echo PASS
