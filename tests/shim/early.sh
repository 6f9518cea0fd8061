# The shim's entry points work at any moment of a process's life
# (tests/shim/early.c): before the shim's constructor ran, in main, in atexit
# handlers and library destructors; and real programs linked with libcap-ng,
# whose constructor calls an interposed function first, start under xway-run.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
EARLY=$BUILD/tests/shim/xs_early
want="stage constructor: ok
stage main: ok
stage atexit: ok
stage destructor: ok"
for mode in kernel shim; do
    if [ $mode = kernel ]; then out=$(timeout 20 "$EARLY" 2>&1) || die "kernel run: $out"
    else out=$(timeout 20 env XWAY_ADDR=10.77.19.1/24 "$RUN" "$EARLY" 2>&1) || die "under xway-run ($?): $out"
    fi
    [ "$(grep '^stage' <<<"$out")" = "$want" ] || die "$mode: stages: $out"
done
for prog in setpriv runuser su; do
    p=$(command -v $prog) || die "$prog missing (util-linux, login)"
    [[ $(ldd "$p") == *libcap-ng* ]] || die "$prog is not linked with libcap-ng: the test needs one that is"
    timeout 20 env XWAY_ADDR=10.77.19.1/24 "$RUN" "$p" --version >"$WORK/$prog.out" 2>&1 ||
        die "$prog --version under xway-run: status $?: $(cat "$WORK/$prog.out")"
    grep -q "util-linux" "$WORK/$prog.out" || die "$prog --version: $(cat "$WORK/$prog.out")"
done
echo "ok: interposed calls before the shim's constructor, in main, atexit and destructors; libcap-ng programs start"
