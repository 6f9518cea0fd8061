/* xway's TCP options on lwIP's pcbs (pcbopt.h): lwIP's hooks, which read and
 * write the SYN option (stack/proto/tcpopt.c is its wire format) and the
 * MARK, and each pcb's state.  Part of the core: lwIP and the port only. */
#include "pcbopt.h"

#include "log.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "tcp_path.h"
#include "timewait.h"
#include "xway_port.h"

static struct {
    u8_t ext_id;
    bool ext_ready;
    bool ring, raw;
    uint64_t host;  /* our host hash */
    uint32_t domid; /* our domain */
    /* The option of the SYN being processed on a listening pcb, handed to the
     * new pcb in passive_open (both run inside one tcp_input call). */
    bool syn_valid;
    struct xw_synopt syn;
    xw_pcbopt_proposer propose;
} po;

static void pcbopt_destroy(u8_t id, void *data)
{
    xway_port_free(data);
}

static err_t passive_open(u8_t id, struct tcp_pcb_listen *lpcb, struct tcp_pcb *cpcb);

static const struct tcp_ext_arg_callbacks conn_cbs = { .destroy = pcbopt_destroy };
static const struct tcp_ext_arg_callbacks listen_cbs = { .passive_open = passive_open };

void xw_pcbopt_set(uint64_t host, uint32_t domid, bool ring, bool raw)
{
    if (!po.ext_ready) {
        po.ext_id = tcp_ext_arg_alloc_id();
        po.ext_ready = true;
    }
    po.syn_valid = false;
    po.host = host;
    po.domid = domid;
    po.ring = ring;
    po.raw = raw;
}

void xw_pcbopt_set_proposer(xw_pcbopt_proposer fn)
{
    po.propose = fn;
}

bool xw_pcbopt_ring(void)
{
    return po.ext_ready && po.ring;
}

uint64_t xw_pcbopt_host(void)
{
    return po.host;
}

struct xw_pcbopt *xw_pcbopt_of(const struct tcp_pcb *pcb)
{
    if (!pcb || !po.ext_ready || pcb->state == LISTEN)
        return NULL;
    return tcp_ext_arg_get(pcb, po.ext_id);
}

static struct xw_pcbopt *pcbopt_new(struct tcp_pcb *pcb)
{
    struct xw_pcbopt *h = xway_port_calloc(1, sizeof(*h));

    if (!h)
        return NULL;
    tcp_ext_arg_set_callbacks(pcb, po.ext_id, &conn_cbs);
    tcp_ext_arg_set(pcb, po.ext_id, h);
    return h;
}

struct xw_pcbopt *xw_pcbopt_connect(struct tcp_pcb *pcb)
{
    struct xw_pcbopt *h = pcbopt_new(pcb);

    if (h)
        h->offer_opt = true;
    return h;
}

void xw_pcbopt_listen(struct tcp_pcb *pcb)
{
    tcp_ext_arg_set_callbacks(pcb, po.ext_id, &listen_cbs);
}

static bool carries_option(const struct tcp_pcb *pcb, const struct xw_pcbopt *h)
{
    /* Only SYN and SYN-ACK, and identically on retransmissions: the answer
     * depends on nothing but the pcb's state while those are in flight. */
    if (h->offer_opt)
        return pcb->state == CLOSED || pcb->state == SYN_SENT;
    return h->replied && pcb->state == SYN_RCVD;
}

/* (A fixed length per pcb from the established state on: lwIP sizes a
 * segment's options when it makes it and checks them again at each
 * transmission.) */
bool xw_pcbopt_marks(const struct tcp_pcb *pcb, const struct xw_pcbopt *h)
{
    return h->peer_opt && (h->offer_opt || h->replied) && pcb->state >= ESTABLISHED;
}

/* The SYN option's flags on pcb's SYN or SYN-ACK after lwIP's own options
 * (internal bytes): a proposal only where its key fits. */
static uint8_t syn_flags(const struct xw_pcbopt *h, u8_t internal)
{
    if (!h->replied)
        return XW_OPT_F_TAKES;
    if (h->proposed && internal + XW_OPT_LEN_PARKED <= 40)
        return XW_OPT_F_REPLY | XW_OPT_F_PARKED;
    return XW_OPT_F_REPLY;
}

/* ---- lwIP hooks (xw_lwip_hooks.h) --------------------------------------------- */

u8_t xw_hook_tcpopt_length(const struct tcp_pcb *pcb, u8_t internal_len)
{
    struct xw_pcbopt *h = xw_pcbopt_of(pcb);

    if (h && carries_option(pcb, h) && internal_len + XW_OPT_LEN <= 40)
        return (u8_t)(internal_len + xw_tcpopt_len(syn_flags(h, internal_len)));
    if (h && xw_pcbopt_marks(pcb, h) && internal_len + XW_MARK_LEN <= 40)
        return (u8_t)(internal_len + XW_MARK_LEN);
    return internal_len;
}

u32_t *xw_hook_tcpopt_add(struct pbuf *p, struct tcp_hdr *hdr, const struct tcp_pcb *pcb,
                          u32_t *opts)
{
    struct xw_pcbopt *h = xw_pcbopt_of(pcb);
    struct xw_synopt o = { .version = XW_OPT_VERSION, .host = po.raw ? 0 : po.host };
    u8_t internal = (u8_t)((u8_t *)opts - (u8_t *)(hdr + 1));

    if (h && !carries_option(pcb, h) && xw_pcbopt_marks(pcb, h) &&
        internal + XW_MARK_LEN <= 40) {
        xw_tcpopt_mark_write((uint8_t *)opts, h->tx_mark_set, h->tx_mark);
        return opts + XW_MARK_LEN / 4;
    }
    if (!h || !carries_option(pcb, h) || internal + XW_OPT_LEN > 40)
        return opts;
    o.domid = po.domid;
    o.flags = syn_flags(h, internal);
    o.key = h->prop_key;
    return opts + xw_tcpopt_write((uint8_t *)opts, &o) / 4;
}

static bool parse_option(struct tcp_hdr *hdr, u16_t optlen, u16_t opt1len, u8_t *opt2,
                         struct xw_synopt *out)
{
    const uint8_t *p1 = (const uint8_t *)(hdr + 1);
    int rc = xw_tcpopt_parse(p1, opt1len, opt2, opt2 ? (size_t)(optlen - opt1len) : 0, out);

    if (rc < 0)
        xw_debug("SYN option ignored: error %d", -rc);
    return rc == 1;
}

err_t xw_hook_tcp_inpacket(struct tcp_pcb *pcb, struct tcp_hdr *hdr, u16_t optlen,
                           u16_t opt1len, u8_t *opt2, struct pbuf *p)
{
    struct xw_synopt o;
    struct xw_pcbopt *h;
    u8_t flags = TCPH_FLAGS(hdr);

    /* Every segment, before lwIP's own option walker (which trusts the length bytes). */
    if (!xw_tcpopt_valid((const uint8_t *)(hdr + 1), opt1len, opt2, opt2 ? (size_t)(optlen - opt1len) : 0))
        return ERR_VAL; /* dropped */
    if (pcb->state == TIME_WAIT)
        return xw_timewait_syn(pcb, hdr, p) ? ERR_ABRT : ERR_OK;
    if (pcb->state != LISTEN)
        xw_tcp_seg_fit(pcb, hdr);
    if (pcb->state != LISTEN && (h = xw_pcbopt_of(pcb)) && h->peer_opt) {
        uint32_t seq;
        if (xw_tcpopt_mark_parse((const uint8_t *)(hdr + 1), opt1len, opt2,
                                 opt2 ? (size_t)(optlen - opt1len) : 0, &seq) == 1) {
            h->rx_mark = seq;
            h->rx_mark_set = true;
        }
    }
    if (!po.ext_ready || !(flags & TCP_SYN))
        return ERR_OK;
    if (pcb->state == LISTEN) {
        po.syn_valid = !(flags & TCP_ACK) && parse_option(hdr, optlen, opt1len, opt2, &o);
        if (po.syn_valid)
            po.syn = o;
        return ERR_OK;
    }
    h = xw_pcbopt_of(pcb);
    if (pcb->state == SYN_SENT && h && h->offer_opt && (flags & TCP_ACK) &&
        parse_option(hdr, optlen, opt1len, opt2, &o) && (o.flags & XW_OPT_F_REPLY)) {
        h->peer_opt = true;
        h->peer = o;
    }
    return ERR_OK;
}

/* A listening pcb spawned cpcb for the SYN the hook just saw. */
static err_t passive_open(u8_t id, struct tcp_pcb_listen *lpcb, struct tcp_pcb *cpcb)
{
    struct xw_pcbopt *h;

    if (!po.syn_valid || !xw_pcbopt_ring())
        return ERR_OK;
    po.syn_valid = false;
    h = pcbopt_new(cpcb);
    if (!h)
        return ERR_OK; /* no reply: the connection stays TCP */
    h->replied = true;
    h->peer_opt = true;
    h->peer = po.syn;
    if ((po.syn.flags & XW_OPT_F_TAKES) && po.propose)
        h->proposed = po.propose(cpcb, &h->peer, &h->prop_key);
    return ERR_OK;
}
