/* The shim API tests' peer protocol (peer.c serves it) and the client side
 * helpers every test program shares (client.c).
 *
 * A test program runs twice: "kernel" (no shim, peer on 127.0.0.1) and "xway"
 * (both under xway-run on the hub, co-resident).  The same assertions must hold
 * in both, so every errno and byte count is the one libc gives on a kernel
 * socket; in xway mode every connection must also be on the ring. */
#ifndef XS_PEER_H
#define XS_PEER_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

/* Each connection starts with this header, client to peer. */
struct peer_hdr {
    uint8_t cmd;       /* enum peer_cmd */
    uint8_t pad[3];
    uint32_t id;       /* the connection's id (pattern seed, table key) */
    uint64_t arg;
    uint32_t chunk;    /* 'G': bytes per write */
    uint32_t delay_ms; /* 'E'/'S': before the first read; 'G': between writes; 'Q': max wait */
};

enum peer_cmd {
    PEER_ECHO = 'E',  /* echo until EOF, then close */
    PEER_SINK = 'S',  /* read until EOF, reply struct peer_sum, close */
    PEER_GEN = 'G',   /* send arg pattern bytes (id's pattern), then close */
    PEER_QUERY = 'Q', /* reply struct peer_state of connection arg (wait for its end) */
    PEER_NAMES = 'N', /* reply struct peer_names, then echo */
    PEER_RESET = 'R', /* wait for one byte, then close with a reset (SO_LINGER 0) */
};

struct peer_sum {
    uint64_t bytes, fnv;
};

struct peer_state {
    uint64_t eof;   /* connection arg: 0 open, 1 EOF, 2 unknown id, 3 error */
    uint64_t bytes; /* bytes it had received */
    uint64_t err;   /* eof 3: the errno of its recv */
};

struct peer_names {
    unsigned char local[128], remote[128]; /* sockaddr_storage, as the peer sees them */
    uint32_t llen, rlen;
};

/* Byte off of connection id's stream. */
static inline unsigned char peer_pat(uint32_t id, uint64_t off)
{
    return (unsigned char)(id * 131u + off * 7u + (off >> 11));
}

#define FNV_INIT 0xcbf29ce484222325ull
static inline uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

/* ---- client side (client.c) ------------------------------------------------------ */

extern _Atomic int st_fails; /* CHECK may fail in any thread */
extern bool st_xway; /* argv[1] == "xway": connections must be on the ring */

/* MODE ADDR PORT: the peer to use.  Sets an alarm of secs. */
void st_init(int argc, char **argv, int secs);
/* A blocking connection to the peer with its header sent (die on failure). */
int st_conn(int cmd, uint32_t id, uint64_t arg, uint32_t chunk, uint32_t delay_ms);
/* The peer's view of connection id: waits up to wait_ms for its end (EOF or error). */
struct peer_state st_query(uint32_t id, uint32_t wait_ms);
/* fd is an xway socket (XWAY_INFO answers). */
bool st_is_xway(int fd);
/* xway mode: fd is on the ring and moved payload through it. */
void st_ring(int fd, const char *what);
/* Write all of buf (blocking); read exactly n unless EOF comes first. */
void st_write_all(int fd, const void *buf, size_t n);
size_t st_read_n(int fd, void *buf, size_t n);
/* Send bytes [off, off+n) of id's pattern (n <= 4096); read exactly that
 * many and check them (a CHECK fails otherwise). */
void st_send_pat(int fd, uint32_t id, uint64_t off, size_t n);
void st_read_pat(int fd, uint32_t id, uint64_t off, size_t n);
/* Fill / verify buf as bytes [off, off+n) of id's pattern; 0 if equal. */
void st_fill(uint32_t id, uint64_t off, void *buf, size_t n);
int st_verify(uint32_t id, uint64_t off, const void *buf, size_t n);
/* Wait until fd is readable (poll, up to ms); 1 if readable. */
int st_readable(int fd, int ms);
long st_ms_since(const struct timespec *t0);
void st_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print the verdict and return the exit status. */
int st_done(const char *name);

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            printf("FAIL line %d: %s: ", __LINE__, #cond);            \
            printf(__VA_ARGS__);                                      \
            printf("\n");                                             \
            fflush(stdout);                                           \
            st_fails++;                                               \
        }                                                             \
    } while (0)

/* call must fail with errno err. */
#define EXPECT_ERR(call, err)                                                      \
    do {                                                                           \
        errno = 0;                                                                 \
        long r_ = (long)(call);                                                    \
        CHECK(r_ == -1 && errno == (err), "%s -> %ld errno %s, want %s", #call, r_, \
              strerror(errno), strerror(err));                                     \
    } while (0)

/* call must succeed; its result. */
#define OK(call)                                                                   \
    ({                                                                             \
        long r_ = (long)(call);                                                    \
        CHECK(r_ >= 0, "%s -> %s", #call, strerror(errno));                        \
        r_;                                                                        \
    })

#endif
