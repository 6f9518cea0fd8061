/* A connection's path: switching it and what every path shares (path.h). */
#include "path.h"

#include <string.h>

#include "socket.h"
#include "xway_types.h"

static const struct xw_path_ops *const paths[] = { &xw_tcp_ops, &xw_ring_ops };

void xw_path_set(struct xw_sock *s, const struct xw_path_ops *ops)
{
    atomic_store_explicit(&s->ops, ops, memory_order_release);
    xw_sock_changed(s);
}

void xw_path_release(struct xw_sock *s)
{
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        paths[i]->release(s);
}

void xw_path_info(const struct xw_sock *s, struct xway_conn_info *ci)
{
    memset(ci, 0, sizeof(*ci));
    xw_path_of(s)->info(s, ci);
    ci->ring_tx = s->ring.tx_bytes;
    ci->ring_rx = s->ring.rx_bytes;
    ci->tcp_tx = s->tcp.tx_bytes;
    ci->tcp_rx = s->tcp.rx_bytes;
    ci->switches = s->sw.count;
}
