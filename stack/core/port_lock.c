/* The Linux port's lock (include/xway_port.h: the core's process-wide
 * counters), for a process whose threads call the ring directly. */
#include <pthread.h>

#include "xway_port.h"

static pthread_mutex_t core_mu = PTHREAD_MUTEX_INITIALIZER;

void xway_port_lock(void) { pthread_mutex_lock(&core_mu); }
void xway_port_unlock(void) { pthread_mutex_unlock(&core_mu); }
