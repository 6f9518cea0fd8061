/* Bad input on a TCP socket, with the errno values Linux gives.  Run with and
 * without the shim: both runs must pass.  Prints "xway" or "kernel" (which kind
 * of socket it got) last. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int fails;

#define EXPECT(call, err)                                                           \
    do {                                                                            \
        errno = 0;                                                                  \
        long r_ = (long)(call);                                                     \
        if (r_ != -1 || errno != (err)) {                                           \
            printf("FAIL line %d: %s -> %ld errno %s, want %s\n", __LINE__, #call,  \
                   r_, strerror(errno), strerror(err));                             \
            fails++;                                                                \
        }                                                                           \
    } while (0)

#define OK(call)                                                                    \
    do {                                                                            \
        long r_ = (long)(call);                                                     \
        if (r_ < 0) {                                                               \
            printf("FAIL line %d: %s -> %s\n", __LINE__, #call, strerror(errno));   \
            fails++;                                                                \
        }                                                                           \
    } while (0)

int main(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), v = 1, fl, d;
    socklen_t len = sizeof(v);
    char buf[16];
    char info[256];
    socklen_t ilen = sizeof(info);
    int xway;

    alarm(20);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    /* 0x5857/1 is XWAY_SOL/XWAY_INFO: the kernel's TCP says EOPNOTSUPP. */
    errno = 0;
    xway = !(getsockopt(fd, 0x5857, 1, info, &ilen) < 0 && errno == EOPNOTSUPP);

    EXPECT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, NULL, sizeof(int)), EFAULT);
    EXPECT(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, (void *)8, sizeof(int)), EFAULT);
    EXPECT(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, 1), EINVAL);
    EXPECT(setsockopt(fd, SOL_SOCKET, 9999, &v, sizeof(v)), ENOPROTOOPT);
    EXPECT(setsockopt(fd, IPPROTO_TCP, 9999, &v, sizeof(v)), ENOPROTOOPT);
    EXPECT(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, (socklen_t *)8), EFAULT);
    EXPECT(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, (void *)8, &len), EFAULT);
    EXPECT(getsockopt(fd, SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);
    OK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)));
    len = sizeof(v);
    v = 0;
    OK(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len));
    if (v != 1) {
        printf("FAIL: TCP_NODELAY reads %d\n", v);
        fails++;
    }
    EXPECT(shutdown(fd, 12345), EINVAL);
    EXPECT(listen(-5, 1), EBADF);

    /* O_NONBLOCK through fcntl and ioctl. */
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK)) {
        printf("FAIL: fresh socket flags %#x\n", fl);
        fails++;
    }
    OK(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
    if (!(fcntl(fd, F_GETFL) & O_NONBLOCK)) {
        printf("FAIL: O_NONBLOCK not set\n");
        fails++;
    }
    v = 0;
    OK(ioctl(fd, FIONBIO, &v));
    if (fcntl(fd, F_GETFL) & O_NONBLOCK) {
        printf("FAIL: FIONBIO 0 did not clear O_NONBLOCK\n");
        fails++;
    }

    /* dup: an alias that outlives the original number. */
    d = dup(fd);
    OK(d);
    OK(close(fd));
    len = sizeof(v);
    OK(getsockopt(d, SOL_SOCKET, SO_TYPE, &v, &len));
    if (v != SOCK_STREAM) {
        printf("FAIL: SO_TYPE via dup %d\n", v);
        fails++;
    }
    OK(close(d));

    /* Use after close, close twice. */
    EXPECT(close(d), EBADF);
    EXPECT(close(fd), EBADF);
    EXPECT(read(fd, buf, sizeof(buf)), EBADF);
    EXPECT(write(fd, buf, sizeof(buf)), EBADF);
    EXPECT(send(fd, buf, sizeof(buf), 0), EBADF);
    EXPECT(recv(fd, buf, sizeof(buf), 0), EBADF);
    EXPECT(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), EBADF);
    EXPECT(fcntl(fd, F_GETFL), EBADF);

    printf("%s %s\n", fails ? "FAILED" : "passed", xway ? "xway" : "kernel");
    return fails ? 1 : 0;
}
