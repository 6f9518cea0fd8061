#!/bin/sh
# Install the Debian (bookworm) packages the build, the demo, the tests and the
# benchmark (make bench: sockperf; gnuplot for its plots) need, only those
# missing.  Uses sudo when not root.
set -eu
PKGS="build-essential cmake pkg-config xz-utils ca-certificates libxen-dev libcmocka-dev
      iproute2 iperf3 netcat-openbsd curl python3 clang libclang-rt-14-dev valgrind
      qemu-system-x86 cpio busybox-static procps psmisc
      sockperf gnuplot-nox fonts-dejavu-core shfmt nginx-light openbsd-inetd gunicorn
      memcached libmemcached-tools apache2-utils postgresql-15 nodejs
      redis-server redis-tools"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# Servers the tests run themselves (nginx, inetd, gunicorn) must not start as system services:
# a policy that forbids every service start while installing.
POLICY=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    own_policy=1
    trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
