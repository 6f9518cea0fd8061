# The glibc _FORTIFY_SOURCE entry points on xway connections
# (tests/shim/fortify.c, built with -O2 -D_FORTIFY_SOURCE=2).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
BIN="$BUILD/tests/shim/xs_fortify"
imports=$(nm -D --undefined-only "$BIN") || die "nm -D $BIN"
for s in __read_chk __recv_chk __recvfrom_chk __poll_chk __ppoll_chk __fdelt_chk; do
    grep -qw "$s" <<<"$imports" || die "xs_fortify does not import $s: $imports"
done
pair xs_fortify 17 41670
grep -q "fortify passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "fortify passed xway" "$WORK/x.out" || die "xway run: $(cat "$WORK/x.out")"
# A read larger than its buffer: glibc's check aborts, with and without the shim.
export LIBC_FATAL_STDERR_=1
rc=0
timeout 20 env -u LD_PRELOAD "$BIN" kernel 127.0.0.1 41671 overflow >"$WORK/ko.out" 2>"$WORK/ko.txt" || rc=$?
[ $rc = 134 ] && grep -q "buffer overflow detected" "$WORK/ko.txt" ||
    die "kernel overflow: status $rc, $(cat "$WORK/ko.out" "$WORK/ko.txt")"
rc=0
timeout 20 env XWAY_ADDR=10.77.17.2/24 "$RUN" "$BIN" xway 10.77.17.1 41670 overflow \
    >"$WORK/xo.out" 2>"$WORK/xo.txt" || rc=$?
[ $rc = 134 ] && grep -q "buffer overflow detected" "$WORK/xo.txt" ||
    die "xway overflow: status $rc, $(cat "$WORK/xo.out" "$WORK/xo.txt")"
echo "ok: $(echo $imports | grep -o '__[a-z]*_chk' | sort -u | tr '\n' ' ')on xway connections as on kernel sockets"
