/* Interposed calls at the edges of a process's life (tests/shim/early.sh):
 * from a library constructor that runs before the shim's own (the library is
 * a dependency of the program, as libcap-ng is of su and sshd), from main, and
 * from an atexit handler and a library destructor after exit began.  Each
 * stage moves bytes through a pipe with write/read/poll/ioctl(FIONREAD) (first:
 * none of these starts the shim's configuration), then makes a TCP socket, sets
 * and reads its flags and closes it; it prints one line
 * per stage.  Built twice from this file: the library (XS_EARLY_LIB) and the
 * program. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int xs_early_stage(const char *stage);

#ifdef XS_EARLY_LIB
int xs_early_stage(const char *stage)
{
    char out[64], in[64] = { 0 };
    int p[2], s, fl, avail = -1, n;
    struct pollfd pfd;

    if (pipe(p) < 0)
        return fprintf(stderr, "%s: pipe: %m\n", stage), 1;
    n = snprintf(out, sizeof(out), "bytes of the %s stage", stage);
    pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
    if (write(p[1], out, (size_t)n) != n || poll(&pfd, 1, 1000) != 1 ||
        ioctl(p[0], FIONREAD, &avail) < 0 || avail != n || read(p[0], in, sizeof(in)) != n ||
        memcmp(in, out, (size_t)n))
        return fprintf(stderr, "%s: pipe round trip failed (%d available)\n", stage, avail), 1;
    close(p[0]);
    close(p[1]);
    if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return fprintf(stderr, "%s: socket: %m\n", stage), 1;
    fl = fcntl(s, F_GETFL);
    if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0 || !(fcntl(s, F_GETFL) & O_NONBLOCK))
        return fprintf(stderr, "%s: fcntl: %m\n", stage), 1;
    if (close(s) < 0 || close(s) == 0)
        return fprintf(stderr, "%s: close twice did not give one error\n", stage), 1;
    /* stdio may be gone in the last stages: write(2) the line. */
    n = snprintf(out, sizeof(out), "stage %s: ok\n", stage);
    return write(1, out, (size_t)n) == n ? 0 : 1;
}

__attribute__((constructor)) static void lib_ctor(void)
{
    if (xs_early_stage("constructor"))
        _exit(3);
}

__attribute__((destructor)) static void lib_dtor(void)
{
    if (xs_early_stage("destructor"))
        _exit(4);
}
#else
static void at_exit(void)
{
    if (xs_early_stage("atexit"))
        _exit(5);
}

int main(void)
{
    atexit(at_exit);
    return xs_early_stage("main") ? 2 : 0;
}
#endif
