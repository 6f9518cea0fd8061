/* The stack's state for tools (ctl.h, xwayctl).
 *
 * A listening AF_UNIX socket per running stack, DIR/<pid>, where DIR is
 * XWAY_CTL_DIR or /dev/shm/xway-ctl-<uid> (mode 0700: the user's own, and
 * root's).  The stack thread answers each connection with one dump (or a
 * counter reset; or a sim-move, "move DIR": switch.h) and closes it; nothing
 * else changes on any path: the dump reads the counters the sockets keep anyway, under the stack lock, as any
 * call does (the ring's data path never takes it).  A stack that stops
 * removes its socket; one killed leaves it, and a tool that finds it refusing
 * removes it (xwayctl).
 *
 * The dump is lines of space-separated key=value words (values never hold a
 * space; docs/XWAYCTL.md):
 *   stack pid= program= link= addrs= backend= domid= host= ring= tcp= reused=
 *   reason name= count=          (the fallback reasons counted, non-zero)
 *   conn fd= local= remote= state= path= reason= ring_bytes= ring_tx= ring_rx=
 *        tcp_tx= tcp_rx= tx_fill= rx_fill= sleeps= spins= switches=
 *   end
 */
#include "ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel.h"
#include "config.h"
#include "ctrlmsg.h"
#include "log.h"
#include "negotiate.h"
#include "path.h"
#include "ring_events.h"
#include "sock_linux.h"
#include "socket.h"
#include "stack.h"
#include "switch.h"

#define REQ_WAIT_MS 200 /* a tool has this long to say what it wants */

static struct {
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} ctl = { .fd = -1 };

static int ctl_dir(char *out, size_t len)
{
    const char *d = getenv("XWAY_CTL_DIR");
    int n = d && *d ? snprintf(out, len, "%s", d)
                    : snprintf(out, len, "/dev/shm/xway-ctl-%u", (unsigned)getuid());

    return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int xw_ctl_start(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char dir[sizeof(sa.sun_path)];
    struct stat st;
    int fd, n;

    if (ctl_dir(dir, sizeof(dir) - 16) < 0)
        return -ENAMETOOLONG;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    /* Ours and private: another user's directory would show them our stack. */
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
        (st.st_mode & 077))
        return -EPERM;
    n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d", dir, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(sa.sun_path); /* a dead process's, whose pid we have now */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    ctl.fd = fd;
    snprintf(ctl.path, sizeof(ctl.path), "%s", sa.sun_path);
    return 0;
}

int xw_ctl_fd(void)
{
    return ctl.fd;
}

void xw_ctl_stop(void)
{
    if (ctl.fd < 0)
        return;
    close(ctl.fd);
    unlink(ctl.path);
    ctl.fd = -1;
}

void xw_ctl_forget(void)
{
    if (ctl.fd >= 0)
        close(ctl.fd);
    ctl.fd = -1;
}

/* A value without spaces or control characters. */
static void word(FILE *f, const char *key, const char *v)
{
    fprintf(f, " %s=", key);
    if (!v || !*v) {
        fputc('-', f);
        return;
    }
    for (; *v; v++)
        fputc((unsigned char)*v <= ' ' || *v == 0x7f ? '_' : *v, f);
}

static void addr_word(FILE *f, const char *key, const struct sockaddr_storage *ss)
{
    char ip[INET6_ADDRSTRLEN] = "-", b[INET6_ADDRSTRLEN + 8];
    unsigned port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(b, sizeof(b), "%s:%u", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(b, sizeof(b), "[%s]:%u", ip, port);
    } else {
        snprintf(b, sizeof(b), "-");
    }
    word(f, key, b);
}

static const char *state_name(const struct xw_sock *s)
{
    static const char *const names[] = { "new", "listen", "connecting", "established", "closed" };

    return (unsigned)s->state < sizeof(names) / sizeof(names[0]) ? names[s->state] : "?";
}

static FILE *out; /* (xw_sock_foreach's callback) */

static void conn_line(struct xw_sock *s)
{
    struct sockaddr_storage a = { 0 }, b = { 0 };
    socklen_t al = sizeof(a), bl = sizeof(b);
    struct xway_conn_info ci;
    struct xw_chan_fill fill = { 0 };

    if (s->state == XW_SS_NEW)
        return;
    xw_sock_name_locked(s, false, (struct sockaddr *)&a, &al);
    if (s->state != XW_SS_LISTEN)
        xw_sock_name_locked(s, true, (struct sockaddr *)&b, &bl);
    xw_path_info(s, &ci);
    if (xw_path_of(s) == &xw_ring_ops && s->ring.ch)
        xw_channel_fill(s->ring.ch, &fill);
    fprintf(out, "conn fd=%d", s->fd);
    addr_word(out, "local", &a);
    addr_word(out, "remote", &b);
    word(out, "state", state_name(s));
    word(out, "path", s->state == XW_SS_LISTEN ? "-" : ci.path);
    word(out, "reason", s->state == XW_SS_LISTEN ? "-" : ci.fallback);
    fprintf(out, " ring_bytes=%u ring_tx=%llu ring_rx=%llu tcp_tx=%llu tcp_rx=%llu"
                 " tx_fill=%u rx_fill=%u sleeps=%u spins=%u switches=%u\n",
            ci.ring_bytes, (unsigned long long)ci.ring_tx, (unsigned long long)ci.ring_rx,
            (unsigned long long)ci.tcp_tx, (unsigned long long)ci.tcp_rx, fill.tx, fill.rx,
            atomic_load_explicit(&s->ring.sleeps, memory_order_relaxed),
            atomic_load_explicit(&s->ring.spins, memory_order_relaxed), ci.switches);
}

static void stack_line(FILE *f)
{
    const struct xw_config *c = xw_stack_config();
    struct xw_xenif *x = xw_rev_xenif();
    struct xway_stats st;
    char prog[64] = "", addrs[XW_MAX_ADDRS * 64] = "", link[PATH_MAX + 8];
    size_t used = 0;
    FILE *comm = fopen("/proc/self/comm", "r");

    if (comm) {
        if (fgets(prog, sizeof(prog), comm))
            prog[strcspn(prog, "\n")] = 0;
        fclose(comm);
    }
    for (int i = 0; i < c->n_addrs; i++) {
        char ip[INET6_ADDRSTRLEN];
        int n;
        inet_ntop(c->addrs[i].family, &c->addrs[i].addr, ip, sizeof(ip));
        n = snprintf(addrs + used, sizeof(addrs) - used, "%s%s/%u", i ? "," : "", ip,
                     c->addrs[i].prefix);
        if (n < 0 || (size_t)n >= sizeof(addrs) - used)
            break;
        used += (size_t)n;
    }
    xw_neg_stats(&st);
    fprintf(f, "stack pid=%d", (int)getpid());
    word(f, "program", prog);
    snprintf(link, sizeof(link), "%s:%s",
             c->link_kind == XW_LINK_HUB ? "hub" : c->link_kind == XW_LINK_TAP ? "tap" : "none",
             c->link_arg);
    word(f, "link", link);
    word(f, "addrs", addrs);
    word(f, "backend", st.backend);
    fprintf(f, " domid=%d", st.domid);
    word(f, "host", x ? x->host_token : "");
    fprintf(f, " ring=%llu tcp=%llu reused=%llu\n", (unsigned long long)st.ring_conns,
            (unsigned long long)st.tcp_conns, (unsigned long long)xw_neg_reused());
    for (int i = 1; i < XWAY_REASONS; i++)
        if (st.fallback[i])
            fprintf(f, "reason name=%s count=%llu\n", xw_reason_name(i),
                    (unsigned long long)st.fallback[i]);
    if (xw_neg_back())
        fprintf(f, "reason name=back-to-ring count=%llu\n", (unsigned long long)xw_neg_back());
}

/* The dump, malloc'd, lock held. */
static char *dump(size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);

    if (!f)
        return NULL;
    stack_line(f);
    out = f;
    xw_sock_foreach(conn_line);
    fputs("end\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* "move DIR": the sim's live migration (xwayctl sim-move).  The answer:
 * "moved domid=ID" or "error TEXT", then "end". */
static char *move(const char *dir, size_t *len)
{
    char *buf = NULL;
    int rc, n;

    xw_stack_lock();
    xw_switch_move_leave();
    xw_stack_leave();
    rc = xw_rev_move(dir); /* (the sim host dir; lock NOT held) */
    xw_stack_lock();
    if (rc == 0)
        xw_switch_moved();
    xw_stack_leave();
    n = rc == 0 ? asprintf(&buf, "moved domid=%u\nend\n", xw_rev_xenif()->domid)
                : asprintf(&buf, "error %s\nend\n", strerror(-rc));

    *len = n > 0 ? (size_t)n : 0;
    return n > 0 ? buf : NULL;
}

static void answer(int c)
{
    char req[PATH_MAX + 16];
    size_t len = 0, off = 0;
    char *buf = NULL;
    ssize_t n = -1;

    if (poll(&(struct pollfd){ .fd = c, .events = POLLIN }, 1, REQ_WAIT_MS) == 1)
        n = recv(c, req, sizeof(req) - 1, 0);
    if (n <= 0)
        return;
    req[n] = 0;
    req[strcspn(req, "\n")] = 0;
    if (!strncmp(req, "move ", 5)) {
        buf = move(req + 5, &len);
        goto send;
    }
    xw_stack_lock();
    if (!strncmp(req, "reset", 5))
        xw_neg_reset_stats();
    buf = dump(&len);
    xw_stack_unlock();
send:
    /* Blocking, bounded: a tool that stops reading loses its answer. */
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ .tv_sec = 1 },
               sizeof(struct timeval));
    while (buf && off < len && (n = send(c, buf + off, len - off, MSG_NOSIGNAL)) > 0)
        off += (size_t)n;
    free(buf);
}

void xw_ctl_serve(void)
{
    for (int i = 0; i < 8 && ctl.fd >= 0; i++) {
        int c = accept4(ctl.fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return;
        xw_stack_unlock();
        answer(c);
        close(c);
        xw_stack_lock();
    }
}
