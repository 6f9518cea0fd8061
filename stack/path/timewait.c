/* A SYN for a 4-tuple in TIME-WAIT opens a new connection when the port has a
 * listener (as Linux does), instead of lwIP's answer — an ACK, which the
 * connecting side rejects until its connect times out.  The TIME-WAIT pcb is
 * dropped and the SYN is fed to IP input again, after the current input is
 * done (lwIP's input is not reentrant), through a zero-delay timeout.
 *
 * TIME-WAIT keeps a delayed duplicate of the old connection out of a new one;
 * a new SYN that arrives while the old 4-tuple waits means the peer has forgotten
 * the old connection, and its segments are already acknowledged (ours to the
 * peer's FIN was the last word).  This is Linux's behaviour for a SYN in
 * TIME-WAIT with timestamps off (tcp_timewait_state_process). */
#include "timewait.h"

#include <string.h>

#include "log.h"
#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

struct reinject {
    struct pbuf *p;
    struct netif *inp;
};

static void reinject(void *arg)
{
    struct reinject *r = arg;

    if (ip_input(r->p, r->inp) != ERR_OK)
        pbuf_free(r->p);
    mem_free(r);
}

static bool has_listener(u16_t port)
{
    for (struct tcp_pcb_listen *l = tcp_listen_pcbs.listen_pcbs; l; l = l->next)
        if (l->local_port == port)
            return true;
    return false;
}

static bool trimming;   /* the trim's timeout is set */
static u32_t trimmed_at; /* sys_now() of its last run or setting */

static void trim(void *arg)
{
    struct tcp_pcb *p = tcp_tw_pcbs, *next;
    int n = 0, cut = 0;

    (void)arg;
    for (; p; p = next) { /* (newest first: lwIP puts them at the head) */
        next = p->next;
        if (++n > XW_TIMEWAIT_MAX) {
            tcp_abort(p); /* (in TIME-WAIT: removed and freed, nothing sent) */
            cut++;
        }
    }
    if (cut)
        xw_debug("TIME-WAIT: the %d oldest of %d connections dropped", cut, n);
    trimmed_at = sys_now();
    trimming = tcp_tw_pcbs != NULL;
    /* (sooner while connections come fast: between two trims the list grows
     * by as many, and every SYN walks it) */
    if (trimming)
        sys_timeout(cut ? XW_TIMEWAIT_TRIM_FAST_MS : XW_TIMEWAIT_TRIM_MS, trim, NULL);
}

void xw_timewait_watch(void)
{
    /* (late: the stack restarted since, its timeouts with it) */
    if (!trimming || sys_now() - trimmed_at > 4 * XW_TIMEWAIT_TRIM_MS) {
        sys_untimeout(trim, NULL);
        sys_timeout(XW_TIMEWAIT_TRIM_MS, trim, NULL);
        trimming = true;
        trimmed_at = sys_now();
    }
}

bool xw_timewait_syn(struct tcp_pcb *pcb, const struct tcp_hdr *hdr, struct pbuf *p)
{
    u8_t flags = TCPH_FLAGS(hdr);
    const u8_t *ip = (const u8_t *)(ip_current_is_v6() ? (const void *)ip6_current_header()
                                                        : (const void *)ip4_current_header());
    struct reinject *r;
    size_t len;

    if (pcb->state != TIME_WAIT || (flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN ||
        !has_listener(pcb->local_port) || p->next || !ip)
        return false;
    /* The whole datagram, from the IP header to the end of this pbuf: the
     * headers lie just before the payload (not so for a reassembled one). */
    if (ip > (const u8_t *)p->payload || (const u8_t *)p->payload - ip > 256)
        return false;
    len = (size_t)((const u8_t *)p->payload + p->len - ip);
    r = mem_malloc(sizeof(*r));
    if (!r)
        return false;
    r->p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
    if (!r->p) {
        mem_free(r);
        return false;
    }
    memcpy(r->p->payload, ip, len);
    {
        /* tcp_input turned these fields to host order in place: undo it. */
        struct tcp_hdr *h = (struct tcp_hdr *)((u8_t *)r->p->payload + ip_current_header_tot_len());
        h->src = lwip_htons(h->src);
        h->dest = lwip_htons(h->dest);
        h->seqno = lwip_htonl(h->seqno);
        h->ackno = lwip_htonl(h->ackno);
        h->wnd = lwip_htons(h->wnd);
    }
    r->inp = ip_current_input_netif();
    sys_timeout(0, reinject, r);
    xw_debug("port %u: SYN for a TIME-WAIT 4-tuple: a new connection", pcb->local_port);
    tcp_pcb_remove(&tcp_tw_pcbs, pcb);
    tcp_free(pcb);
    return true;
}
