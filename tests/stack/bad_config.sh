#!/bin/bash
# A bad XWAY_* value is refused with a message naming the variable and the value,
# and a nonzero exit; nothing is left behind.
source "$(dirname "$0")/../lib.sh"
stack_env "$@"

expect_refused() { # VAR=VALUE...: the last one is the bad one named in the message
    local bad=${!#} var val out rc
    var=${bad%%=*} val=${bad#*=}
    set +e
    out=$(env XWAY_LINK=hub:$HUB XWAY_ADDR=10.77.9.1/24 "$@" timeout 20 "$XWPERF" -s -p 7009 2>&1)
    rc=$?
    set -e
    echo "[$*] rc=$rc: $out"
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || die "$bad: exit $rc"
    grep -qF -- "$var" <<<"$out" || die "$bad: message does not name $var"
    grep -qF -- "$val" <<<"$out" || die "$bad: message does not show the value $val"
    grep -q listening <<<"$out" && die "$bad: server started anyway"
    true
}
expect_refused XWAY_MTU=70000
expect_refused XWAY_MTU=abc
expect_refused XWAY_ADDR=10.77.9.300/24
expect_refused XWAY_ADDR=fd00::zz/64
expect_refused XWAY_LINK=bogus:x
expect_refused XWAY_LOG=loud
set +e
out=$(XWAY_MTU=70000 timeout 20 "$ECHO" -s -p 7 2>&1); rc=$?
set -e
[ $rc -ne 0 ] && grep -q XWAY_MTU <<<"$out" && grep -q 70000 <<<"$out" || die "xway-echo: rc $rc: $out"
echo PASS
