/* lwIP hook declarations (LWIP_HOOK_FILENAME): the TCP option hooks through which
 * the in-stack handshake reads and writes the xway SYN option
 * (stack/path/negotiate.c; the option's wire format is stack/proto/tcpopt.c). */
#ifndef XW_LWIP_HOOKS_H
#define XW_LWIP_HOOKS_H

struct tcp_pcb;
struct tcp_hdr;
struct pbuf;

u8_t xw_hook_tcpopt_length(const struct tcp_pcb *pcb, u8_t internal_len);
u32_t *xw_hook_tcpopt_add(struct pbuf *p, struct tcp_hdr *hdr, const struct tcp_pcb *pcb,
                          u32_t *opts);
err_t xw_hook_tcp_inpacket(struct tcp_pcb *pcb, struct tcp_hdr *hdr, u16_t optlen,
                           u16_t opt1len, u8_t *opt2, struct pbuf *p);

#define LWIP_HOOK_TCP_OUT_TCPOPT_LENGTH(pcb, internal_len) xw_hook_tcpopt_length(pcb, internal_len)
#define LWIP_HOOK_TCP_OUT_ADD_TCPOPTS(p, hdr, pcb, opts) xw_hook_tcpopt_add(p, hdr, pcb, opts)
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) \
    xw_hook_tcp_inpacket(pcb, hdr, optlen, opt1len, opt2, p)

/* IPv6 default gateway from XWAY_GW for destinations that are not on-link
 * (lwip_sys.c: the stack sets it, NULL for none; the address stays the
 * caller's). */
struct netif;
const ip6_addr_t *xw_hook_nd6_gw(struct netif *netif, const ip6_addr_t *dest);
void xw_lwip_set_gw6(const ip6_addr_t *gw);
/* A forked child (lwip_sys.c): the timeouts set for the parent's objects are
 * dropped (their arguments are the parent's sockets, whose numbers may be the
 * child's own files by now); lwIP's cyclic timers and the modules' stay. */
void xw_lwip_forget_timeouts(void);
#define LWIP_HOOK_ND6_GET_GW(netif, dest) xw_hook_nd6_gw(netif, dest)

#endif
