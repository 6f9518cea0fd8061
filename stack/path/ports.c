/* Ephemeral ports (ports.h).
 *
 * A bitmap of the dynamic range says which ports may be in use.  It is built
 * from lwIP's pcb lists (every state, listeners and TIME-WAIT included), and
 * only ever gains bits until the next build: a port we hand out or that an
 * explicit bind takes is set at once, and passive connections use their
 * listener's port, which was set when it was bound.  So a clear bit is a free
 * port; a set bit may be stale (its pcb is gone), which costs nothing but a
 * skipped port.  A cursor sweeps the range; when it has gone once round since
 * the last build, the map is built again (one walk of the lists per 16,384
 * ports handed out). */
#include "ports.h"

#include <stdbool.h>
#include <string.h>

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#define PORT_FIRST 0xc000u
#define PORT_COUNT 0x4000u

static struct {
    uint64_t used[PORT_COUNT / 64];
    bool built;
    uint32_t cursor; /* index of the last port handed out */
    uint32_t swept;  /* ports looked at since the last build */
} pt;

static void mark(uint16_t port)
{
    if (port >= PORT_FIRST) {
        uint32_t i = port - PORT_FIRST;
        pt.used[i / 64] |= 1ull << (i % 64);
    }
}

static void build(void)
{
    memset(pt.used, 0, sizeof(pt.used));
    for (int l = 0; l < NUM_TCP_PCB_LISTS; l++)
        for (const struct tcp_pcb *p = *tcp_pcb_lists[l]; p; p = p->next)
            mark(p->local_port);
    if (!pt.built)
        pt.cursor = LWIP_RAND() % PORT_COUNT;
    pt.built = true;
    pt.swept = 0;
}

uint16_t xw_port_ephemeral(void)
{
    if (!pt.built)
        build();
    for (int pass = 0; pass < 2; pass++) {
        while (pt.swept < PORT_COUNT) {
            uint32_t i = (pt.cursor + 1) % PORT_COUNT;
            pt.cursor = i;
            pt.swept++;
            if (!(pt.used[i / 64] & (1ull << (i % 64)))) {
                pt.used[i / 64] |= 1ull << (i % 64);
                return (uint16_t)(PORT_FIRST + i);
            }
        }
        build(); /* once round: forget the ports freed since */
    }
    return 0;
}

void xw_port_taken(uint16_t port)
{
    if (pt.built)
        mark(port);
}
