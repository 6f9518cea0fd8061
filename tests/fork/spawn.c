/* A connection given to another program or process, the ways servers do it
 * (spawn MODE ADDR PORT COUNT; prints "listening", serves COUNT connections):
 *   spawn       posix_spawnp(sha256sum) with the connection as its stdin and
 *               stdout (file actions), the server closes its copy;
 *   vfork       vfork, dup2 onto 0 and 1, exec sha256sum;
 *   exec        (COUNT 1) the server itself becomes sha256sum on the
 *               connection: dup2 onto 0 and 1, exec without fork;
 *   parentexit  (COUNT 1) fork; the child echoes the connection back after
 *               2.5 s; the parent closes its copy and exits at once, so the
 *               connection outlives the process that accepted it.
 * The client sends a byte pattern, half-closes and writes what comes back to
 * stdout (spawn client ADDR PORT BYTES); spawn pattern BYTES writes the
 * pattern, for the expected checksums; spawn drop UID PROG ARGS... gives root
 * up for UID and execs PROG, as setpriv does.  (A C client: under make asan the
 * client must be an instrumented program too.) */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what)
{
    fprintf(stderr, "spawn %d: %s: %s\n", (int)getpid(), what, strerror(errno));
    exit(1);
}

static void give(int c)
{
    if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
        die("dup2");
    close(c);
}

static void echo(int c)
{
    static char buf[65536];
    ssize_t n;

    usleep(2500000); /* longer than an exiting process waits for its pumps (handoff.c) */
    while ((n = read(c, buf, sizeof(buf))) > 0)
        for (ssize_t off = 0, w; off < n; off += w)
            if ((w = write(c, buf + off, (size_t)(n - off))) < 0)
                die("write");
    if (n < 0)
        die("read");
    close(c);
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static void out_all(const char *b, size_t n)
{
    for (ssize_t w; n; b += w, n -= (size_t)w)
        if ((w = write(1, b, n)) < 0)
            die("write stdout");
}

static int pattern(size_t total)
{
    static char buf[65536];

    for (size_t off = 0; off < total;) {
        size_t n = total - off < sizeof(buf) ? total - off : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)pattern_byte(off + i);
        out_all(buf, n);
        off += n;
    }
    return 0;
}

/* Send the pattern while reading what comes back, half-close after the last
 * byte, read to EOF. */
static int client(struct sockaddr_in *a, size_t total)
{
    static char in[65536], buf[65536];
    size_t sent = 0, have = 0, off = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool eof = false;

    if (fd < 0 || connect(fd, (struct sockaddr *)a, sizeof(*a)) < 0)
        die("connect");
    while (!eof) {
        struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
        if (poll(&p, 1, -1) < 0)
            die("poll");
        if (p.revents & POLLOUT) {
            if (off == have) {
                have = total - sent < sizeof(buf) ? total - sent : sizeof(buf);
                for (size_t i = 0; i < have; i++)
                    buf[i] = (char)pattern_byte(sent + i);
                off = 0;
            }
            ssize_t w = send(fd, buf + off, have - off, MSG_DONTWAIT);
            if (w < 0 && errno != EAGAIN)
                die("send");
            if (w > 0) {
                off += (size_t)w;
                sent += (size_t)w;
                if (sent == total && shutdown(fd, SHUT_WR) < 0)
                    die("shutdown");
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN)
                die("recv");
            if (n > 0)
                out_all(in, (size_t)n);
            eof = n == 0;
        }
    }
    close(fd);
    return sent == total ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    char *const hash[] = { "sha256sum", NULL };
    int l, one = 1, count;
    const char *mode;

    if (argc == 3 && !strcmp(argv[1], "pattern"))
        return pattern(strtoul(argv[2], NULL, 0));
    if (argc >= 4 && !strcmp(argv[1], "drop")) {
        uid_t uid = (uid_t)atoi(argv[2]);
        if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setresuid(uid, uid, uid) < 0)
            die("setresuid");
        execv(argv[3], argv + 3);
        die("exec");
    }
    if (argc != 5)
        return fprintf(stderr, "usage: spawn spawn|vfork|exec|parentexit|client ADDR PORT "
                               "COUNT|BYTES\n       spawn pattern BYTES\n"), 2;
    mode = argv[1];
    count = atoi(argv[4]);
    a.sin_port = htons((unsigned short)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1)
        return fprintf(stderr, "spawn: bad address %s\n", argv[2]), 2;
    if (!strcmp(mode, "client"))
        return client(&a, strtoul(argv[4], NULL, 0));
    signal(SIGPIPE, SIG_IGN);
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        die("socket");
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 16) < 0)
        die("listen");
    printf("listening\n");
    fflush(stdout);
    for (int i = 0; i < count; i++) {
        int c = accept(l, NULL, NULL), st;
        pid_t pid;

        if (c < 0)
            die("accept");
        if (!strcmp(mode, "spawn")) {
            posix_spawn_file_actions_t fa;
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_adddup2(&fa, c, 0);
            posix_spawn_file_actions_adddup2(&fa, c, 1);
            errno = posix_spawnp(&pid, "sha256sum", &fa, NULL, hash, environ);
            if (errno)
                die("posix_spawnp");
            posix_spawn_file_actions_destroy(&fa);
        } else if (!strcmp(mode, "vfork")) {
            pid = vfork();
            if (pid == 0) {
                dup2(c, 0);
                dup2(c, 1);
                execvp("sha256sum", hash);
                _exit(127);
            }
            if (pid < 0)
                die("vfork");
        } else if (!strcmp(mode, "exec")) {
            fprintf(stderr, "spawn %d: becoming sha256sum\n", (int)getpid());
            give(c);
            execvp("sha256sum", hash);
            die("exec");
        } else if (!strcmp(mode, "parentexit")) {
            pid = fork();
            if (pid == 0) {
                close(l);
                echo(c);
                printf("child echoed\n");
                return 0;
            }
            if (pid < 0)
                die("fork");
            close(c);
            printf("parent exits\n");
            return 0;
        } else {
            fprintf(stderr, "spawn: unknown mode %s\n", mode);
            return 2;
        }
        close(c);
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return fprintf(stderr, "spawn: child %d ended with status %#x\n", (int)pid, st), 1;
    }
    printf("served %d\n", count);
    return 0;
}
