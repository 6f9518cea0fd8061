/* Xen backend error paths on a machine without /dev/xen: clear -errno, no crash; auto falls back to sim; off refuses. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "xenif.h"

int main(void)
{
    struct xw_xenif *x = NULL;
    const char *host = xw_sim_host();
    int err;

    if (access("/dev/xen/evtchn", R_OK | W_OK) == 0) {
        /* A real Xen machine: the QEMU tests cover it; here it must open. */
        CHECK_EQ(xw_xenif_open(XW_XENIF_XEN, NULL, -1, &x), 0);
        xw_xenif_close(x);
        return 0;
    }
    err = xw_xenif_open_xen(&x);
    CHECK_EQ(err, -ENODEV);
    err = xw_xenif_open(XW_XENIF_XEN, host, -1, &x);
    CHECK_EQ(err, -ENODEV);
    CHECK_EQ(xw_xenif_open(XW_XENIF_OFF, host, -1, &x), -ENODEV);
    CHECK_EQ(xw_xenif_open(XW_XENIF_SIM, NULL, -1, &x), -EINVAL);
    CHECK_EQ(xw_xenif_open(XW_XENIF_SIM, host, 0, &x), -EINVAL);
    CHECK_EQ(xw_xenif_open(XW_XENIF_SIM, host, XW_SIM_MAX_DOMID + 1, &x), -EINVAL);
    /* auto: no hypervisor, so the sim. */
    CHECK_EQ(xw_xenif_open(XW_XENIF_AUTO, host, -1, &x), 0);
    CHECK(!strcmp(x->ops->name, "sim"));
    CHECK_EQ(x->kind, XW_XENIF_SIM);
    CHECK_EQ(strlen(x->host_token), XW_HOST_TOKEN_LEN);
    xw_xenif_close(x);
    printf("xen backend errors: ok (-ENODEV without /dev/xen)\n");
    return 0;
}
