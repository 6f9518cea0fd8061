# The glibc _FORTIFY_SOURCE entry points on xway connections
# (tests/shim/fortify.c, built with -O2 -D_FORTIFY_SOURCE=2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pair.sh"
BIN="$B/tests/shim/xs_fortify"
imports=$(nm -D --undefined-only "$BIN") || fail "nm -D $BIN"
for s in __read_chk __recv_chk __recvfrom_chk __poll_chk __ppoll_chk __fdelt_chk; do
    grep -qw "$s" <<<"$imports" || fail "xs_fortify does not import $s: $imports"
done
pair xs_fortify 17 41670
grep -q "fortify passed kernel" "$T/k.out" || fail "kernel run: $(cat "$T/k.out")"
grep -q "fortify passed xway" "$T/x.out" || fail "xway run: $(cat "$T/x.out")"
# A read larger than its buffer: glibc's check aborts, with and without the shim.
export LIBC_FATAL_STDERR_=1
rc=0
timeout 20 env -u LD_PRELOAD "$BIN" kernel 127.0.0.1 41671 overflow >"$T/ko.out" 2>"$T/ko.txt" || rc=$?
[ $rc = 134 ] && grep -q "buffer overflow detected" "$T/ko.txt" ||
    fail "kernel overflow: status $rc, $(cat "$T/ko.out" "$T/ko.txt")"
rc=0
timeout 20 env XWAY_ADDR=10.77.17.2/24 "$RUN" "$BIN" xway 10.77.17.1 41670 overflow \
    >"$T/xo.out" 2>"$T/xo.txt" || rc=$?
[ $rc = 134 ] && grep -q "buffer overflow detected" "$T/xo.txt" ||
    fail "xway overflow: status $rc, $(cat "$T/xo.out" "$T/xo.txt")"
echo "ok: $(echo $imports | grep -o '__[a-z]*_chk' | sort -u | tr '\n' ' ')on xway connections as on kernel sockets"
