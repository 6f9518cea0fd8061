/* Backend selection (XWAY_BACKEND semantics) and helpers common to backends. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

#include "xenif.h"

/* "Usable" = the device nodes the xen backend needs can be opened. */
static int xen_usable(void)
{
    int fd = open("/dev/xen/evtchn", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

int xw_xenif_open(enum xw_xenif_kind kind, const char *sim_host, int requested_domid,
                  struct xw_xenif **out)
{
    switch (kind) {
    case XW_XENIF_AUTO:
        if (xen_usable())
            return xw_xenif_open_xen(out);
        return xw_xenif_open_sim(sim_host, requested_domid, out);
    case XW_XENIF_XEN:
        return xw_xenif_open_xen(out);
    case XW_XENIF_SIM:
        return xw_xenif_open_sim(sim_host, requested_domid, out);
    case XW_XENIF_OFF:
        return -ENODEV;
    }
    return -EINVAL;
}

void xw_xenif_close(struct xw_xenif *x)
{
    if (x)
        x->ops->close(x);
}

static _Atomic bool fork_keeps;

void xw_xenif_fork_keeps(bool on)
{
    atomic_store(&fork_keeps, on);
}

bool xw_xenif_forking_keeper(void)
{
    return atomic_load(&fork_keeps);
}

void xw_xenif_gave_domain(void)
{
    xw_sim_drop_domains();
}
