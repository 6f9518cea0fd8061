/* Probe of the Xen environment a guest test runs in, straight through the Xen
 * libraries (not through netif-xway): xenstore, an event channel looped back
 * to this domain, a page granted to this domain and mapped again.  When the
 * ring test fails, this tells whether the platform or our code is at fault.
 * Usage: xwt_probe ROLE */
#include "xwt_report.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

static int probe_xenstore(struct xs_handle *xs, unsigned *domid)
{
    char path[64], *v;
    unsigned len;

    v = xs_read(xs, XBT_NULL, "domid", &len);
    if (!xwt_check(v != NULL, "xs_read(domid) = %s", v ? v : strerror(errno)))
        return -1;
    *domid = (unsigned)atoi(v);
    free(v);
    snprintf(path, sizeof(path), "/xt/probe-%u", *domid);
    xwt_check(xs_write(xs, XBT_NULL, path, "ok", 2), "xs_write %s", path);
    v = xs_read(xs, XBT_NULL, path, &len);
    xwt_check(v && strcmp(v, "ok") == 0, "xs_read %s back", path);
    free(v);
    return 0;
}

/* Bind an unbound port for ourselves, bind to it, notify, see it pending. */
static void probe_evtchn(unsigned domid)
{
    xenevtchn_handle *h = xenevtchn_open(NULL, 0);
    struct pollfd pfd;
    int a, b, p = -1, k;

    if (!xwt_check(h != NULL, "xenevtchn_open (%s)", h ? "ok" : strerror(errno)))
        return;
    a = xenevtchn_bind_unbound_port(h, domid);
    b = a >= 0 ? xenevtchn_bind_interdomain(h, domid, a) : -1;
    if (!xwt_check(a >= 0 && b >= 0, "evtchn loop ports %d <-> %d", a, b))
        goto out;
    xenevtchn_notify(h, b);
    /* The bound port is pending at bind already (README pitfall 6): drain
     * until the notified port shows up. */
    for (k = 0; k < 4 && p != a; k++) {
        pfd = (struct pollfd){ .fd = xenevtchn_fd(h), .events = POLLIN };
        if (poll(&pfd, 1, 5000) != 1)
            break;
        p = xenevtchn_pending(h);
        xenevtchn_unmask(h, p);
    }
    xwt_check(p == a, "notify on %d arrives on %d (got %d)", b, a, p);
out:
    xenevtchn_close(h);
}

static void probe_grant(unsigned domid)
{
    xengntshr_handle *gs = xengntshr_open(NULL, 0);
    xengnttab_handle *gt = xengnttab_open(NULL, 0);
    uint32_t ref = 0;
    char *s = NULL, *m = NULL;

    if (!xwt_check(gs && gt, "gntshr/gnttab open (%s)", gs && gt ? "ok" : strerror(errno)))
        goto out;
    s = xengntshr_share_pages(gs, domid, 1, &ref, 1);
    if (!xwt_check(s != NULL, "share 1 page with dom%u -> ref %u", domid, ref))
        goto out;
    strcpy(s, "probe");
    m = xengnttab_map_grant_ref(gt, domid, ref, PROT_READ | PROT_WRITE);
    if (xwt_check(m != NULL, "map own grant %u (%s)", ref, m ? "ok" : strerror(errno))) {
        xwt_check(strcmp(m, "probe") == 0, "mapping sees the shared page");
        xengnttab_unmap(gt, m, 1);
    }
    xengntshr_unshare(gs, s, 1);
out:
    if (gt)
        xengnttab_close(gt);
    if (gs)
        xengntshr_close(gs);
}

/* The gntalloc device caps the pages one domain can share (module parameter
 * "limit", 1024 by default): every channel's ring pages count against it. */
static void report_grant_limit(void)
{
    FILE *f = fopen("/sys/module/xen_gntalloc/parameters/limit", "r");
    int limit = -1;

    if (f) {
        if (fscanf(f, "%d", &limit) != 1)
            limit = -1;
        fclose(f);
    }
    xwt_log("xen_gntalloc limit = %d pages shareable by this domain", limit);
}

int main(int argc, char **argv)
{
    struct xs_handle *xs;
    unsigned domid = 0;

    xwt_begin("xwt_probe", argc > 1 ? argv[1] : "?");
    xs = xs_open(0);
    if (xwt_check(xs != NULL, "xs_open (%s)", xs ? "ok" : strerror(errno))) {
        if (probe_xenstore(xs, &domid) == 0) {
            probe_evtchn(domid);
            probe_grant(domid);
            report_grant_limit();
        }
        xs_close(xs);
    }
    return xwt_end();
}
