# Numbers reused while other threads use them (tests/shim/fdrace.c): a recv,
# a send and an accept blocked across close() and the number's reuse, an
# accept on a duplicate whose listener's number is replaced and reused, dup2
# onto an xway number against concurrent socket()s, dup2 onto a number whose
# connection has dups, a number the stack freed at exit.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
pair xs_fdrace 18 41680
grep -q "fdrace passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "fdrace passed xway" "$WORK/x.out" || die "xway run: $(cat "$WORK/x.out")"
grep -q "at exit: a pipe read back" "$WORK/x.out" || die "at exit: $(cat "$WORK/x.out")"
grep "across\|concurrent\|at exit\|duplicate" "$WORK/k.out" "$WORK/x.out"
echo "ok: no call acts on a reused number; dup2 is atomic and replaces one number only"
