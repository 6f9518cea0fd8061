#!/bin/bash
# embedded_footprint (issue 18, item 5): text, data and bss of the core built
# freestanding with -Os (x86-64; relocatable objects, before a final link's
# --gc-sections), per part and in all, against the budget below.  The
# README's footprint table is this test's output.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core.sh"
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
# The budget (bytes): the core as it is (111 KB of text with its threadless
# host, 13 KB of data and bss) and a fifth more for what guests will want next
# (the zero-copy calls in xway_core.h), not room for lwIP to grow its options
# unseen.
BUDGET_TEXT=$((132 * 1024))
BUDGET_DATA_BSS=$((16 * 1024))

xw_tmpdir OUT /tmp/xwt-core-XXXXXX
core_build "$BUILD" "$SRC" "$OUT"
printf '| part | text | data | bss |\n|---|---|---|---|\n'
for part in "${CORE_PARTS[@]}" core; do
    read -r text data bss _ < <(size -B "$OUT/$part.o" | tail -1)
    name=$part
    [ "$part" = core ] && name="**the core**"
    printf '| %s | %d | %d | %d |\n' "$name" "$text" "$data" "$bss"
done
read -r text data bss _ < <(size -B "$OUT/core.o" | tail -1)
echo "budget: text $BUDGET_TEXT, data + bss $BUDGET_DATA_BSS"
[ "$text" -le "$BUDGET_TEXT" ] || die "the core's text, $text bytes, exceeds its budget ($BUDGET_TEXT)"
[ $((data + bss)) -le "$BUDGET_DATA_BSS" ] ||
    die "the core's data + bss, $((data + bss)) bytes, exceeds its budget ($BUDGET_DATA_BSS)"
echo PASS
