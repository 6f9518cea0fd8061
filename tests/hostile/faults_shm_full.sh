#!/bin/bash
# A full sim host (XWAY_HOST on a 1 MiB tmpfs, nearly filled): the connection
# falls back to TCP with reason resources or grant-share instead of SIGBUS on
# the first touch of a ring page; both processes survive, every byte verified;
# with the space freed again, the next connection takes the ring.
# Runs as root in a mount namespace of its own: the tmpfs never leaks.
source "$(dirname "$0")/../lib.sh"
if [ -z "${XWT_IN_MNTNS:-}" ]; then
    [ "$(id -u)" = 0 ] || die "needs root (CI runs as root)"
    exec env XWT_IN_MNTNS=1 unshare --mount --propagation private bash "$0" "$@"
fi
ring_env "$@"
xw_tmpdir SHM /tmp/xwt-shm-XXXXXX
mount -t tmpfs -o size=1m,mode=0700 xwt-shm "$SHM" || die "mount tmpfs"
at_exit umount -l "'$SHM'"
export XWAY_HOST=$SHM/host
XW_DIE_SHOW="$WORK/*.log"

avail_kb() { df -k --output=avail "$SHM" | tail -1 | tr -d ' '; }

bg "$WORK/srv.log" on_hub 10.77.90.1/24 timeout 60 "$XWPERF" -s -v
SRV=$LAST_PID
wait_line "$WORK/srv.log" listening 10 $SRV

# Leave 160 KiB: enough for the client's own domain files, not for a 256 KiB
# ring (129 pages plus its interface page).
fill=$(($(avail_kb) - 160))
[ "$fill" -gt 0 ] || die "tmpfs: only $(avail_kb) KiB free after the server started"
dd if=/dev/zero of="$SHM/filler" bs=1k count=$fill status=none || die "fill the tmpfs"
echo "tmpfs: $(avail_kb) KiB free"

out=$(on_hub 10.77.90.2/24 timeout 30 "$XWPERF" -c 10.77.90.1 -n 32M --json 2>"$WORK/cli1.log") ||
    die "client on the full host: exit $? ($out)"
echo "full:  $out"
json_expect "$out" verified true
json_expect "$out" path '"tcp"'
json_check "$out" 'o["fallback"] in ("resources", "grant-share")'
kill -0 $SRV 2>/dev/null || die "the server died on the full host"
grep -q "verified, path tcp" "$WORK/srv.log" || die "server: no verified TCP connection"
left=$(find "$XWAY_HOST" -name 'g*-*' | wc -l)
[ "$left" = 0 ] || die "$left grant objects left after the failed share: $(ls "$XWAY_HOST")"

rm -f "$SHM/filler"
out=$(on_hub 10.77.90.3/24 timeout 30 "$XWPERF" -c 10.77.90.1 -n 32M --json 2>"$WORK/cli2.log") ||
    die "client with space again: exit $? ($out)"
echo "freed: $out"
json_expect "$out" verified true
json_expect "$out" path '"ring"'
kill -0 $SRV 2>/dev/null || die "the server died"
echo PASS
