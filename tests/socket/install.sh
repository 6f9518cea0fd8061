#!/bin/bash
# cmake --install gives a usable library: a program built with pkg-config
# against the installed tree links, starts the stack and moves verified bytes;
# the installed xway-run preloads the installed shim.
source "$(dirname "$0")/../lib.sh"
BUILD=$1
xw_tmpdir P
cmake --install "$BUILD" --prefix "$P" >/dev/null
for f in lib/libxwaystack.so lib/libxwaystack.a include/xway.h include/xway_types.h include/xway_zc.h lib/pkgconfig/xwaystack.pc \
         bin/xwperf bin/xway-run lib/xway/libxwayshim.so; do
    [ -e "$P/$f" ] || die "missing $f"
done
cat > "$P/t.c" <<'C'
#include <xway.h>
#include <netinet/in.h>
#include <string.h>
#include <stdio.h>
int main(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7100) };
    char buf[6] = { 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = xway_socket(AF_INET, SOCK_STREAM, 0), c = xway_socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || xway_bind(l, (void *)&a, sizeof(a)) || xway_listen(l, 1) ||
        xway_connect(c, (void *)&a, sizeof(a)))
        return 1;
    int s = xway_accept(l, NULL, NULL);
    if (xway_send(c, "hello", 5, 0) != 5 || xway_recv(s, buf, 5, MSG_WAITALL) != 5)
        return 2;
    printf("%s\n", buf);
    return strcmp(buf, "hello") != 0;
}
C
export PKG_CONFIG_PATH=$P/lib/pkgconfig
cc -o "$P/t" "$P/t.c" $(pkg-config --cflags --libs xwaystack) -Wl,-rpath,"$P/lib"
out=$(XWAY_BACKEND=off "$P/t")
[ "$out" = hello ] || die "got '$out'"
shim=$(realpath "$P/lib/xway/libxwayshim.so")
pre=$("$P/bin/xway-run" --link "hub:$P" printenv LD_PRELOAD) || die "xway-run printenv: status $?"
[ "$pre" = "$shim${LD_PRELOAD:+:$LD_PRELOAD}" ] || die "xway-run set LD_PRELOAD=$pre"
# only the API is exported
if nm -D --defined-only "$P/lib/libxwaystack.so" | awk '$2 ~ /[TDB]/ {print $3}' | grep -v '^xway_'; then
    die "symbols other than xway_* are exported"
fi
echo "install: PASS"
