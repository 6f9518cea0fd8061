#!/bin/busybox sh
# /init of the stack tests' PV guests (xen_two_guests_stack, and xen_migrate
# with xwmode=migrate: see srv_migrate and cli_migrate).  Each guest has
# eth0 (netfront, a vif on dom0's bridge) in a bridge br0 with TAP devices:
# the guest kernel's own address is on br0, each xway stack has a TAP device
# of its own (its own MAC and address), so the stacks and the kernel share the
# Xen network without taking each other's packets.
#   srv (10.77.50.1; stacks .11 xwperf, .12 xwt_live, .13 nc, .15 forking servers)
#   cli (10.77.50.2; stacks .21 xwperf, .22 xwt_live killed, .23 nc,
#        .24 xwt_live destroyed: not .22 again, whose new stack would answer
#        the survivor's segments for the killed one with a reset),
#        .25 the forking servers' client)
#   migrate: srv .11 xwperf; cli .21 the client saved mid-stream, .22 the new
#        client after the restore (not .21: the saved one's stack comes back)
# The guests meet in xenstore (/xt, writable by every domain).  Verdicts are
# "XWT: ALL PASS prog=P role=R" / "XWT: FAIL ..." lines (run-qemu.sh).
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /tmp /dev/net
up() { cut -d' ' -f1 /proc/uptime; }
ROLE=$(sed -n 's/.*xwrole=\([a-z]*\).*/\1/p' /proc/cmdline)
MODE=$(sed -n 's/.*xwmode=\([a-z]*\).*/\1/p' /proc/cmdline)
echo "DU: USERLAND-START role=$ROLE uptime=$(up)"
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc xen-netfront tun llc stp bridge; do
  insmod /modules/$m.ko || echo "DU: insmod $m FAILED"
done
mount -t xenfs xenfs /proc/xen || echo "DU: xenfs mount FAILED"
[ -c /dev/net/tun ] || mknod /dev/net/tun c 10 200
if [ "$ROLE" = srv ]; then ME=1; else ME=2; fi
i=0; while ! ip link show eth0 >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
brctl addbr br0 && brctl addif br0 eth0 && ip link set eth0 up &&
  ip addr add 10.77.50.$ME/24 dev br0 && ip link set br0 up || echo "DU: br0 FAILED"
for t in 0 1 2 3 4; do
  tunctl -t xw$t >/dev/null && brctl addif br0 xw$t && ip link set xw$t up || echo "DU: xw$t FAILED"
done
# Why the stacks need heartbeats here: another guest's domain is invisible.
for d in 1 2; do
  echo "DU: xenstore-read /local/domain/$d: $(xenstore-read /local/domain/$d 2>&1 | head -1)"
done
export XWAY_BACKEND=xen XWAY_LOG=info
stack() { # N: the environment of this guest's Nth stack (TAP xwN)
  echo "XWAY_LINK=tap:xw$1 XWAY_ADDR=10.77.50.$ME$(($1 + 1))/24"
}
pass() { echo "XWT: ALL PASS prog=$1 role=$ROLE"; }
fail() { echo "XWT: FAIL prog=$1 role=$ROLE: $2"; }
key() { xenstore-read "/xt/$1" 2>/dev/null; }
wait_key() { # KEY SECONDS
  local i=0
  while [ -z "$(key "$1")" ] && [ $i -lt $(($2 * 5)) ]; do sleep 0.2; i=$((i+1)); done
  [ -n "$(key "$1")" ]
}
json() { # FILE FIELD: a field of xwperf's one-line JSON
  sed -n "s/.*\"$2\": \"\{0,1\}\([^,\"}]*\).*/\1/p" "$1"
}
show() { sed "s/^/DU: $1: /" "$2"; }
seen_at() { # KEY FILE: this domain's clock when KEY shows up (looked for every 0.1 s, 60 s)
  local i=0
  while [ -z "$(key "$1")" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
  [ -n "$(key "$1")" ] && /xw/xwt_live now > "$2"
}
wait_grep() { # FILE PATTERN SECONDS
  local i=0
  while ! grep -qs "$2" "$1" && [ $i -lt $(($3 * 5)) ]; do sleep 0.2; i=$((i+1)); done
  grep -qs "$2" "$1"
}

srv() {
  env $(stack 0) /xw/xwperf -s -v -p 5201 > /tmp/xwperf-srv.out 2> /tmp/xwperf-srv.err &
  SP=$!
  env $(stack 2) timeout 200 /xw/xway-run /usr/bin/nc -l -N 10.77.50.13 5300 < /dev/null > /tmp/nc.got 2> /tmp/nc.err &
  NP=$!
  # The guest kernel's own TCP on the same interface, beside the stacks.
  /usr/bin/nc -l -N 10.77.50.1 5500 < /dev/null > /tmp/k.got &
  KP=$!
  i=0; while ! grep -q listening /tmp/xwperf-srv.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  xenstore-write /xt/srv-ready 1
  # xway-run nc: every byte as sent, on the ring.
  wait_key nc-sha 200 || fail nc "no client"
  wait $NP
  got=$(sha256sum < /tmp/nc.got | cut -d' ' -f1)
  show nc /tmp/nc.err
  if [ "$got" = "$(key nc-sha)" ] && grep -q "ring path" /tmp/nc.err; then pass nc
  else fail nc "sha $got, want $(key nc-sha)"; fi
  wait_key kernel-sha 200 && wait $KP
  if [ "$(sha256sum < /tmp/k.got | cut -d' ' -f1)" = "$(key kernel-sha)" ]; then pass kernel-coexist
  else fail kernel-coexist "the guest kernels' own connection lost bytes"; fi
  # Multi-process servers under xway-run: pre-fork workers accept on their
  # parent's listener, a forking server's children claim what it accepted;
  # either way the child serves the ring connection itself (a satellite,
  # with a grant handle of its own).
  for srvmode in prefork fork; do
    if [ $srvmode = prefork ]; then set -- /xw/prefork block 10.77.50.15 5600 2 4
    else set -- /xw/fork_echo server 10.77.50.15 5601 3; fi
    env $(stack 4) timeout 120 /xw/xway-run "$@" > /tmp/$srvmode.out 2> /tmp/$srvmode.err &
    FP=$!
    i=0; while ! grep -q listening /tmp/$srvmode.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    xenstore-write /xt/$srvmode-ready 1
    wait $FP; rc=$?
    show $srvmode /tmp/$srvmode.out
    grep -E "served in this process|ring path|handed" /tmp/$srvmode.err | sed "s/^/DU: $srvmode: /"
    if [ $srvmode = prefork ]; then want=4; else want=1; fi
    n=$(grep -c "served in this process" /tmp/$srvmode.err)
    if [ $rc = 0 ] && grep -q "0 bad" /tmp/$srvmode.out && [ "$n" -ge $want ]; then pass $srvmode
    else fail $srvmode "rc=$rc, $n connections served in a child (want $want)"; show $srvmode /tmp/$srvmode.err; fi
  done
  # Liveness: the peer process killed -9, then the peer's domain destroyed;
  # each time our blocked recv must fail within 5 s.  Timed on this domain's
  # clock alone, from when the kill's (destroy's) key shows up here: the
  # domains' wall clocks were seen seconds apart on a loaded host (an error
  # "0.46 s before the kill").  The key is looked for every 0.1 s, so the
  # error may seem to come up to that much (and a xenstore read) early.
  for what in kill destroy; do
    seen_at $what-at /tmp/live-$what.seen &
    WP=$!
    env $(stack 1) /xw/xwt_live server 5400 > /tmp/live-$what.out 2>&1
    show live-$what /tmp/live-$what.out
    wait $WP
    [ -s /tmp/live-$what.seen ] || { fail live-$what "no $what"; continue; }
    d=$(awk -v a="$(cat /tmp/live-$what.seen)" '/recv-ended/ { sub(/.*at=/, ""); print $0 - a }' /tmp/live-$what.out)
    echo "DU: live-$what: the error came ${d}s after the $what was seen here"
    if grep -q "marker received, path ring" /tmp/live-$what.out &&
       awk -v d="$d" 'BEGIN { exit !(d != "" && d >= -0.5 && d <= 5) }'; then pass live-$what
    else fail live-$what "error after ${d}s"; fi
  done
  kill $SP; wait $SP
  show xwperf-srv /tmp/xwperf-srv.err
  grep -q "10.77.50.254.* verified, path tcp (peer-no-option)" /tmp/xwperf-srv.err &&
    pass dom0-reason || fail dom0-reason "the kernel client's connection: no peer-no-option"
}

xwperf_c() { # NAME ARGS...: the xwperf client (environment + $XENV), JSON in /tmp/NAME.json
  local n=$1; shift
  env $(stack 0) $XENV /xw/xwperf -c 10.77.50.11 -p 5201 --json "$@" > /tmp/$n.json 2> /tmp/$n.err
  local rc=$?
  show $n /tmp/$n.json
  [ $rc = 0 ] || show $n /tmp/$n.err
  return $rc
}

cli() {
  wait_key srv-ready 120 || { fail cli "server never ready"; return; }
  # xway-run nc: a file, on the ring.
  dd if=/dev/urandom of=/tmp/f bs=65536 count=64 2>/dev/null
  env $(stack 2) timeout 60 /xw/xway-run /usr/bin/nc -N 10.77.50.13 5300 < /tmp/f 2> /tmp/nc.err
  echo "DU: nc rc=$?"
  show nc /tmp/nc.err
  xenstore-write /xt/nc-sha "$(sha256sum < /tmp/f | cut -d' ' -f1)"
  grep -q "ring path" /tmp/nc.err && pass nc-client || fail nc-client "not on the ring"
  # The guest kernels' own TCP (busybox nc, no xway) beside the stacks.
  timeout 60 /usr/bin/nc -N 10.77.50.1 5500 < /tmp/f
  xenstore-write /xt/kernel-sha "$(sha256sum < /tmp/f | cut -d' ' -f1)"
  # The forking servers' client: every byte echoed and checked.
  for srvmode in prefork fork; do
    if [ $srvmode = prefork ]; then port=5600 n=4; else port=5601 n=3; fi
    wait_key $srvmode-ready 120
    env $(stack 4) timeout 120 /xw/xway-run /xw/fork_echo client 10.77.50.15 $port $n 300000 \
      > /tmp/fe.out 2> /tmp/fe.err
    rc=$?
    show fe-$srvmode /tmp/fe.out
    if [ $rc = 0 ] && grep -q "verified $n of $n" /tmp/fe.out &&
       [ "$(grep -c 'ring path' /tmp/fe.err)" = $n ]; then pass fe-$srvmode
    else fail fe-$srvmode "rc=$rc"; show fe-$srvmode /tmp/fe.err; fi
  done
  local M=268435456 T=33554432
  # The ring: verified bulk (one way, then both at once), the 1-byte round trip.
  XENV=
  if xwperf_c ring-up -n $M -l 65536 && [ "$(json /tmp/ring-up.json path)" = ring ] &&
     xwperf_c ring-bidir -n $M -l 65536 --bidir && [ "$(json /tmp/ring-bidir.json path)" = ring ] &&
     xwperf_c ring-rr --rr -l 1 -t 3 && [ "$(json /tmp/ring-rr.json path)" = ring ]; then
    pass xwperf-ring
  else fail xwperf-ring "see the JSON above"; fi
  # The TCP path of the same stacks: the backend off on our side.
  XENV=XWAY_BACKEND=off
  if xwperf_c tcp-up -n $T -l 65536 && [ "$(json /tmp/tcp-up.json path)" = tcp ] &&
     xwperf_c tcp-rr --rr -l 1 -t 3 && [ "$(json /tmp/tcp-rr.json path)" = tcp ]; then
    pass xwperf-tcp
  else fail xwperf-tcp "see the JSON above"; fi
  XENV=
  awk -v r="$(json /tmp/ring-up.json gbytes_per_s)" -v t="$(json /tmp/tcp-up.json gbytes_per_s)" \
      -v rr="$(json /tmp/ring-rr.json transactions_per_s)" -v tr="$(json /tmp/tcp-rr.json transactions_per_s)" \
      'BEGIN { if (t > 0 && tr > 0) printf "DU: ratio ring/tcp-path between the guests: bulk %.2fx, 1-byte round trips %.2fx\n", r / t, rr / tr }'
  # Concurrent rings: at gntalloc's default limit (1024 pages, 129 a ring)
  # the connections past it fall back to TCP (resources); raised, all ring.
  if xwperf_c p16-default -P 16 -n 16777216 && [ "$(json /tmp/p16-default.json path)" = mixed ] &&
     [ "$(json /tmp/p16-default.json fallback)" = resources ]; then pass p16-default
  else fail p16-default "want mixed paths, fallback resources"; fi
  echo 65536 > /sys/module/xen_gntalloc/parameters/limit
  if xwperf_c p16 -P 16 -n 16777216 && [ "$(json /tmp/p16.json path)" = ring ]; then pass p16
  else fail p16 "want 16 ring connections"; fi
  # Liveness: killed, then destroyed (dom0 does it when asked).
  t=1
  for what in kill destroy; do
    env $(stack $t) /xw/xwt_live client 10.77.50.12 5400 > /tmp/live-$what.out 2>&1 &
    LP=$!
    i=0; while ! grep -qs connected /tmp/live-$what.out && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
    show live-$what /tmp/live-$what.out
    sleep 1
    if [ $what = kill ]; then
      xenstore-write /xt/kill-at "$(/xw/xwt_live now)"
      kill -9 $LP
      wait $LP
      t=3
    else
      xenstore-write /xt/destroy-me 1
      sleep 60 # dom0 destroys us here
      fail live-destroy "not destroyed"
    fi
  done
}

# Save/restore (xen_migrate), the server's side: it outlives its client's
# domain.  Its stderr lines are stamped (this domain's clock), and the saved
# client's failure is told to dom0 as it comes: dom0 times it against the
# save on its own clock (the domains' wall clocks were seen 20 s apart on a
# loaded host).
srv_migrate() {
  local gone reset
  mkfifo /tmp/srv.fifo
  while IFS= read -r l; do
    echo "$(/xw/xwt_live now) $l"
    case $l in *10.77.50.21:*"test failed"*) xenstore-write /xt/srv-reset "$l";; esac
  done < /tmp/srv.fifo > /tmp/srv.err &
  env $(stack 0) /xw/xwperf -s -v -p 5201 > /tmp/srv.out 2> /tmp/srv.fifo &
  SP=$!
  wait_grep /tmp/srv.out listening 20
  xenstore-write /xt/srv-ready 1
  # The saved client's connection: reset (ECONNRESET) once its ring was
  # silent (3 s) and no SWITCH came (1 s), the server still serving.
  wait_key saving 300 || { fail mig-reset "no save"; return; }
  wait_grep /tmp/srv.err "10.77.50.21:.*test failed" 60
  grep -E "silent|leaving the ring|switch to TCP|test failed" /tmp/srv.err | sed "s/^/DU: srv: /"
  gone=$(awk '/ring peer .* silent/ { print $1; exit }' /tmp/srv.err)
  reset=$(awk '/10\.77\.50\.21:.*test failed/ { print $1; exit }' /tmp/srv.err)
  awk -v g="$gone" -v r="$reset" 'BEGIN { if (g != "" && r != "")
    printf "DU: mig-reset: the reset %.2fs after the ring was found silent\n", r - g }'
  if grep -q "10.77.50.21:.*test failed: Connection reset by peer" /tmp/srv.err &&
     [ -n "$gone" ] && kill -0 $SP; then pass mig-reset
  else fail mig-reset "no reset by peer after the ring's silence, or the server died"; fi
  xenstore-write /xt/srv-judged 1
  # The restored guest's new client, on the same server.
  wait_key cli-done 300
  wait_grep /tmp/srv.err "10.77.50.22:.*: 67108864 bytes in, 0 out, verified, path ring" 30
  if grep -q "10.77.50.22:.*: 67108864 bytes in, 0 out, verified, path ring" /tmp/srv.err &&
     kill -0 $SP; then pass mig-serve
  else fail mig-serve "the restored guest's connection was not served on the ring"; fi
  kill $SP; wait $SP
  show srv /tmp/srv.err
  xenstore-write /xt/srv-done 1
}

# Save/restore (xen_migrate), the client's side: streaming on the ring when
# dom0 saves this guest, then restored under a new domain id.
cli_migrate() {
  local d1 d2 rc i
  wait_key srv-ready 120 || { fail mig-ring "server never ready"; return; }
  d1=$(xenstore-read domid)
  # -t 600: still streaming when dom0 saves us.
  env $(stack 0) /xw/xwperf -c 10.77.50.11 -p 5201 -t 600 -l 65536 --json > /tmp/old.json 2> /tmp/old.err &
  OP=$!
  wait_grep /tmp/old.err "fd [0-9]*: ring path" 60
  sleep 2 # (data on the ring when the save begins)
  if grep -q "fd [0-9]*: ring path" /tmp/old.err && kill -0 $OP; then pass mig-ring
  else fail mig-ring "not streaming on the ring"; show old /tmp/old.err; fi
  xenstore-write /xt/cli-streaming 1
  # dom0 saves us here and restores us when the server has judged.
  wait_key restored 300 || { fail mig-domid "never restored"; return; }
  d2=$(xenstore-read domid)
  echo "DU: domain $d1 before the save, $d2 after the restore uptime=$(up)"
  if [ -n "$d2" ] && [ "$d2" != "$d1" ] && [ "$d2" = "$(key restored)" ]; then pass mig-domid
  else fail mig-domid "domain $d1 before the save, $d2 after, dom0 says $(key restored)"; fi
  # The saved client cannot go on here, and must be out of the way before a
  # new process binds an event channel: Linux 6.1 keeps a process's bindings
  # across the resume but drops their IRQs, and unbinds by port number, so
  # the old process's teardown would unbind whatever new binding took one of
  # its numbers (seen: "Trying to free already-free IRQ 10", the new client's
  # ring without events, then its own unbind's BUG).  Killed now, its
  # teardown ends in "kernel BUG at drivers/xen/evtchn.c:422" (its ports
  # have no IRQ): waited for that, 20 s at most.
  kill -9 $OP
  i=0; while ! old_ended && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done
  echo "DU: the saved client, killed: $(grep State /proc/$OP/status 2>&1)," \
       "$(dmesg | grep -c "kernel BUG at drivers/xen/evtchn.c") evtchn BUG(s) in dmesg"
  # A new stack, a new ring with the new domain id.
  env $(stack 1) timeout 150 /xw/xwperf -c 10.77.50.11 -p 5201 -n 67108864 -l 65536 --json \
    > /tmp/new.json 2> /tmp/new.err
  rc=$?
  show new /tmp/new.json
  if [ $rc = 0 ] && [ "$(json /tmp/new.json path)" = ring ] &&
     [ "$(json /tmp/new.json verified)" = true ] && [ "$(json /tmp/new.json bytes)" = 67108864 ] &&
     grep -q "shared-memory backend xen: domain $d2\$" /tmp/new.err; then pass mig-new-ring
  else fail mig-new-ring "rc=$rc"; show new /tmp/new.err; fi
  show old /tmp/old.err
  dmesg | grep -E "kernel BUG|Trying to free|WARNING" | sed "s/^/DU: dmesg: /"
  xenstore-write /xt/cli-done 1
}

# old_ended: the saved client ($OP) is gone, dead (the BUG in its exit), or
# in D after the BUG.
old_ended() {
  local st
  st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' /proc/$OP/status 2>/dev/null)
  case $st in
    ""|Z|X) return 0;;
    D) dmesg | grep -q "kernel BUG at drivers/xen/evtchn.c";;
    *) return 1;;
  esac
}

echo "DU: TEST-START role=$ROLE mode=$MODE uptime=$(up)"
if [ "$MODE" = migrate ]; then ${ROLE}_migrate; else $ROLE; fi
echo "DU: TEST-END role=$ROLE uptime=$(up)"
sync
poweroff -f
