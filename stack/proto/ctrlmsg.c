/* Control messages of the in-stack handshake: encode and validate (no I/O). */
#include "ctrlmsg.h"

#include <errno.h>
#include <string.h>

/* Header offsets. */
enum { H_MAGIC = 0, H_VERSION = 2, H_TYPE = 3, H_LENGTH = 4 }; /* 6..7 reserved */

static const char *const reason_names[XW_REASON_MAX] = {
    [XW_REASON_NONE] = "none",
    [XW_REASON_PEER_NO_OPTION] = "peer-no-option",
    [XW_REASON_NOT_CORESIDENT] = "not-co-resident",
    [XW_REASON_BACKEND_OFF] = "backend-off",
    [XW_REASON_GRANT_SHARE] = "grant-share",
    [XW_REASON_GRANT_MAP] = "grant-map",
    [XW_REASON_EVTCHN] = "evtchn",
    [XW_REASON_TIMEOUT] = "timeout",
    [XW_REASON_MALFORMED] = "malformed",
    [XW_REASON_VERSION] = "version",
    [XW_REASON_RESOURCES] = "resources",
    [XW_REASON_NONCE] = "nonce",
    [XW_REASON_PEER_DECLINED] = "peer-declined",
    [XW_REASON_OFFER_KEY] = "offer-key",
    [XW_REASON_MOVED] = "moved",
    [XW_REASON_PEER_MOVED] = "peer-moved",
};

const char *xw_reason_name(int r)
{
    if (r < 0 || r >= XW_REASON_MAX)
        return "unknown";
    return reason_names[r];
}

static void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned k = bytes; k-- > 0; v >>= 8)
        p[k] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < bytes; k++)
        v = (v << 8) | p[k];
    return v;
}

int xw_ctrl_size(unsigned type)
{
    switch (type) {
    case XW_CTRL_OFFER:
        return XW_CTRL_HDR + 24;
    case XW_CTRL_ACCEPT:
        return XW_CTRL_HDR + 16;
    case XW_CTRL_NOOFFER:
    case XW_CTRL_DECLINE:
    case XW_CTRL_CONFIRM:
    case XW_CTRL_ABORT:
        return XW_CTRL_HDR + 4;
    case XW_CTRL_SWITCH:
    case XW_CTRL_TAKE:
        return XW_CTRL_HDR + 8;
    case XW_CTRL_HELLO:
        return XW_CTRL_HDR + 16;
    default:
        return -EINVAL;
    }
}

/* Body of m at b (all-zero beforehand, so reserved fields stay 0). */
static void write_body(uint8_t *b, const struct xw_ctrl *m)
{
    switch (m->type) {
    case XW_CTRL_OFFER:
        put_be(b, m->domid, 4);
        put_be(b + 4, m->intf_ref, 4);
        put_be(b + 8, m->port, 4);
        b[12] = m->ring_shift;
        b[13] = m->flags;
        put_be(b + 16, m->key, 8);
        break;
    case XW_CTRL_ACCEPT:
        put_be(b, m->nonce, 8);
        put_be(b + 8, m->domid, 4);
        break;
    case XW_CTRL_NOOFFER:
    case XW_CTRL_DECLINE:
    case XW_CTRL_ABORT:
        put_be(b, m->reason, 2);
        break;
    case XW_CTRL_SWITCH:
        put_be(b, m->rx_idx, 4);
        put_be(b + 4, m->reason, 2);
        break;
    case XW_CTRL_HELLO:
        put_be(b, m->domid, 4);
        put_be(b + 8, m->host, 8);
        break;
    case XW_CTRL_TAKE:
        put_be(b, m->key, 8);
        break;
    default: /* CONFIRM: reserved only */
        break;
    }
}

int xw_ctrl_write(uint8_t *buf, size_t cap, const struct xw_ctrl *m)
{
    if (!m)
        return -EINVAL;
    int size = xw_ctrl_size(m->type);
    if (size < 0)
        return size;
    if (!buf || cap < (size_t)size)
        return -ENOSPC;
    memset(buf, 0, (size_t)size);
    put_be(buf + H_MAGIC, XW_CTRL_MAGIC, 2);
    buf[H_VERSION] = XW_CTRL_VERSION;
    buf[H_TYPE] = m->type;
    put_be(buf + H_LENGTH, (uint64_t)size, 2);
    write_body(buf + XW_CTRL_HDR, m);
    return size;
}

/* Body at b (its full size present, reserved ignored) into out (zeroed). */
static void read_body(const uint8_t *b, struct xw_ctrl *out)
{
    switch (out->type) {
    case XW_CTRL_OFFER:
        out->domid = (uint32_t)get_be(b, 4);
        out->intf_ref = (uint32_t)get_be(b + 4, 4);
        out->port = (uint32_t)get_be(b + 8, 4);
        out->ring_shift = b[12];
        out->flags = b[13];
        out->key = get_be(b + 16, 8);
        break;
    case XW_CTRL_ACCEPT:
        out->nonce = get_be(b, 8);
        out->domid = (uint32_t)get_be(b + 8, 4);
        break;
    case XW_CTRL_NOOFFER:
    case XW_CTRL_DECLINE:
    case XW_CTRL_ABORT:
        out->reason = (uint16_t)get_be(b, 2);
        break;
    case XW_CTRL_SWITCH:
        out->rx_idx = (uint32_t)get_be(b, 4);
        out->reason = (uint16_t)get_be(b + 4, 2);
        break;
    case XW_CTRL_HELLO:
        out->domid = (uint32_t)get_be(b, 4);
        out->host = get_be(b + 8, 8);
        break;
    case XW_CTRL_TAKE:
        out->key = get_be(b, 8);
        break;
    default:
        break;
    }
}

/* Header checks in wire order, each as soon as its bytes are present:
 * <0 error, 0 need more, else the message's total size. */
static int check_header(const uint8_t *buf, size_t len)
{
    static const uint8_t magic[2] = { XW_CTRL_MAGIC >> 8, XW_CTRL_MAGIC & 0xff };
    for (size_t i = 0; i < 2 && i < len; i++)
        if (buf[i] != magic[i])
            return -EBADMSG;
    if (len <= H_VERSION)
        return 0;
    if (buf[H_VERSION] != XW_CTRL_VERSION)
        return -EPROTONOSUPPORT;
    if (len < H_LENGTH + 2)
        return 0;
    int size = xw_ctrl_size(buf[H_TYPE]);
    uint64_t length = get_be(buf + H_LENGTH, 2);
    if (size < 0)
        return length >= XW_CTRL_HDR && length <= XW_CTRL_MAX ? -ENOMSG : -EBADMSG;
    if (length != (uint64_t)size)
        return -EBADMSG;
    return size;
}

int xw_ctrl_parse(const uint8_t *buf, size_t len, struct xw_ctrl *out)
{
    if ((!buf && len) || !out)
        return -EINVAL;
    int size = check_header(buf, len);
    if (size <= 0 || len < (size_t)size)
        return size < 0 ? size : 0;
    memset(out, 0, sizeof(*out));
    out->type = buf[H_TYPE];
    read_body(buf + XW_CTRL_HDR, out);
    return size;
}

int xw_ctrl_skip(const uint8_t *buf, size_t len)
{
    uint64_t length;

    if (!buf || len < XW_CTRL_HDR)
        return 0;
    length = get_be(buf + H_LENGTH, 2);
    if (length < XW_CTRL_HDR || length > XW_CTRL_MAX)
        return -EBADMSG;
    return len < length ? 0 : (int)length;
}
