#!/bin/bash
# Boot Xen 4.17 + a PV dom0 under QEMU TCG (no KVM) and judge the run from the
# serial log alone: pass only if, for every EXPECT pattern, an
# "XWT: ALL PASS <pattern>" line arrived, no "XWT: FAIL" line did, and dom0
# reached "XQ: TEST-END".  Each serial line is stamped with host seconds.
# Usage: run-qemu.sh IMAGE_DIR INITRD LOG EXPECT...
# Env: TMO (s, default 360), MEM (MB of the machine, 1024), DOM0_MEM (384M),
#      XWARGS (extra test-program args, comma-separated), CPU (qemu64),
#      XWMODE (dom0's mode, when not the image's own: init-dom0.sh).
source "$(dirname "$0")/../lib.sh"
set +e +o pipefail # judged from the serial log, below
[ $# -ge 4 ] || die "usage: $0 IMAGE_DIR INITRD LOG EXPECT..."
IMG=$1 INITRD=$2 LOG=$3; shift 3
TMO=${TMO:-360}
MEM=${MEM:-1024}
DOM0_MEM=${DOM0_MEM:-384M}
CPU=${CPU:-qemu64}   # -cpu max corrupts guest memory now and then (recipe README)
XWARGS=${XWARGS:-}
# smap=0: without it dom0 dies at its first instruction under TCG.  No
# "noreboot": a crashed dom0 then reboots and -no-reboot ends QEMU at once.
XEN_CMDLINE="console=com1 com1=115200,8n1 dom0_mem=$DOM0_MEM,max:$DOM0_MEM loglvl=all guest_loglvl=all console_timestamps=boot smap=0"
DOM0_CMDLINE="console=hvc0 earlyprintk=xen xwtmo=$((TMO - 60)) xwargs=$XWARGS${XWMODE:+ xwmode=$XWMODE}"
for f in xen-4.17 vmlinuz; do [ -s "$IMG/$f" ] || die "missing $IMG/$f"; done
[ -s "$INITRD" ] || die "missing $INITRD"
mkdir -p "$(dirname "$LOG")"
T0=${EPOCHREALTIME/./}
stamp() {
    local line now d
    while IFS= read -r line; do
        now=${EPOCHREALTIME/./}; d=$(( (now - T0) / 10000 ))
        printf '[host %4d.%02d] %s\n' $((d / 100)) $((d % 100)) "${line%$'\r'}"
    done
}
timeout "$TMO" qemu-system-x86_64 -machine pc,accel=tcg -cpu "$CPU" -smp 2 -m "$MEM" \
    -display none -no-reboot -monitor none -serial stdio -nodefaults \
    -kernel "$IMG/xen-4.17" -append "$XEN_CMDLINE" \
    -initrd "$IMG/vmlinuz $DOM0_CMDLINE,$INITRD" </dev/null 2>&1 | stamp > "$LOG"
rc=${PIPESTATUS[0]}
d=$(( (${EPOCHREALTIME/./} - T0) / 10000 ))
printf 'run-qemu: qemu rc=%s wall=%d.%02ds\n' "$rc" $((d / 100)) $((d % 100)) | tee -a "$LOG"
[ "$rc" = 124 ] && echo "run-qemu: TIMEOUT after ${TMO}s" | tee -a "$LOG"

ok=1
nfail=$(grep -c 'XWT: FAIL' "$LOG")
grep 'XWT: FAIL' "$LOG" | head -20
[ "$nfail" = 0 ] || { echo "run-qemu: $nfail FAIL lines"; ok=0; }
for e in "$@"; do
    if grep -q "XWT: ALL PASS $e" "$LOG"; then echo "run-qemu: found ALL PASS $e"
    else echo "run-qemu: missing ALL PASS $e"; ok=0; fi
done
grep -q 'XQ: TEST-END' "$LOG" || { echo "run-qemu: dom0 never reached TEST-END"; ok=0; }
grep -E 'XWT: info|XQ: ' "$LOG" | grep -iE 'MiB|uptime|wall' | tail -20
if [ $ok = 1 ]; then echo "run-qemu: RESULT: ALL PASS ($LOG)"; exit 0; fi
echo "run-qemu: RESULT: FAILURES (see $LOG)"; tail -30 "$LOG"; exit 1
