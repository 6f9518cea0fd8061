# xway-run tells on stderr when the program cannot be served by the shim: a
# statically linked program, a Go program (it makes its own system calls), a
# set-user-ID one, also behind a script's #! line; the program still runs.  A
# dynamic program gets no warning.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
export XWAY_ADDR=10.77.20.1/24
# run_warns PATTERN CMD...: CMD runs (status 0) and xway-run's stderr matches.
run_warns() {
    local pat=$1; shift
    timeout 20 "$RUN" "$@" >"$WORK/out" 2>"$WORK/err" || die "$* under xway-run: status $?: $(cat "$WORK/err")"
    grep -q "xway-run: warning: .*$pat" "$WORK/err" || die "$*: no '$pat' warning: $(cat "$WORK/err")"
}
run_warns "ldconfig is statically linked" /sbin/ldconfig -p
command -v shfmt >/dev/null || die "shfmt (a Go program, Debian's) missing: scripts/install-deps.sh"
run_warns "shfmt is a Go program" shfmt --version
grep -q . "$WORK/out" || die "shfmt printed no version"
cp /bin/true "$WORK/suid-true" && chmod 4755 "$WORK/suid-true"
run_warns "suid-true is set-user-ID" "$WORK/suid-true"
printf '#!/sbin/ldconfig\n' >"$WORK/script" && chmod 755 "$WORK/script"
run_warns "ldconfig is statically linked" "$WORK/script" -p
timeout 20 "$RUN" /bin/true 2>"$WORK/err" || die "/bin/true under xway-run failed"
[ ! -s "$WORK/err" ] || die "a dynamic program got a warning: $(cat "$WORK/err")"
echo "ok: static, Go, set-user-ID programs named on stderr; dynamic ones not"
