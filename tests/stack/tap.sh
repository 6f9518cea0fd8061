#!/bin/bash
# The stack and the Linux kernel over a TAP device, inside a network namespace this
# test creates: kernel nc and xwperf --kernel against xway servers, and xway
# clients against kernel servers (python3, xwperf --kernel); bytes verified both ways.
# The TAP's offloads are in use (GSO frames of up to 64 KiB both ways, checksums
# left to the kernel); through the kernel as a router, a raw TCP peer on a second
# TAP checks what a wire could send (a wrong checksum is ignored, a 65535-byte
# GSO frame taken whole) and verifies the checksums the kernel completed for the
# stack, and that a window smaller than the stack's next (TSO) segment gets bytes
# at once; with XWAY_TAP_OFFLOAD=off the same device works plain.
source "$(dirname "$0")/../lib.sh"
in_netns "$0" "$@"
stack_env "$@"

tap_up xwtap0 10.77.0.1/24
ip addr add fd77::1/64 dev xwtap0 nodad
ip link show xwtap0 >/dev/null
TAPENV=(env XWAY_LINK=tap:xwtap0 XWAY_ADDR=10.77.0.2/24,fd77::2/64)

head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$WORK/in.bin"
want=$(sha256sum <"$WORK/in.bin" | cut -d' ' -f1)

# tap_counts LOG: the counters of the stack's "tap xwtap0 closed:" line in LOG, in
# RX RX_BAD RX_GSO RX_TRUSTED TX TX_CSUM TX_GSO TX_TSO.
tap_counts() {
    local line re='closed: rx ([0-9]+) \(malformed [0-9]+, bad vnet header ([0-9]+), gso ([0-9]+), checksum trusted ([0-9]+)\), tx ([0-9]+) \(checksum offloaded ([0-9]+), gso ([0-9]+)\), longer than the mtu \(tso\) ([0-9]+),'
    line=$(grep 'tap xwtap0 closed' "$1") || die "no 'tap xwtap0 closed' line in $1: $(cat "$1")"
    [[ $line =~ $re ]] || die "unexpected close line: $line"
    RX=${BASH_REMATCH[1]} RX_BAD=${BASH_REMATCH[2]} RX_GSO=${BASH_REMATCH[3]}
    RX_TRUSTED=${BASH_REMATCH[4]} TX=${BASH_REMATCH[5]} TX_CSUM=${BASH_REMATCH[6]}
    TX_GSO=${BASH_REMATCH[7]} TX_TSO=${BASH_REMATCH[8]}
}

# tso_used LOG WHAT yes|no: lwIP's own segments longer than the MTU went out
# (IPv4 with the offloads: the kernel cuts them), or none did (IPv6).
tso_used() {
    tap_counts "$1"
    if [ "$3" = yes ]; then
        [ "$TX_TSO" -gt 0 ] || die "$2: no segment longer than the MTU sent (TSO unused)"
    else
        [ "$TX_TSO" = 0 ] || die "$2: $TX_TSO segments longer than the MTU sent"
    fi
    echo "$2: $TX_TSO frames of one segment longer than the MTU (TSO)"
}

# offloads_used LOG WHAT [in] [out]: the stack whose log is LOG received GSO frames
# whose checksums the kernel vouched for (in), sent GSO frames and left checksums to
# the kernel (out); no bad virtio-net header.
offloads_used() {
    local log=$1 what=$2; shift 2
    tap_counts "$log"
    [ "$RX_BAD" = 0 ] || die "$what: $RX_BAD frames with a bad virtio-net header"
    for dir in "$@"; do
        if [ "$dir" = in ]; then
            [ "$RX_GSO" -gt 0 ] && [ "$RX_TRUSTED" -gt 0 ] ||
                die "$what: no GSO frame in ($RX_GSO) or no checksum the kernel vouched for ($RX_TRUSTED)"
        else
            [ "$TX_GSO" -gt 0 ] && [ "$TX_CSUM" -gt 0 ] ||
                die "$what: no GSO frame out ($TX_GSO) or no checksum left to the kernel ($TX_CSUM)"
        fi
    done
    echo "$what: offloads used: rx $RX frames ($RX_GSO GSO, $RX_TRUSTED checksums trusted), tx $TX ($TX_GSO GSO, $TX_CSUM checksums offloaded)"
}

# nc_echo NAME on|off [VAR=VALUE...]: kernel nc -> an xway echo server on the
# TAP (its offloads on or off): what comes back is what went out.
nc_echo() {
    local name=$1 mode=$2 pid
    shift 2
    bg "$WORK/$name.log" "${TAPENV[@]}" "$@" XWAY_LOG=info timeout 60 "$ECHO" -s -p 7 -1
    pid=$LAST_PID
    wait_line "$WORK/$name.log" listening 10 $pid
    grep -q "tap xwtap0: attached, mtu 1500, offloads $mode" "$WORK/$name.log" ||
        die "offloads not $mode: $(cat "$WORK/$name.log")"
    timeout 30 nc -N 10.77.0.2 7 <"$WORK/in.bin" >"$WORK/$name.bin" || die "nc exit $?"
    got=$(sha256sum <"$WORK/$name.bin" | cut -d' ' -f1)
    [ "$got" = "$want" ] || die "nc -> xway echo ($name): $(stat -c %s "$WORK/$name.bin") bytes, sha256 differs"
    wait $pid || die "xway echo server exit $?"
}

# 1. kernel nc -> xway echo server: what comes back is what went out
nc_echo echo on
echo "kernel nc -> xway echo server: $(stat -c %s "$WORK/echo.bin") bytes verified"
offloads_used "$WORK/echo.log" "kernel nc -> xway echo" in out

# 2. kernel xwperf --kernel -> xway xwperf server, both ways at once, IPv4 then IPv6
for dst in 10.77.0.2 fd77::2; do
    bg "$WORK/srv.log" "${TAPENV[@]}" XWAY_LOG=info timeout 100 "$XWPERF" -s -1 -v
    pid=$LAST_PID
    wait_line "$WORK/srv.log" listening 10 $pid
    out=$(timeout 60 "$XWPERF" -c "$dst" --kernel --bidir -n 64M --json) || die "xwperf --kernel -> xway $dst: $out"
    echo "$out"
    [ "$(json_get "$out" verified)" = true ] || die "not verified"
    wait $pid || die "xway xwperf server exit $?"
    offloads_used "$WORK/srv.log" "kernel xwperf -> xway $dst, both ways" in out
    case $dst in *:*) tso=no ;; *) tso=yes ;; esac
    tso_used "$WORK/srv.log" "kernel xwperf -> xway $dst, both ways" $tso
done

# 3. xway echo client -> kernel python3 echo server
cat >"$WORK/echo.py" <<'PY'
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.1", 7007)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
while True:
    b = c.recv(65536)
    if not b: break
    c.sendall(b)
c.shutdown(socket.SHUT_WR); c.close()
PY
bg "$WORK/py.log" timeout 60 python3 "$WORK/echo.py"
wait_line "$WORK/py.log" listening 10 $LAST_PID
"${TAPENV[@]}" timeout 30 "$ECHO" -c 10.77.0.1 -p 7007 <"$WORK/in.bin" >"$WORK/out3.bin" || die "xway-echo client exit $?"
got=$(sha256sum <"$WORK/out3.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] || die "xway echo client -> python3: $(stat -c %s "$WORK/out3.bin") bytes, sha256 differs"
echo "xway echo client -> kernel python3 echo: verified"

# 4. xway xwperf client -> kernel xwperf --kernel server, both ways at once, 4 connections
bg "$WORK/ksrv.log" timeout 100 "$XWPERF" -s --kernel -B 10.77.0.1 -p 5302 -1 -v
wait_line "$WORK/ksrv.log" listening 10 $LAST_PID
out=$("${TAPENV[@]}" XWAY_LOG=info timeout 60 "$XWPERF" -c 10.77.0.1 -p 5302 --bidir -n 64M -P 4 --json \
    2>"$WORK/cli4.log") || die "xway -> kernel xwperf: $out $(cat "$WORK/cli4.log")"
echo "$out"
[ "$(json_get "$out" verified)" = true ] || die "not verified"
offloads_used "$WORK/cli4.log" "xway xwperf -> kernel, 4 connections both ways" in out
tso_used "$WORK/cli4.log" "xway xwperf -> kernel, 4 connections both ways" yes

# 5. Through the kernel as a router (tap_raw_peer.py says what it checks): IPv4, IPv6
tap_up xwtap9 10.77.9.1/24
ip addr add fd79::1/64 dev xwtap9 nodad
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip neigh add 10.77.9.2 lladdr 02:00:00:77:09:02 dev xwtap9 nud permanent
ip -6 neigh add fd79::2 lladdr 02:00:00:77:09:02 dev xwtap9 nud permanent
for fam in 4 6; do
    if [ $fam = 4 ]; then peer=10.77.9.2 stack=10.77.0.2; else peer=fd79::2 stack=fd77::2; fi
    bg "$WORK/raw$fam.log" "${TAPENV[@]}" XWAY_GW=10.77.0.1,fd77::1 XWAY_LOG=info \
        timeout 60 "$ECHO" -s -B "$stack" -p 7 -1
    pid=$LAST_PID
    wait_line "$WORK/raw$fam.log" listening 10 $pid
    timeout 60 python3 "$(dirname "$0")/tap_raw_peer.py" xwtap9 $fam $peer $stack 7 ||
        die "raw peer (IPv$fam) exit $?: $(cat "$WORK/raw$fam.log")"
    wait $pid || die "xway echo server exit $?"
    offloads_used "$WORK/raw$fam.log" "raw peer (IPv$fam) -> xway echo" in out
done
# ... and, IPv4 with TSO, a window smaller than the stack's next segment
bg "$WORK/raww.log" "${TAPENV[@]}" XWAY_GW=10.77.0.1,fd77::1 XWAY_LOG=info \
    timeout 60 "$ECHO" -s -B 10.77.0.2 -p 7 -1
pid=$LAST_PID
wait_line "$WORK/raww.log" listening 10 $pid
timeout 60 python3 "$(dirname "$0")/tap_raw_peer.py" xwtap9 4 10.77.9.2 10.77.0.2 7 window ||
    die "raw peer (window) exit $?: $(cat "$WORK/raww.log")"
wait $pid || die "xway echo server exit $?"
tso_used "$WORK/raww.log" "raw peer (IPv4, window) -> xway echo" yes

# 6. XWAY_TAP_OFFLOAD=off on the same device: plain frames, checksums in software
# (and the offloads the runs above turned on were turned off when they closed: a
# plain reader would get GSO frames it cannot take, and this would not get through)
nc_echo plain off XWAY_TAP_OFFLOAD=off
tap_counts "$WORK/plain.log"
[ "$RX_GSO$RX_TRUSTED$TX_CSUM$TX_GSO" = 0000 ] ||
    die "XWAY_TAP_OFFLOAD=off but offloads used: $(grep closed "$WORK/plain.log")"
echo "XWAY_TAP_OFFLOAD=off: kernel nc -> xway echo, $RX frames in, $TX out, no offload: verified"
if "${TAPENV[@]}" XWAY_TAP_OFFLOAD=maybe timeout 10 "$ECHO" -c 10.77.0.1 -p 7007 </dev/null \
    >/dev/null 2>"$WORK/bad.log"; then
    die "XWAY_TAP_OFFLOAD=maybe accepted"
fi
grep -q 'XWAY_TAP_OFFLOAD=maybe: must be on or off' "$WORK/bad.log" || die "no reason given: $(cat "$WORK/bad.log")"
echo "XWAY_TAP_OFFLOAD=maybe: refused"
echo PASS
