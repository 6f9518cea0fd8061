#!/bin/busybox sh
# /init of the dom0 initramfs (build-images.sh).  Starts the Xen userland
# (modules, xenfs, xenstored, xen-init-dom0), then by its mode (/xw/mode, or
# xwmode= on the kernel command line) either
#   procs:   runs the test programs as two processes of dom0,
#   domus:   creates two PV guests (xl) that run them, relaying their consoles,
#   stack:   two PV guests whose stacks meet over the Xen network, or
#   migrate: the same guests, the client's saved mid-stream and restored.
# Every line a test program prints reaches the serial log; run-qemu.sh judges.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs run /run
mkdir -p /run/xenstored /run/xen /var/lib/xenstored /var/lib/xen /var/log/xen/console /var/lock /tmp
up() { cut -d' ' -f1 /proc/uptime; }
# The stack image serves two modes: the command line picks one.
MODE=$(sed -n 's/.*xwmode=\([a-z]*\).*/\1/p' /proc/cmdline); MODE=${MODE:-$(cat /xw/mode)}
TMO=$(sed -n 's/.*xwtmo=\([0-9]*\).*/\1/p' /proc/cmdline); TMO=${TMO:-300}
echo "XQ: USERLAND-START mode=$MODE uptime=$(up)"
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc; do
  insmod /modules/$m.ko || echo "XQ: insmod $m FAILED"
done
mount -t xenfs xenfs /proc/xen || echo "XQ: xenfs mount FAILED"
xenstored --pid-file /run/xenstored.pid; echo "XQ: xenstored rc=$?"
i=0; while [ ! -S /run/xenstored/socket ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
xen-init-dom0 >/dev/null; echo "XQ: xen-init-dom0 rc=$?"
# The rendezvous directory for offers: writable by every domain.
xenstore-write /xt "" && xenstore-chmod /xt b0 || echo "XQ: /xt setup FAILED"
ARGS=$(sed -n 's/.*xwargs=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ')

run_procs() {
  echo "XQ: TEST-START uptime=$(up)"
  timeout $TMO /xw/xwt_probe dom0; echo "XQ: xwt_probe rc=$?"
  timeout $TMO /xw/xwt_ring sharer /xt/ring $ARGS & p1=$!
  timeout $TMO /xw/xwt_ring mapper /xt/ring $ARGS & p2=$!
  wait $p1; r1=$?; wait $p2; r2=$?
  echo "XQ: xwt_ring rc=$r1,$r2 uptime=$(up)"
  run_stack_ring
}

# The in-stack handshake on the real hypervisor: two processes on a hub in
# dom0, each its own xway stack with XWAY_BACKEND=xen, negotiate the ring by
# themselves and move 256 MiB, every byte verified by xwperf.
run_stack_ring() {
  # gntalloc shares at most 1024 pages per domain by default (a 256 KiB ring
  # pair takes 129): leave room, as an administrator running many would.
  echo 65536 > /sys/module/xen_gntalloc/parameters/limit 2>/dev/null
  mkdir -p /tmp/hub
  export XWAY_BACKEND=xen XWAY_LINK=hub:/tmp/hub XWAY_LOG=info
  XWAY_ADDR=10.77.0.1/24 timeout $TMO /xw/xwperf -s -1 -p 5201 > /tmp/xwperf-srv.log 2>&1 & p3=$!
  i=0; while ! grep -q listening /tmp/xwperf-srv.log && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  XWAY_ADDR=10.77.0.2/24 timeout $TMO /xw/xwperf -c 10.77.0.1 -p 5201 -n 268435456 -l 65536 \
    --json > /tmp/xwperf.json 2> /tmp/xwperf-cli.log; rc=$?
  wait $p3; rs=$?
  sed 's/^/XQ: xwperf: /' /tmp/xwperf.json /tmp/xwperf-cli.log /tmp/xwperf-srv.log
  if [ $rc = 0 ] && [ $rs = 0 ] && grep -q '"path": "ring"' /tmp/xwperf.json &&
     grep -q '"verified": true' /tmp/xwperf.json && grep -q '"bytes": 268435456' /tmp/xwperf.json; then
    echo "XWT: ALL PASS prog=xwperf role=ring"
  else
    echo "XWT: FAIL prog=xwperf role=ring rc=$rc,$rs"
  fi
  # Sequential connections between the same two processes: after the first,
  # each may take the ring the last one parked (its grants and mapping kept,
  # offered again with a new key): all on the ring, all verified, some parked.
  XWAY_ADDR=10.77.0.1/24 timeout $TMO /xw/xwperf -s -1 -p 5202 > /tmp/xwperf-csrv.log 2>&1 & p3=$!
  i=0; while ! grep -q listening /tmp/xwperf-csrv.log && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  XWAY_ADDR=10.77.0.2/24 timeout $TMO /xw/xwperf -c 10.77.0.1 -p 5202 --connect-rate 30 \
    --json > /tmp/xwperf-c.json 2> /tmp/xwperf-ccli.log; rc=$?
  wait $p3; rs=$?
  parked=$(grep -c "ring path (a parked ring)" /tmp/xwperf-ccli.log)
  sed 's/^/XQ: xwperf: /' /tmp/xwperf-c.json
  echo "XQ: xwperf --connect-rate 30: $parked connection(s) on a parked ring"
  if [ $rc = 0 ] && [ $rs = 0 ] && grep -q '"path": "ring"' /tmp/xwperf-c.json &&
     grep -q '"verified": true' /tmp/xwperf-c.json && grep -q '"connections": 30' /tmp/xwperf-c.json &&
     [ "$parked" -ge 1 ]; then
    echo "XWT: ALL PASS prog=xwperf role=parked"
  else
    echo "XWT: FAIL prog=xwperf role=parked rc=$rc,$rs parked=$parked"
    sed 's/^/XQ: xwperf: /' /tmp/xwperf-ccli.log /tmp/xwperf-csrv.log | tail -40
  fi
  unset XWAY_BACKEND XWAY_LINK XWAY_LOG
}

create() { # N ROLE
  sed "s/@N@/$1/; s/@ROLE@/$2/; s/@ARGS@/$(echo $ARGS | tr ' ' ,)/" /etc/xen/domu.cfg.in > /etc/xen/d$1.cfg
  echo "XQ: xl create d$1 ($2) start uptime=$(up)"
  xl create /etc/xen/d$1.cfg > /var/log/xen/xlcreate-d$1.log 2>&1; rc=$?
  echo "XQ: xl create d$1 rc=$rc uptime=$(up)"
  [ $rc = 0 ] || sed 's/^/XQ: xl: /' /var/log/xen/xlcreate-d$1.log | tail -20
}

run_domus() {
  xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
  echo "XQ: xenconsoled rc=$?"
  # Relay guest consoles to the serial line as they grow (busybox tail polls 1/s).
  for n in 1 2; do
    touch /var/log/xen/console/guest-xw-d$n.log
    tail -n +1 -f /var/log/xen/console/guest-xw-d$n.log | while IFS= read -r l; do echo "[d$n] $l"; done &
  done
  echo "XQ: TEST-START uptime=$(up)"
  create 1 sharer & c1=$!; create 2 mapper & c2=$!; wait $c1 $c2
  xl list | sed 's/^/XQ: /'
  i=0
  while [ $i -lt $TMO ] && xl list | grep -q '^xw-d'; do sleep 1; i=$((i+1)); done
  echo "XQ: guests gone after ${i}s uptime=$(up)"
  for n in 1 2; do xl destroy xw-d$n 2>/dev/null && echo "XQ: destroyed xw-d$n (timeout)"; done
  sleep 2   # let the relays print the last lines
}

key() { xenstore-read "/xt/$1" 2>/dev/null; }
wait_key() { # KEY SECONDS
  local i=0
  while [ -z "$(key "$1")" ] && [ $i -lt $(($2 * 5)) ]; do sleep 0.2; i=$((i+1)); done
  [ -n "$(key "$1")" ] || { echo "XQ: no /xt/$1 after $2 s"; return 1; }
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# The two guests of the stack and migrate modes (init-sguest.sh): a bridge
# here with each guest's vif on it, their consoles relayed.
stack_guests() {
  for m in xen-netback llc stp bridge; do insmod /modules/$m.ko || echo "XQ: insmod $m FAILED"; done
  brctl addbr xenbr0 && ip addr add 10.77.50.254/24 dev xenbr0 && ip link set xenbr0 up ||
    echo "XQ: bridge FAILED"
  xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
  for n in 1 2; do
    touch /var/log/xen/console/guest-xw-g$n.log
    tail -n +1 -f /var/log/xen/console/guest-xw-g$n.log | while IFS= read -r l; do echo "[g$n] $l"; done &
  done
  echo "XQ: TEST-START uptime=$(up)"
  pids=
  for n in 1 2; do
    r=srv; [ $n = 2 ] && r=cli
    sed "s/@N@/$n/; s/@ROLE@/$r/; s/@MODE@/$MODE/" /etc/xen/sguest.cfg.in > /etc/xen/g$n.cfg
    (xl create /etc/xen/g$n.cfg > /var/log/xen/xlcreate-g$n.log 2>&1 ||
       sed "s/^/XQ: xl g$n: /" /var/log/xen/xlcreate-g$n.log | tail -20) &
    pids="$pids $!"
  done
  wait $pids
  xl list | sed 's/^/XQ: /'
}

# The stack between two guests over the Xen network (xen_two_guests_stack):
# dom0's own kernel TCP as a plain client of a guest's xway server, and the
# guest destroyed on request (the survivor times its error, on its own clock,
# from when /xt/destroy-at shows up there).
run_stack() {
  stack_guests
  i=0; while [ -z "$(key srv-ready)" ] && [ $i -lt $TMO ]; do sleep 0.5; i=$((i+1)); done
  timeout 120 /xw/xwperf --kernel -c 10.77.50.11 -p 5201 -n 8388608 --json > /tmp/k.json 2>&1
  rc=$?; sed 's/^/XQ: dom0 kernel client: /' /tmp/k.json
  if [ $rc = 0 ] && grep -q '"path": "kernel"' /tmp/k.json && grep -q '"verified": true' /tmp/k.json; then
    echo "XWT: ALL PASS prog=dom0-kernel role=client"
  else echo "XWT: FAIL prog=dom0-kernel role=client rc=$rc"; fi
  i=0; while [ -z "$(key destroy-me)" ] && [ $i -lt $TMO ]; do sleep 0.2; i=$((i+1)); done
  xenstore-write /xt/destroy-at "$(/xw/xwt_live now)"
  xl destroy xw-g2 && echo "XQ: destroyed xw-g2 on its request uptime=$(up)"
  i=0; while [ $i -lt $TMO ] && xl list | grep -q '^xw-g'; do sleep 1; i=$((i+1)); done
  echo "XQ: guests gone after ${i}s uptime=$(up)"
  xl destroy xw-g1 2>/dev/null && echo "XQ: destroyed xw-g1 (timeout)"
  sleep 2
}

# The ring's client saved mid-stream and restored (xen_migrate): xw-g2
# streams to xw-g1 on the ring, is saved (its domain vanishes; the server
# must reset that connection within seconds, from the ring's heartbeats),
# then restored under a new domain id, where a new client must get a ring
# again.  Save + restore is the migration here: `xl migrate` needs log-dirty
# mode, which this Xen cannot give a PV guest ("Failed to enable logdirty").
# The save file (~170 MB: the guest's memory) lives in dom0's memory, hence
# xen-test.sh's MEM and DOM0_MEM for this mode.  The restore waits for the
# server's verdict, so that the reset is timed against the save alone, on
# dom0's clock.
run_migrate() {
  local d1 d2 rc rp t0 t1 tr
  stack_guests
  wait_key cli-streaming 240
  d1=$(xl domid xw-g2)
  xenstore-write /xt/saving 1
  # The server's reset, seen from here while xl saves.
  (i=0; while [ -z "$(key srv-reset)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
   [ -n "$(key srv-reset)" ] && up > /tmp/reset.up) &
  rp=$!
  t0=$(up)
  xl save xw-g2 /tmp/g2.save > /tmp/save.log 2>&1; rc=$?
  t1=$(up)
  echo "XQ: xl save xw-g2 (domain $d1) rc=$rc took $(secs $t0 $t1)s," \
       "$(wc -c < /tmp/g2.save 2>/dev/null) bytes uptime=$t1"
  xl list | sed 's/^/XQ: /'
  if [ $rc = 0 ] && ! xl list | grep -q '^xw-g2 '; then echo "XWT: ALL PASS prog=xl-save role=dom0"
  else echo "XWT: FAIL prog=xl-save role=dom0 rc=$rc"; sed 's/^/XQ: xl save: /' /tmp/save.log | tail -20; fi
  # The guest stops somewhere inside xl save, after xl's own start-up
  # (seconds under TCG): the bound runs from the save's end, when its domain
  # is surely gone, 8 s (the stack's 3 s of silence and 1 s for a SWITCH,
  # and room for TCG).
  wait $rp
  tr=$(cat /tmp/reset.up 2>/dev/null)
  echo "XQ: the server's reset came $(secs $t0 "$tr")s after the save began, $(secs $t1 "$tr")s" \
       "after it ended: $(key srv-reset)"
  if [ -n "$tr" ] && awk -v a="$t0" -v b="$t1" -v r="$tr" 'BEGIN { exit !(r >= a && r <= b + 8) }'; then
    echo "XWT: ALL PASS prog=reset-time role=dom0"
  else echo "XWT: FAIL prog=reset-time role=dom0: no reset within 8 s of the save"; fi
  wait_key srv-judged 60
  t0=$(up)
  xl restore /tmp/g2.save > /tmp/restore.log 2>&1; rc=$?
  t1=$(up)
  rm -f /tmp/g2.save
  d2=$(xl domid xw-g2 2>/dev/null)
  echo "XQ: xl restore rc=$rc took $(secs $t0 $t1)s: xw-g2 is domain $d2 (was $d1) uptime=$t1"
  if [ $rc = 0 ] && [ -n "$d2" ] && [ "$d2" != "$d1" ]; then
    echo "XWT: ALL PASS prog=xl-restore role=dom0"
    xenstore-write /xt/restored "$d2"
  else
    echo "XWT: FAIL prog=xl-restore role=dom0 rc=$rc domain $d1 -> $d2"
    sed 's/^/XQ: xl restore: /' /tmp/restore.log | tail -20
  fi
  wait_key cli-done 180
  wait_key srv-done 60
  # (The saved domain lingers as "(null)" while anything still maps its pages.)
  xl list | sed 's/^/XQ: /'
  sleep 2 # let the relays print the last lines
  for n in 1 2; do xl destroy xw-g$n 2>/dev/null && echo "XQ: destroyed xw-g$n"; done
}

case $MODE in
  procs) run_procs;;
  domus) run_domus;;
  stack) run_stack;;
  migrate) run_migrate;;
  *) echo "XQ: unknown mode $MODE";;
esac
echo "XQ: TEST-END uptime=$(up)"
sync
poweroff -f
sleep 5
echo o > /proc/sysrq-trigger
