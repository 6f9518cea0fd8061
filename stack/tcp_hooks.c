/* lwIP's TCP option hooks.  The in-stack handshake adds and reads its SYN option
 * here; until a connection asks for it, segments carry only lwIP's own options. */
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h"

u8_t xw_hook_tcpopt_length(const struct tcp_pcb *pcb, u8_t internal_len)
{
    return internal_len;
}

u32_t *xw_hook_tcpopt_add(struct pbuf *p, struct tcp_hdr *hdr, const struct tcp_pcb *pcb,
                          u32_t *opts)
{
    return opts;
}

err_t xw_hook_tcp_inpacket(struct tcp_pcb *pcb, struct tcp_hdr *hdr, u16_t optlen,
                           u16_t opt1len, u8_t *opt2, struct pbuf *p)
{
    return ERR_OK;
}
