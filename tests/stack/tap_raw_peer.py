#!/usr/bin/env python3
"""A raw TCP peer for tap.sh: it speaks TCP itself on a second TAP device whose
kernel side routes to the xway stack on the first one, so that the kernel
forwards between them, and checks what the stack does with frames the kernel's
own TCP never makes:

  1. a SYN with a wrong TCP checksum (no checksum flag: from a wire) is ignored;
  2. one GSO frame of 65535 bytes (the longest the kernel passes on to a TAP:
     it cuts a longer one itself), which the kernel forwards to the stack as it
     is, is acknowledged whole;
  3. the echo of its payload comes back, in segments the kernel cut from the
     stack's GSO frames and completed the checksums of (this TAP has no
     offloads): every checksum is verified here and the bytes must match.

With "window" after the arguments, instead (IPv4: the stack's segments are
longer than the MSS there, TSO): the echo of 180000 bytes, and once the stack
has filled a 65535-byte window, an ACK of everything with a window of 20000
bytes, smaller than its next segment: what fits must come at once (lwIP alone
waits for its persist timer, 1.5 s, then splits), then the rest; the bytes
must match.

usage: tap_raw_peer.py IFNAME 4|6 PEER_ADDR STACK_ADDR PORT [window]
(the kernel has a neighbour entry for PEER_ADDR with PEER_MAC below)
"""
import fcntl
import os
import select
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
VNET = struct.Struct("=BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
F_NEEDS_CSUM = 1
GSO_TCPV4, GSO_TCPV6 = 1, 4
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10
PEER_MAC = bytes.fromhex("020000770902")
SPORT, ISN, MSS = 40007, 1000, 1400

ifname, fam, peer, stack, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
AF = socket.AF_INET if fam == 4 else socket.AF_INET6
SRC, DST = socket.inet_pton(AF, peer), socket.inet_pton(AF, stack)
IPHLEN = 20 if fam == 4 else 40
SIOCGIFHWADDR = 0x8927
with socket.socket() as s:  # the kernel side's MAC (this namespace's sysfs may not be mounted)
    KMAC = fcntl.ioctl(s, SIOCGIFHWADDR, struct.pack("256s", ifname.encode()))[18:24]
ETH = KMAC + PEER_MAC + (b"\x08\x00" if fam == 4 else b"\x86\xdd")


def die(msg):
    print(f"FAIL: raw peer (IPv{fam}): {msg}", file=sys.stderr)
    sys.exit(1)


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def csum(data, s=0):
    if len(data) % 2:
        data += b"\0"
    return fold(s + sum(struct.unpack(f"!{len(data) // 2}H", data)))


def pseudo(src, dst, l4len):
    return csum(src + dst, 6 + l4len)


def ip_header(l4len):
    if fam == 6:
        return struct.pack("!IHBB", 0x60000000, l4len, 6, 64) + SRC + DST
    h = struct.pack("!BBHHHBBH", 0x45, 0, 20 + l4len, 0x77, 0x4000, 64, 6, 0) + SRC + DST
    return h[:10] + struct.pack("!H", ~csum(h) & 0xFFFF) + h[12:]


def send(seq, ack, flags, payload=b"", opts=b"", bad=False, gso=False, win=65535):
    thl = 20 + len(opts)
    l4len = thl + len(payload)
    tcp = struct.pack("!HHIIBBHHH", SPORT, port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      thl // 4 << 4, flags, win, 0, 0) + opts
    if gso:  # the kernel completes it: the pseudo-header sum, as Linux keeps it
        check = pseudo(SRC, DST, l4len)
        hdr = VNET.pack(F_NEEDS_CSUM, GSO_TCPV4 if fam == 4 else GSO_TCPV6,
                        14 + IPHLEN + thl, MSS, 14 + IPHLEN, 16)
    else:
        check = ~csum(tcp + payload, pseudo(SRC, DST, l4len)) & 0xFFFF
        check ^= 0x5A5A if bad else 0
        hdr = VNET.pack(0, 0, 0, 0, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", check) + tcp[18:]
    frame = ETH + ip_header(l4len) + tcp + payload
    os.write(fd, hdr + frame)
    return len(frame)


def segments(timeout):
    """The stack's TCP segments to us until timeout: (seq, ack, flags, payload)."""
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return
        b = os.read(fd, 70000)
        flags, f = b[0], b[VNET.size:]
        if f[12:14] != ETH[12:14] or len(f) < 14 + IPHLEN + 20:
            continue
        ip = f[14:]
        if fam == 4:
            if ip[9] != 6 or ip[12:16] != DST or ip[16:20] != SRC:
                continue
            hl, tot = (ip[0] & 15) * 4, struct.unpack("!H", ip[2:4])[0]
        else:
            if ip[6] != 6 or ip[8:24] != DST or ip[24:40] != SRC:
                continue
            hl, tot = 40, 40 + struct.unpack("!H", ip[4:6])[0]
        tcp = ip[hl:tot]
        if struct.unpack("!H", tcp[2:4])[0] != SPORT:
            continue
        if flags & F_NEEDS_CSUM or csum(tcp, pseudo(DST, SRC, len(tcp))) != 0xFFFF:
            die(f"a segment from the stack with a bad checksum (vnet flags {flags})")
        seq, ack, off, fl = struct.unpack("!IIBB", tcp[4:14])
        yield seq, ack, fl, tcp[(off >> 4) * 4:]


fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", VNET.size))
fcntl.ioctl(fd, TUNSETOFFLOAD, 0)  # what the kernel forwards to us is cut and checksummed
mss_opt = struct.pack("!BBH", 2, 4, MSS)
time.sleep(0.2)  # the device's carrier is up


def window_phase():
    """See the top: a window smaller than the stack's next segment."""
    global SPORT
    SPORT += 1
    send(ISN, 0, SYN, opts=struct.pack("!BBH", 2, 4, 1460))  # the MTU's MSS: TSO
    irs = next((s[0] for s in segments(5.0) if s[2] & (SYN | ACK) == SYN | ACK), None)
    if irs is None:
        die("window: no SYN-ACK")
    data = os.urandom(180000)
    seq = ISN + 1
    send(seq, irs + 1, ACK)
    got, rcv_nxt, small, gap = bytearray(), (irs + 1) & 0xFFFFFFFF, None, None
    trace = []
    # Our bytes in 60000-byte GSO frames, each once the previous one is
    # acknowledged (sent again if not, up to 3 times); the echo that comes
    # meanwhile is kept, not acknowledged: the stack fills our window and waits.
    for i in range(0, len(data), 60000):
        want = (seq + i + len(data[i:i + 60000])) & 0xFFFFFFFF
        for _ in range(3):
            send(seq + i, irs + 1, ACK | PSH, data[i:i + 60000], gso=True)
            acked = False
            for sq, ack, fl, payload in segments(2.0):
                if payload and sq == rcv_nxt:
                    got += payload
                    rcv_nxt = (rcv_nxt + len(payload)) & 0xFFFFFFFF
                if (ack - want) & 0x80000000 == 0:
                    acked = True
                    break
            if acked:
                break
        else:
            die(f"window: our bytes from {i} not acknowledged")
    end_seq = (seq + len(data)) & 0xFFFFFFFF
    last = time.time()
    while len(got) < len(data):
        fresh = False
        for sq, ack, fl, payload in segments(0.2 if small is None else 5.0):
            trace.append((sq - irs, len(payload), fl))
            if payload and sq == rcv_nxt:
                got += payload
                rcv_nxt = (rcv_nxt + len(payload)) & 0xFFFFFFFF
                fresh = True
                if small is not None and gap is None:
                    gap = time.time() - small
                if small is not None:
                    send(end_seq, rcv_nxt, ACK)  # the window is open again
                break
        if small is None and not fresh:
            if not got:
                if time.time() - last > 10:
                    die("window: no echo")
                send(end_seq, rcv_nxt, ACK)
                continue
            # The stack filled our 65535 bytes and waits: everything acknowledged,
            # a window smaller than its next segment (up to 32767 bytes here).
            small = time.time()
            send(end_seq, rcv_nxt, ACK, win=20000)
        elif small is not None and not fresh:
            die(f"window: stalled at {len(got)} of {len(data)} bytes; last segments (seq, len, flags): {trace[-8:]}")
    if bytes(got) != data:
        die("window: the echo differs")
    if gap is None or gap > 0.5:
        die(f"window: {gap} s before bytes came into a 20000-byte window (lwIP's persist timer?)")
    send(end_seq, rcv_nxt, FIN | ACK)
    for sq, ack, fl, payload in segments(5.0):
        if fl & FIN:
            send(end_seq + 1, (sq + len(payload) + 1) & 0xFFFFFFFF, ACK)
            break
    print(f"raw peer (IPv{fam}) window: 180000 bytes echoed; into a 20000-byte window after "
          f"{gap * 1000:.1f} ms")


if len(sys.argv) > 6 and sys.argv[6] == "window":
    window_phase()
    sys.exit(0)

# 1. A SYN whose checksum is wrong: the stack must not answer it.
send(ISN, 0, SYN, opts=mss_opt, bad=True)
for s in segments(1.0):
    die(f"the stack answered a SYN with a wrong checksum (flags {s[2]:#x})")

# 2. The handshake, then one GSO frame of 65535 bytes.
send(ISN, 0, SYN, opts=mss_opt)
irs = next((s[0] for s in segments(5.0) if s[2] & (SYN | ACK) == SYN | ACK), None)
if irs is None:
    die("no SYN-ACK")
send(ISN + 1, irs + 1, ACK)
data = os.urandom(0xFFFF - 14 - IPHLEN - 20)
flen = send(ISN + 1, irs + 1, ACK | PSH, data, gso=True)
end_seq = (ISN + 1 + len(data)) & 0xFFFFFFFF

# 3. The echo, acknowledged segment by segment; then both ends close.
got, rcv_nxt, nseg = bytearray(), (irs + 1) & 0xFFFFFFFF, 0
acked = fin_sent = fin = False
for seq, ack, fl, payload in segments(15.0):
    acked = acked or ack in (end_seq, (end_seq + 1) & 0xFFFFFFFF)
    if payload and seq == rcv_nxt:
        got += payload
        rcv_nxt = (rcv_nxt + len(payload)) & 0xFFFFFFFF
        nseg += 1
    if fl & FIN and seq == rcv_nxt:
        rcv_nxt = (rcv_nxt + 1) & 0xFFFFFFFF
        fin = True
    if len(got) == len(data) and not fin_sent:
        send(end_seq, rcv_nxt, FIN | ACK)
        fin_sent = True
    elif payload or fl & FIN:
        send(end_seq + fin_sent, rcv_nxt, ACK)
    if fin:
        break
if not acked:
    die(f"the {flen}-byte GSO frame was not acknowledged")
if bytes(got) != data:
    die(f"{len(got)} of {len(data)} bytes echoed, or they differ")
if not fin:
    die("no FIN from the stack")
print(f"raw peer (IPv{fam}): SYN with a wrong checksum ignored; a {flen}-byte GSO frame "
      f"acknowledged; {len(got)} bytes echoed in {nseg} segments, checksums verified")
