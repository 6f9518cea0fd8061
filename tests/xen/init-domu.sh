#!/bin/busybox sh
# /init of the PV guests' initramfs: runs the test programs in ROLE (from the
# kernel command line, set by dom0's domu.cfg), then powers the guest off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /tmp
up() { cut -d' ' -f1 /proc/uptime; }
ROLE=$(sed -n 's/.*xwrole=\([a-z]*\).*/\1/p' /proc/cmdline)
ARGS=$(sed -n 's/.*xwargs=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ')
echo "DU: USERLAND-START role=$ROLE uptime=$(up)"
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc; do
  insmod /modules/$m.ko || echo "DU: insmod $m FAILED"
done
mount -t xenfs xenfs /proc/xen || echo "DU: xenfs mount FAILED"
# A hung program must not keep the guest alive: dom0 waits for it to go.
timeout 60 /xw/xwt_probe "$ROLE"; echo "DU: xwt_probe rc=$? uptime=$(up)"
timeout 240 /xw/xwt_ring "$ROLE" /xt/ring $ARGS; echo "DU: xwt_ring rc=$? uptime=$(up)"
sync
poweroff -f
