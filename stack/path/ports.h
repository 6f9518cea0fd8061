/* Local ports for connections that did not bind one (ports.c). */
#ifndef XW_PORTS_H
#define XW_PORTS_H

#include <stdint.h>

/* A local port no pcb uses, from the dynamic range (49152-65535), or 0 when
 * every one is taken.  Amortised O(1): lwIP's own choice walks every pcb,
 * TIME-WAIT included (thousands after a burst of short connections), once
 * per candidate.  Stack lock held. */
uint16_t xw_port_ephemeral(void);

/* A pcb took port (an explicit bind): not to be handed out.  Lock held. */
void xw_port_taken(uint16_t port);

#endif
