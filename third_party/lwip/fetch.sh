#!/bin/sh
# Obtain the upstream lwIP 2.1.3 source, verified, into DEST (default: build/lwip-src).
#   LWIP_SOURCE=path  use a local orig tarball or an unpacked source directory instead.
# Otherwise the orig tarball of Debian's source package `lwip` is retrieved with
# `apt-get source --download-only`, through the machine's own apt configuration:
# its `deb` entries are reused as `deb-src` entries in a private apt state
# directory, so no host name is written here and the system apt state is untouched.
set -eu
DEST=${1:-build/lwip-src}
SHA256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24
ORIG=lwip_2.1.3+dfsg1.orig.tar.xz
MARK="$DEST/.xway-lwip-$SHA256"

[ -f "$MARK" ] && exit 0

die() { echo "lwip fetch: $*" >&2; exit 1; }

unpack() { # tarball
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$SHA256" ] || die "checksum mismatch for $1: got $got, want $SHA256"
    rm -rf "$DEST" && mkdir -p "$DEST"
    tar -xJf "$1" -C "$DEST" --strip-components=1
    touch "$MARK"
    echo "lwip fetch: unpacked verified $ORIG into $DEST"
}

if [ -n "${LWIP_SOURCE:-}" ]; then
    if [ -d "$LWIP_SOURCE" ]; then
        [ -f "$LWIP_SOURCE/src/core/tcp.c" ] || die "LWIP_SOURCE=$LWIP_SOURCE is not an lwIP source tree (no src/core/tcp.c)"
        grep -q 'LWIP_VERSION_MINOR *2' "$LWIP_SOURCE/src/include/lwip/init.h" 2>/dev/null ||
            grep -q 'LWIP_VERSION_MINOR *1' "$LWIP_SOURCE/src/include/lwip/init.h" ||
            die "LWIP_SOURCE=$LWIP_SOURCE is not lwIP 2.1.x"
        rm -rf "$DEST" && mkdir -p "$(dirname "$DEST")"
        cp -r "$LWIP_SOURCE" "$DEST"
        touch "$MARK"
        echo "lwip fetch: using directory $LWIP_SOURCE (not checksummed)"
        exit 0
    fi
    [ -f "$LWIP_SOURCE" ] || die "LWIP_SOURCE=$LWIP_SOURCE: no such file or directory"
    unpack "$LWIP_SOURCE"
    exit 0
fi

CACHE=${LWIP_CACHE:-$(dirname "$DEST")/lwip-apt}
if [ ! -f "$CACHE/$ORIG" ]; then
    command -v apt-get >/dev/null || die "apt-get not found; set LWIP_SOURCE to a local $ORIG"
    mkdir -p "$CACHE/etc/sources.list.d" "$CACHE/lists/partial" "$CACHE/cache/archives/partial"
    : > "$CACHE/etc/sources.list"
    # deb822 files: turn "Types: deb" into deb-src; one-line lists: "deb " -> "deb-src ".
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && sed 's/^Types:.*\bdeb\b.*$/Types: deb-src/' "$f" > "$CACHE/etc/sources.list.d/$(basename "$f")"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" >> "$CACHE/etc/sources.list"
    done
    APT="apt-get -q -o Dir::Etc::SourceList=$CACHE/etc/sources.list -o Dir::Etc::SourceParts=$CACHE/etc/sources.list.d -o Dir::State::Lists=$CACHE/lists -o Dir::Cache=$CACHE/cache -o APT::Sandbox::User=root"
    $APT update >"$CACHE/update.log" 2>&1 || true
    (cd "$CACHE" && $APT source --download-only lwip=2.1.3+dfsg1-2 >"$CACHE/source.log" 2>&1 ||
        $APT source --download-only lwip >>"$CACHE/source.log" 2>&1) ||
        die "apt-get source lwip failed (see $CACHE/source.log); set LWIP_SOURCE to a local $ORIG"
    [ -f "$CACHE/$ORIG" ] || die "apt-get source did not produce $ORIG (see $CACHE/source.log)"
fi
unpack "$CACHE/$ORIG"
