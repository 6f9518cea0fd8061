/* Two-process tests on a fresh hub: the test forks peers, each with its own
 * stack, address and a control socket (a kernel AF_UNIX pair) to step in lockstep.
 * Fork every peer before the parent starts its own stack. */
#ifndef XWT_PEER_H
#define XWT_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct xwt_peer {
    pid_t pid;
    int ctl; /* parent's end of the control socket */
};

/* Make a fresh hub directory (removed at exit) and arm a watchdog of secs. */
const char *xwt_setup(unsigned secs);

/* Start this process's stack on the hub with addr (CIDRs); CHECKs success.
 * XWAY_BACKEND (default "off"), XWAY_HOST, XWAY_RING and XWAY_SPIN_US come from the
 * environment. */
void xwt_start(const char *hub, const char *addrs);

/* Fork a peer that starts its stack (hub, addrs) and runs fn(ctl, arg); its exit
 * code is fn's.  The peer dies with the parent. */
struct xwt_peer xwt_spawn(const char *hub, const char *addrs, int (*fn)(int ctl, void *arg),
                          void *arg);
/* The same, with env ("NAME=VALUE" strings, NULL-terminated; may be NULL) set
 * in the peer before its stack starts (XWAY_BACKEND, XWAY_HOST, XWAY_FAULT, ...). */
struct xwt_peer xwt_spawn_env(const char *hub, const char *addrs, const char *const *env,
                              int (*fn)(int ctl, void *arg), void *arg);
/* Wait for the peer to exit; CHECKs exit code 0. */
void xwt_join(struct xwt_peer *p);
/* Wait for the peer to exit; its wait status. */
int xwt_join_status(struct xwt_peer *p);

/* Control messages: one byte.  recv CHECKs that it arrives within 30 s. */
void xwt_ctl_send(int ctl, unsigned char v);
unsigned char xwt_ctl_recv(int ctl);
/* A 64-bit value over the control socket, most significant byte first. */
void xwt_ctl_send64(int ctl, uint64_t v);
uint64_t xwt_ctl_recv64(int ctl);

/* Numeric IPv4/IPv6 address + port. */
socklen_t xwt_addr(const char *ip, unsigned port, struct sockaddr_storage *ss);

/* A listening xway socket on ip:port (blocking), CHECKed. */
int xwt_listen(const char *ip, unsigned port, int backlog);

/* Echo everything received on fd until EOF, then close fd.  0 or -errno. */
int xwt_echo(int fd);

/* Send n pattern bytes (seed) from a second thread, then SHUT_WR; receive and check
 * the n echoed bytes and the EOF after them. */
void xwt_exchange(int fd, size_t n, uint32_t seed);

#endif
