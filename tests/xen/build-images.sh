#!/bin/bash
# Build what run-qemu.sh boots: Debian's Xen 4.17 hypervisor, Debian's current
# kernel, and two dom0 initramfs images with our test programs in /xw:
#   initrd-dom0.img   dom0 only (tests between processes of dom0)
#   initrd-domus.img  dom0 + xl + a guest kernel/initramfs for two PV domUs
#   initrd-stack.img  dom0 + xl + a bridge, two PV domUs with a vif each on it,
#                     whose stacks reach each other over the Xen network (also
#                     booted with xwmode=migrate: one saved and restored)
# Usage: build-images.sh OUT_DIR TEST_BINARY...
#
# Packages are fetched with `apt-get download` (never installed) and unpacked
# with dpkg-deb -x into OUT_DIR/cache; a second run reuses them and rebuilds an
# image only when its inputs (test binaries, scripts, packages) changed.
# Root is needed only to apt-get install missing host tools.
set -euo pipefail
SRC=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 OUT_DIR TEST_BINARY..." >&2; exit 2; }
OUT=$(mkdir -p "$1" && cd "$1" && pwd); shift
BINS=()
for b in "$@"; do BINS+=("$(readlink -f "$b")"); done
C=$OUT/cache
mkdir -p "$C/debs"
# Two CTest tests may call us at once: one builder at a time.
exec 9>"$OUT/.build.lock"
flock 9

log() { echo "build-images: $*"; }

host_tools() {
    local p missing=""
    for p in qemu-system-x86 cpio libxen-dev busybox-static; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" = 0 ] || { echo "missing host packages:$missing (need root)" >&2; return 1; }
    log "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
}

# The kernel package that linux-image-amd64 points at today (not pinned).
kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1
}

fetch() {
    local k p need=() deb
    k=$(kernel_pkg)
    if [ -z "$k" ]; then
        [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null
        k=$(kernel_pkg)
    fi
    [ -n "$k" ] || { echo "cannot resolve linux-image-amd64's kernel package" >&2; return 1; }
    for p in xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils busybox-static "$k"; do
        deb=$(ls "$C/debs/${p}_"*.deb 2>/dev/null | head -1 || true)
        [ -n "$deb" ] || need+=("$p")
    done
    # Keep only the current kernel's package, so that x/ has one kernel.
    for deb in "$C"/debs/linux-image-*.deb; do
        [ -e "$deb" ] && case $(basename "$deb") in "${k}_"*) ;; *) rm -f "$deb";; esac
    done
    if [ ${#need[@]} -gt 0 ]; then
        log "downloading ${need[*]}"
        # Stale package lists name versions the mirror dropped: update, retry.
        (cd "$C/debs" && apt-get download -q "${need[@]}" 2>&1 | grep -v 'unsandboxed') ||
            { [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null &&
              (cd "$C/debs" && apt-get download -q "${need[@]}" 2>&1 | grep -v 'unsandboxed'); } || true
    fi
    for p in xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils busybox-static "$k"; do
        ls "$C/debs/${p}_"*.deb >/dev/null 2>&1 || { echo "download of $p failed" >&2; return 1; }
    done
}

unpack() {
    local want have d
    want="$(cd "$C/debs" && ls *.deb) netmods"
    have=$(cat "$C/x.stamp" 2>/dev/null || true)
    if [ "$want" != "$have" ] || [ ! -d "$C/x" ]; then
        log "unpacking"
        rm -rf "$C/x" && mkdir "$C/x"
        for d in "$C"/debs/*.deb; do
            case $(basename "$d") in
            linux-image-*) # only the kernel and the Xen modules: saves ~400 MB
                dpkg-deb --fsys-tarfile "$d" | tar -x -C "$C/x" --wildcards \
                    './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/xen/*' \
                    './lib/modules/*/kernel/drivers/net/xen-net*' \
                    './lib/modules/*/kernel/drivers/net/tun.ko' \
                    './lib/modules/*/kernel/net/bridge/bridge.ko' \
                    './lib/modules/*/kernel/net/802/stp.ko' './lib/modules/*/kernel/net/llc/llc.ko';;
            *) dpkg-deb -x "$d" "$C/x";;
            esac
        done
        echo "$want" > "$C/x.stamp"
    fi
    KVER=$(ls "$C/x/lib/modules" | head -1)
    [ -n "$KVER" ] && [ -f "$C/x/boot/vmlinuz-$KVER" ] || { echo "no kernel in $C/x" >&2; return 1; }
    [ "$OUT/xen-4.17" -nt "$C/x.stamp" ] || gunzip -c "$C/x/boot/xen-4.17-amd64.gz" > "$OUT/xen-4.17"
    cp -u "$C/x/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
}

# copylibs ROOT BINARY...: the shared libraries ldd lists, plus libgcc_s
# (xs_close() cancels a thread, which dlopens libgcc_s).
copylibs() {
    local R=$1 l; shift
    mkdir -p "$R/lib64" "$R/lib/x86_64-linux-gnu"
    for b in "$@"; do ldd "$b" 2>/dev/null | awk '/=>/{print $3} /ld-linux/{print $1}'; done |
        sort -u | while read -r l; do
            case $l in /lib64/*) cp -L "$l" "$R/lib64/";; /*) cp -L "$l" "$R/lib/x86_64-linux-gnu/";; esac
        done
    cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$R/lib/x86_64-linux-gnu/"
}

MODS="xen-evtchn xen-privcmd xenfs/xenfs xen-gntdev xen-gntalloc"
# The Xen network (stack image): netback in dom0, netfront and TAP in the
# guests, a bridge in both.
NETMODS="drivers/net/xen-netback/xen-netback drivers/net/xen-netfront drivers/net/tun
         net/llc/llc net/802/stp net/bridge/bridge"

# base_root ROOT: busybox, the Xen kernel modules, our test programs.
base_root() {
    local R=$1 m b
    rm -rf "$R"
    mkdir -p "$R"/{bin,sbin,proc,sys,dev,run,tmp,etc,modules,xw,usr/bin}
    cp "$C/x/bin/busybox" "$R/bin/busybox"
    for m in $MODS; do cp "$C/x/lib/modules/$KVER/kernel/drivers/xen/$m.ko" "$R/modules/"; done
    for m in $NETMODS; do cp "$C/x/lib/modules/$KVER/kernel/$m.ko" "$R/modules/"; done
    for b in "${BINS[@]}"; do cp "$b" "$R/xw/"; done
    copylibs "$R" "$R"/xw/*
}

mkcpio() { # ROOT IMAGE
    (cd "$1" && find . | cpio -o -H newc -R 0:0 2>/dev/null | gzip -1 > "$2.tmp") && mv "$2.tmp" "$2"
}

dom0_root() { # ROOT MODE
    local R=$1 b X=/usr/lib/xen-4.17/bin
    base_root "$R"
    mkdir -p "$R"/{var/lib/xen,var/lib/xenstored,var/log/xen,var/lock,etc/xen,guest,$X}
    ln -s /run "$R/var/run"
    local bins="xenstored xen-init-dom0"
    [ "$2" != procs ] && bins="$bins xenconsoled xl libxl-save-helper xenconsole"
    for b in $bins; do cp "$C/x$X/$b" "$R$X/"; done
    cp -a "$C"/x/usr/bin/xenstore* "$R/usr/bin/"
    copylibs "$R" $(for b in $bins; do echo "$R$X/$b"; done) "$R/usr/bin/xenstore"
    cp "$SRC/init-dom0.sh" "$R/init" && chmod +x "$R/init"
    echo "$2" > "$R/xw/mode"
}

build_procs() {
    local R=$C/root-dom0
    dom0_root "$R" procs
    mkcpio "$R" "$OUT/initrd-dom0.img"
}

build_domus() {
    local D=$C/root-domu R=$C/root-domus
    base_root "$D"
    cp "$SRC/init-domu.sh" "$D/init" && chmod +x "$D/init"
    dom0_root "$R" domus
    cp "$C/x/etc/xen/xl.conf" "$R/etc/xen/"
    cp "$SRC/domu.cfg" "$R/etc/xen/domu.cfg.in"
    cp "$OUT/vmlinuz" "$R/guest/vmlinuz"
    mkcpio "$D" "$R/guest/domu.img"
    mkcpio "$R" "$OUT/initrd-domus.img"
}

# Two guests with a vif each on dom0's bridge; their init runs the stack's
# programs (and a dynamically linked nc, for xway-run), dom0 a kernel client.
build_stack() {
    local D=$C/root-sguest R=$C/root-stack
    base_root "$D"
    cp -L /usr/bin/nc.openbsd "$D/usr/bin/nc"
    cp -a "$C"/x/usr/bin/xenstore* "$D/usr/bin/"
    copylibs "$D" "$D/usr/bin/nc" "$D/usr/bin/xenstore"
    cp "$SRC/init-sguest.sh" "$D/init" && chmod +x "$D/init"
    dom0_root "$R" stack
    cp "$C/x/etc/xen/xl.conf" "$R/etc/xen/"
    cp "$SRC/sguest.cfg" "$R/etc/xen/sguest.cfg.in"
    mkdir -p "$R/etc/xen/scripts"
    cp "$SRC/xw-vif" "$R/etc/xen/scripts/xw-vif" && chmod +x "$R/etc/xen/scripts/xw-vif"
    cp "$OUT/vmlinuz" "$R/guest/vmlinuz"
    mkcpio "$D" "$R/guest/domu.img"
    mkcpio "$R" "$OUT/initrd-stack.img"
}

# inputs_hash: everything an image is made of.
inputs_hash() {
    { sha256sum "${BINS[@]}" "$SRC"/init-*.sh "$SRC"/*.cfg "$SRC/xw-vif" "$0" | awk '{print $1}'
      cat "$C/x.stamp"; echo "$KVER"; } | sha256sum | awk '{print $1}'
}

host_tools
fetch
unpack
H=$(inputs_hash)
if [ "$H" = "$(cat "$OUT/images.stamp" 2>/dev/null || true)" ] &&
   [ -s "$OUT/initrd-dom0.img" ] && [ -s "$OUT/initrd-domus.img" ] && [ -s "$OUT/initrd-stack.img" ]; then
    log "images up to date (kernel $KVER)"
    exit 0
fi
log "building images (kernel $KVER, test programs: ${BINS[*]##*/})"
rm -f "$OUT/images.stamp"
build_procs
build_domus
build_stack
echo "$H" > "$OUT/images.stamp"
ls -la "$OUT"/xen-4.17 "$OUT"/vmlinuz "$OUT"/initrd-*.img
