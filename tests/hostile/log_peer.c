/* Lines a peer can cause at will are bounded (xw_warn_peer, stack/core/log.c):
 * a thousand resets print at most XW_LOG_BURST lines in a 10 s window, the
 * rest are counted; ordinary warnings are not limited. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testlib.h"

int main(void)
{
    char path[] = "/tmp/xwt-logXXXXXX", line[600];
    int fd = mkstemp(path), saved = dup(2), peer = 0, plain = 0;
    FILE *f;

    CHECK(fd >= 0 && saved >= 0);
    unlink(path);
    CHECK(dup2(fd, 2) == 2);
    for (int i = 0; i < 1000; i++)
        xw_warn_peer("fd %d: handshake failed (timeout): connection reset", i);
    for (int i = 0; i < 50; i++)
        xw_warn("ordinary %d", i);
    CHECK(dup2(saved, 2) == 2);
    CHECK((f = fdopen(fd, "r")) != NULL);
    rewind(f);
    while (fgets(line, sizeof(line), f)) {
        peer += strstr(line, "handshake failed") != NULL;
        plain += strstr(line, "ordinary") != NULL;
    }
    printf("peer lines %d of 1000 (burst %d), ordinary %d of 50\n", peer, XW_LOG_BURST, plain);
    /* A 10 s window boundary may fall inside the loop: at most two bursts. */
    CHECK(peer >= XW_LOG_BURST && peer <= 2 * XW_LOG_BURST);
    CHECK_EQ(plain, 50);
    return 0;
}
