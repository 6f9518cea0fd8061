/* Test helper: a fresh sim host directory on tmpfs, removed at exit. */
#ifndef XW_TEST_SIMHOST_H
#define XW_TEST_SIMHOST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char simhost_dir[256];
static pid_t simhost_owner;

static void simhost_remove(void)
{
    char cmd[300];

    if (getpid() != simhost_owner || !simhost_dir[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", simhost_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", simhost_dir);
}

static inline const char *simhost_new(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    snprintf(simhost_dir, sizeof(simhost_dir), "%s/xw-netif-XXXXXX", base);
    if (!mkdtemp(simhost_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    simhost_owner = getpid();
    atexit(simhost_remove);
    return simhost_dir;
}

#endif
