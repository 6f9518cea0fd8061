/* XWAY_POLLED: on the ring, the socket's fd follows the socket exactly for the
 * application's own epoll — not readable once a recv emptied the ring, and a
 * new EPOLLET edge on every arrival, as with a kernel socket. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "testlib.h"
#include "xway.h"

static unsigned events_now(int ep, int ms)
{
    struct epoll_event ev;
    int n = epoll_wait(ep, &ev, 1, ms);
    return n > 0 ? ev.events : 0;
}

int main(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7400) };
    struct epoll_event ev = { .events = EPOLLIN };
    struct xway_conn_info ci;
    socklen_t len = sizeof(ci);
    char buf[256];
    int one = 1, l, c, s, lt, et;

    xw_watchdog(60);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0);
    CHECK_EQ(xway_bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    CHECK_EQ(xway_listen(l, 1), 0);
    c = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(xway_connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    s = xway_accept(l, NULL, NULL);
    CHECK(s >= 0);
    CHECK_EQ(xway_getsockopt(s, XWAY_SOL, XWAY_INFO, &ci, &len), 0);
    CHECK(strcmp(ci.path, "ring") == 0);
    CHECK_EQ(xway_setsockopt(s, XWAY_SOL, XWAY_POLLED, &one, sizeof(one)), 0);

    lt = epoll_create1(0);
    et = epoll_create1(0);
    CHECK_EQ(epoll_ctl(lt, EPOLL_CTL_ADD, s, &ev), 0);
    ev.events = EPOLLIN | EPOLLET;
    CHECK_EQ(epoll_ctl(et, EPOLL_CTL_ADD, s, &ev), 0);
    events_now(et, 0); /* consume any initial edge */

    CHECK_EQ(xway_send(c, "0123456789", 10, 0), 10);
    CHECK(events_now(et, 2000) & EPOLLIN);
    CHECK_EQ(xway_recv(s, buf, 10, MSG_WAITALL), 10); /* exactly what came: no EAGAIN */
    CHECK(memcmp(buf, "0123456789", 10) == 0);
    CHECK_EQ(events_now(lt, 0), 0); /* the ring is empty: not readable */

    /* every arrival is an edge, even while unread data is waiting */
    CHECK_EQ(xway_send(c, "abcde", 5, 0), 5);
    CHECK(events_now(et, 2000) & EPOLLIN);
    CHECK_EQ(xway_send(c, "fghij", 5, 0), 5);
    CHECK(events_now(et, 2000) & EPOLLIN);
    CHECK(events_now(lt, 0) & EPOLLIN);
    CHECK_EQ(xway_recv(s, buf, 10, MSG_WAITALL), 10);
    CHECK(memcmp(buf, "abcdefghij", 10) == 0);
    CHECK_EQ(events_now(lt, 0), 0);

    close(lt);
    close(et);
    xway_close(c);
    xway_close(s);
    xway_close(l);
    xway_fini();
    printf("polled: PASS\n");
    return 0;
}
