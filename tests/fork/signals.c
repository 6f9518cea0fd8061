/* The stack's threads never take the application's signals: a program that
 * starts the stack (a socket call), then blocks SIGCHLD and waits for its
 * child in sigsuspend (nginx's master) must see the child's exit.  Under
 * xway-run: signals ADDR.  Exits 0 when SIGCHLD stayed pending for the main
 * thread and sigsuspend returned for it, 1 otherwise. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_chld;

static void on_chld(int sig)
{
    (void)sig;
    got_chld = 1;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: sigsuspend still waiting 5 s after the child exited\n";
    (void)!write(1, msg, sizeof(msg) - 1);
    _exit(1);
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    struct sigaction sa = { .sa_handler = on_chld };
    sigset_t block, none;
    int fd;

    if (argc != 2 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
        return 2;
    /* The stack starts here, with the application's mask (nothing blocked). */
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || bind(fd, (void *)&a, sizeof(a)) < 0 ||
        listen(fd, 1) < 0) {
        perror("listen");
        return 2;
    }
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, NULL);
    if (fork() == 0)
        _exit(0);
    /* The child exits while SIGCHLD is blocked here and we are busy: it must
     * stay pending for us (a thread that does not block it would take it and
     * run our handler behind our back; nginx's master then sleeps for ever). */
    usleep(300000);
    if (got_chld || sigpending(&none) < 0 || !sigismember(&none, SIGCHLD)) {
        printf("FAIL: SIGCHLD was taken by another thread (handled %d)\n", (int)got_chld);
        return 1;
    }
    alarm(5);
    sigemptyset(&none);
    while (!got_chld)
        sigsuspend(&none);
    wait(NULL);
    printf("ok: SIGCHLD stayed pending for the main thread, sigsuspend saw it\n");
    return 0;
}
