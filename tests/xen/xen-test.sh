#!/bin/bash
# CTest driver of the real-Xen tests: build (or reuse) the images with our
# test programs inside, boot them, judge the serial log.
# Usage: xen-test.sh dom0_two_procs|two_domus|two_guests_stack|migrate IMAGE_DIR LOG_DIR TEST_PROGRAM...
SRC=$(cd "$(dirname "$0")" && pwd)
source "$SRC/../lib.sh"
MODE=$1 IMG=$2 LOGS=$3; shift 3
bash "$SRC/build-images.sh" "$IMG" "$@"
LOG=$LOGS/$MODE-$(date +%Y%m%d-%H%M%S).log
case $MODE in
  dom0_two_procs)
    EXPECT=("prog=xwt_probe role=dom0" "prog=xwt_ring role=sharer" "prog=xwt_ring role=mapper"
            "prog=xwperf role=ring" "prog=xwperf role=parked")
    MEM=${MEM:-768} DOM0_MEM=${DOM0_MEM:-512M} exec bash "$SRC/run-qemu.sh" "$IMG" "$IMG/initrd-dom0.img" "$LOG" "${EXPECT[@]}";;
  two_domus)
    EXPECT=("prog=xwt_probe role=sharer" "prog=xwt_probe role=mapper"
            "prog=xwt_ring role=sharer" "prog=xwt_ring role=mapper")
    MEM=${MEM:-1024} DOM0_MEM=${DOM0_MEM:-384M} exec bash "$SRC/run-qemu.sh" "$IMG" "$IMG/initrd-domus.img" "$LOG" "${EXPECT[@]}";;
  two_guests_stack)
    EXPECT=("prog=xwperf-ring role=cli" "prog=xwperf-tcp role=cli" "prog=p16-default role=cli"
            "prog=p16 role=cli" "prog=nc-client role=cli" "prog=nc role=srv"
            "prog=live-kill role=srv" "prog=live-destroy role=srv" "prog=dom0-kernel role=client"
            "prog=dom0-reason role=srv" "prog=kernel-coexist role=srv"
            "prog=prefork role=srv" "prog=fork role=srv" "prog=fe-prefork role=cli" "prog=fe-fork role=cli")
    MEM=${MEM:-1024} DOM0_MEM=${DOM0_MEM:-384M} exec bash "$SRC/run-qemu.sh" "$IMG" "$IMG/initrd-stack.img" "$LOG" "${EXPECT[@]}";;
  migrate)
    # The stack image in dom0's mode "migrate".  The save file holds the
    # guest's memory (~170 MB) in dom0's: 384M is too tight for it.
    EXPECT=("prog=mig-ring role=cli" "prog=xl-save role=dom0" "prog=mig-reset role=srv"
            "prog=reset-time role=dom0" "prog=xl-restore role=dom0" "prog=mig-domid role=cli"
            "prog=mig-new-ring role=cli" "prog=mig-serve role=srv")
    XWMODE=migrate MEM=${MEM:-2048} DOM0_MEM=${DOM0_MEM:-640M} \
      exec bash "$SRC/run-qemu.sh" "$IMG" "$IMG/initrd-stack.img" "$LOG" "${EXPECT[@]}";;
  *) die "unknown mode $MODE";;
esac
