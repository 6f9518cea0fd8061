/* setsockopt/getsockopt: the options of include/xway.h, with Linux's errno
 * values for unknown options (ENOPROTOOPT) and short buffers (EINVAL). */
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#undef TCP_MSS /* glibc's 512; lwIP's (lwipopts.h) is meant below */
#include <string.h>

#include "lwip/tcp.h"
#include "negotiate.h"
#include "sock_linux.h"
#include "socket.h"
#include "stack.h"
#include "tcp_path.h"
#include "xway.h"

static int get_int(const void *val, socklen_t len, int *out)
{
    if (!val || len < sizeof(int))
        return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

/* A timeout as struct timeval, kept in microseconds (0: none, as a negative
 * one; one too long to count is none too, as Linux's never-ending wait). */
static int get_timeval(const void *val, socklen_t len, uint64_t *out_us)
{
    struct timeval tv;

    if (!val || len < sizeof(tv))
        return -EINVAL;
    memcpy(&tv, val, sizeof(tv));
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    if (tv.tv_sec < 0 || tv.tv_sec >= 1000000000000L)
        tv.tv_sec = tv.tv_usec = 0;
    *out_us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    return 0;
}

static int set_socket_level(struct xw_sock *s, int name, const void *val, socklen_t len)
{
    struct linger lg;
    int v = 0, rc;

    switch (name) {
    case SO_LINGER:
        if (!val || len < sizeof(lg))
            return -EINVAL;
        memcpy(&lg, val, sizeof(lg));
        s->linger_on = lg.l_onoff;
        s->linger_s = lg.l_linger;
        return 0;
    case SO_RCVTIMEO:
        return get_timeval(val, len, &s->rcvtimeo_us);
    case SO_SNDTIMEO:
        return get_timeval(val, len, &s->sndtimeo_us);
    }
    rc = get_int(val, len, &v);
    if (rc < 0)
        return rc;
    switch (name) {
    case SO_REUSEADDR:
        s->reuseaddr = v != 0;
        if (s->tcp.pcb) {
            if (v)
                ip_set_option(s->tcp.pcb, SOF_REUSEADDR);
            else
                ip_reset_option(s->tcp.pcb, SOF_REUSEADDR);
        }
        return 0;
    case SO_REUSEPORT: /* takes effect at bind and listen (tcp_path.c) */
        s->reuseport = v != 0;
        return 0;
    case SO_KEEPALIVE:
        s->keepalive = v != 0;
        break;
    case SO_RCVBUF:
    case SO_SNDBUF:
        /* Linux doubles the request; lwIP's window and buffer are fixed at
         * build time, so the value is recorded and reported, not enforced. */
        if (v < 0)
            v = 0;
        *(name == SO_RCVBUF ? &s->rcvbuf : &s->sndbuf) = v > INT32_MAX / 2 ? INT32_MAX : 2 * v;
        return 0;
    default:
        return -ENOPROTOOPT;
    }
    xw_tcp_apply_opts(s);
    return 0;
}

static int set_tcp_level(struct xw_sock *s, int name, const void *val, socklen_t len)
{
    int v, rc = get_int(val, len, &v);

    if (rc < 0)
        return rc;
    switch (name) {
    case TCP_NODELAY:
        s->nodelay = v != 0;
        break;
    case TCP_KEEPIDLE:
    case TCP_KEEPINTVL:
    case TCP_KEEPCNT:
        if (v < 1 || v > (name == TCP_KEEPCNT ? 127 : 32767))
            return -EINVAL;
        *(name == TCP_KEEPIDLE ? &s->keepidle : name == TCP_KEEPINTVL ? &s->keepintvl
                                                                       : &s->keepcnt) = v;
        break;
    default:
        return -ENOPROTOOPT;
    }
    xw_tcp_apply_opts(s);
    return 0;
}

int xway_setsockopt(int fd, int level, int name, const void *val, socklen_t len) XW_EXPORT;
int xway_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct xw_sock *s = xw_api_enter(fd);
    int rc;

    if (!s)
        return -1;
    if (level == SOL_SOCKET)
        rc = set_socket_level(s, name, val, len);
    else if (level == XWAY_SOL && name == XWAY_POLLED) {
        int v;
        rc = get_int(val, len, &v);
        if (rc == 0)
            s->polled = v != 0;
    }
    else if (level == IPPROTO_TCP)
        rc = set_tcp_level(s, name, val, len);
    else
        rc = -ENOPROTOOPT;
    return (int)xw_api_leave(rc);
}

static int put(void *val, socklen_t *len, const void *src, socklen_t n)
{
    if (!val || !len)
        return -EFAULT;
    if (*len < n && n != sizeof(int))
        return -EINVAL;
    memcpy(val, src, *len < n ? *len : n);
    *len = *len < n ? *len : n;
    return 0;
}

static int put_timeval(void *val, socklen_t *len, uint64_t us)
{
    struct timeval tv = { .tv_sec = (time_t)(us / 1000000u),
                          .tv_usec = (suseconds_t)(us % 1000000u) };
    return put(val, len, &tv, sizeof(tv));
}

static int get_socket_level(struct xw_sock *s, int name, void *val, socklen_t *len)
{
    int v;

    switch (name) {
    case SO_LINGER:
        return put(val, len, &(struct linger){ s->linger_on, s->linger_s },
                   sizeof(struct linger));
    case SO_RCVTIMEO:
        return put_timeval(val, len, s->rcvtimeo_us);
    case SO_SNDTIMEO:
        return put_timeval(val, len, s->sndtimeo_us);
    case SO_ERROR:
        v = s->err;
        s->err = 0;
        xw_sock_changed(s);
        break;
    case SO_REUSEADDR: v = s->reuseaddr; break;
    case SO_REUSEPORT: v = s->reuseport; break;
    case SO_KEEPALIVE: v = s->keepalive; break;
    case SO_RCVBUF: v = s->rcvbuf; break;
    case SO_SNDBUF: v = s->sndbuf; break;
    case SO_TYPE: v = SOCK_STREAM; break;
    case SO_DOMAIN: v = s->domain; break;
    case SO_PROTOCOL: v = IPPROTO_TCP; break;
    case SO_ACCEPTCONN: v = s->state == XW_SS_LISTEN; break;
    default:
        return -ENOPROTOOPT;
    }
    return put(val, len, &v, sizeof(v));
}

static int get_tcp_level(struct xw_sock *s, int name, void *val, socklen_t *len)
{
    int v;

    switch (name) {
    case TCP_NODELAY: v = s->nodelay; break;
    case TCP_KEEPIDLE: v = s->keepidle; break;
    case TCP_KEEPINTVL: v = s->keepintvl; break;
    case TCP_KEEPCNT: v = s->keepcnt; break;
    case TCP_MAXSEG: v = s->tcp.pcb && s->state == XW_SS_CONNECTED ? (s->tcp.mss ? s->tcp.mss : s->tcp.pcb->mss) : TCP_MSS; break;
    default:
        return -ENOPROTOOPT;
    }
    return put(val, len, &v, sizeof(v));
}

int xway_getsockopt(int fd, int level, int name, void *val, socklen_t *len) XW_EXPORT;
int xway_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct xw_sock *s = xw_api_enter(fd);
    int rc;

    if (!s)
        return -1;
    if (level == SOL_SOCKET)
        rc = get_socket_level(s, name, val, len);
    else if (level == IPPROTO_TCP)
        rc = get_tcp_level(s, name, val, len);
    else if (level == XWAY_SOL && name == XWAY_INFO) {
        struct xway_conn_info ci;
        /* Grown at its end since (switches): a caller built with the older,
         * shorter struct gets what fits it. */
        socklen_t old = (socklen_t)offsetof(struct xway_conn_info, switches);
        xw_path_info(s, &ci);
        rc = put(val, len, &ci, len && *len >= old && *len < sizeof(ci) ? *len : sizeof(ci));
    } else
        rc = -ENOPROTOOPT;
    return (int)xw_api_leave(rc);
}
