/* The freestanding check's stand-in for <stdlib.h>: what of it
 * include/xway_port.h lets the core call (lwIP's netif_find reads a number). */
#ifndef XWT_STDLIB_H
#define XWT_STDLIB_H

int atoi(const char *s);

#endif
