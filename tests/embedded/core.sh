# The core built freestanding, sourced by the embedded_* tests (after lib.sh).
#
#   core_build BUILD SRC OUT  compiles every source that BUILD/embedded/core.txt
#                   lists (the top-level CMakeLists.txt's XW_CORE_PARTS) with
#                   -ffreestanding and no C library headers but the stand-ins of
#                   tests/embedded/libc (the subset include/xway_port.h names),
#                   -Os as an embedded build would, into OUT/<part>.o (one
#                   relocatable object per part) and OUT/core.o (all of them)
#   CORE_PARTS      the parts, in order
core_build() {
    local build=$1 src=$2 out=$3 list=$1/embedded/core.txt cc gi part file
    local incs=() flags=() objs=()
    [ -f "$list" ] || die "$list missing (cmake not run?)"
    cc=$(awk '$1 == "cc" { print $2 }' "$list")
    gi=$("$cc" -print-file-name=include)
    [ -f "$gi/stddef.h" ] || die "no freestanding headers under $gi"
    while read -r part file; do
        [ "$part" = include ] && incs+=("-I$file")
    done < "$list"
    # _LIBC_LIMITS_H_: GCC's own <limits.h>, without reaching for the C library's.
    flags=(-std=gnu11 -Os -ffreestanding -nostdinc -isystem "$gi" -D_LIBC_LIMITS_H_
           "-I$src/tests/embedded/libc" "${incs[@]}"
           -fno-stack-protector -fno-pic -fno-asynchronous-unwind-tables
           -ffunction-sections -fdata-sections
           -Werror=implicit-function-declaration -Werror=implicit-int)
    CORE_PARTS=()
    while read -r part file; do
        case $part in include | cc) continue ;; esac
        if [ ! -d "$out/$part" ]; then
            mkdir -p "$out/$part"
            CORE_PARTS+=("$part")
        fi
        "$cc" "${flags[@]}" -c "$file" -o "$out/$part/$(basename "$file" .c).o" \
            2>> "$out/errors" || { cat "$out/errors" >&2; die "$file does not build freestanding"; }
    done < "$list"
    [ ${#CORE_PARTS[@]} -gt 0 ] || die "no core sources in $list"
    for part in "${CORE_PARTS[@]}"; do
        "$cc" -r -nostdlib -o "$out/$part.o" "$out/$part"/*.o || die "cannot link part $part"
        objs+=("$out/$part.o")
    done
    "$cc" -r -nostdlib -o "$out/core.o" "${objs[@]}" || die "cannot link the core"
}
