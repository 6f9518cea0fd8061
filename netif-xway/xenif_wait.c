/* The backends' evtchn_wait (xenif.h): poll their event fd. */
#include <errno.h>
#include <poll.h>

#include "xenif.h"

int xw_xenif_wait_fd(struct xw_xenif *x, int ms)
{
    struct pollfd pfd = { .fd = x->ops->evtchn_fd(x), .events = POLLIN };
    int n = poll(&pfd, 1, ms);

    return n < 0 ? -errno : n;
}
