/* The reference port's own part of include/xway_port.h: its lock.  One
 * thread, nothing to exclude.  The rest is the Linux port's (its clock,
 * randomness, memory and fatal errors: stack/core/port_linux.c; diagnostics
 * on stderr, filtered by XWAY_LOG: log.c), which takes no lock. */
#include "xway_port.h"

void xway_port_lock(void) {}
void xway_port_unlock(void) {}
