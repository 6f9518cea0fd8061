# Sourced first by the tests that talk to the Linux kernel over a TAP device:
#   source netns.sh "$0" "$@"   re-executes the test, as root, inside a network
#                               namespace of its own (it dies with the test)
#   tap_up IF CIDR              a TAP device IF, the kernel's side at CIDR
if [ -z "${XWT_IN_NETNS:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "FAIL: needs root (CI runs as root)"; exit 1; }
    exec env XWT_IN_NETNS=1 unshare --net bash "$@"
fi
ip link set lo up
tap_up() {
    ip tuntap add dev "$1" mode tap && ip addr add "$2" dev "$1" && ip link set "$1" up
}
