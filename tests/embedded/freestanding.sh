#!/bin/bash
# embedded_freestanding (issue 18, item 4): the core compiles with
# -ffreestanding and no C library headers but the stand-ins for what
# include/xway_port.h names, and links into one object whose undefined symbols
# are only the port interface (xway_port_*) and the C library functions the
# header lists ("libc:").  The core defines no port function itself, and the
# check refuses an object that calls anything else (printf: checked on a
# sample).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core.sh"
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
xw_tmpdir OUT /tmp/xwt-core-XXXXXX
core_build "$BUILD" "$SRC" "$OUT"

PORT=$(grep -oE '\bxway_port_[a-z0-9_]+' "$SRC/include/xway_port.h" | grep -v '_h$' | sort -u)
LIBC=$(sed -n 's/^ \* libc: //p' "$SRC/include/xway_port.h")
[ -n "$PORT" ] && [ -n "$LIBC" ] || die "cannot read the port interface's lists"

# check OBJ: its undefined symbols that nothing above allows (none: empty).
check() {
    comm -23 <(nm -u "$1" | awk '{ print $2 }' | sort -u) \
             <(printf '%s\n' $PORT $LIBC | sort -u)
}

bad=$(check "$OUT/core.o")
[ -z "$bad" ] || die "the core needs what the port interface does not give:" $bad
defined=$(nm --defined-only "$OUT/core.o" | awk '$3 ~ /^xway_port_/ { print $3 }')
[ -z "$defined" ] || die "the core defines port functions itself:" $defined
for part in "${CORE_PARTS[@]}"; do
    echo "$part: needs $(nm -u "$OUT/$part.o" | awk '{ printf "%s ", $2 }')"
done

cc=$(awk '$1 == "cc" { print $2 }' "$BUILD/embedded/core.txt")
printf 'int printf(const char *, ...);\nvoid f(void) { printf("x"); }\n' > "$OUT/sample.c"
"$cc" -ffreestanding -nostdinc -c "$OUT/sample.c" -o "$OUT/sample.o"
[ "$(check "$OUT/sample.o")" = printf ] || die "the check let a call to printf through"
echo PASS
