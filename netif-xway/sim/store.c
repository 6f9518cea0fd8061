/* The sim backend's key store (xs_read / xs_write / xs_watch).
 *
 * One file per key under <host>/xs, the key's '/' escaped as '%'.  A write
 * goes to a private .tmp file renamed over the key, so readers see the old or
 * the new value, never half.  Watches are inotify on the xs directory,
 * filtered by the watched keys (a watch fires for the key and everything
 * below it, as in xenstore).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"

int xw_sim_store_open(struct xw_sim *s)
{
    char p[PATH_MAX];

    if (xw_sim_path(s, p, "xs"))
        return -ENAMETOOLONG;
    if (mkdir(p, 0700) == 0)
        return xw_sim_created(s, -1, p);
    return errno == EEXIST ? 0 : -errno;
}

void xw_sim_store_close(struct xw_sim *s)
{
    int i;

    for (i = 0; i < SIM_MAX_WATCHES; i++)
        free(s->watches[i]);
    if (s->ino_fd >= 0)
        close(s->ino_fd);
}

static int key_path(struct xw_sim *s, const char *key, char *p)
{
    size_t n = strlen(s->dir), i;

    if (!key[0] || strlen(key) > 200 || n + 5 + strlen(key) >= PATH_MAX)
        return -EINVAL;
    if (snprintf(p, PATH_MAX, "%s/xs/%s", s->dir, key) >= PATH_MAX)
        return -ENAMETOOLONG;
    for (i = n + 4; p[i]; i++)
        if (p[i] == '/')
            p[i] = '%';
    return 0;
}

int xw_sim_store_read(struct xw_xenif *x, const char *key, char *buf, size_t len)
{
    char p[PATH_MAX];
    ssize_t n;
    int fd, err = key_path(xw_sim_of(x), key, p);

    if (err)
        return err;
    if (!len)
        return -EINVAL;
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -EIO;
    buf[n] = 0;
    return (int)n;
}

int xw_sim_store_write(struct xw_xenif *x, const char *key, const char *val)
{
    char p[PATH_MAX], tmp[PATH_MAX + 16];
    size_t len = strlen(val);
    int fd, err = key_path(xw_sim_of(x), key, p);

    if (err)
        return err;
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", p, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if ((err = xw_sim_created(xw_sim_of(x), fd, NULL)) == 0 && write(fd, val, len) != (ssize_t)len)
        err = -EIO;
    close(fd);
    if (!err && rename(tmp, p) < 0)
        err = -errno;
    if (err)
        unlink(tmp);
    return err;
}

int xw_sim_store_watch(struct xw_xenif *x, const char *key)
{
    struct xw_sim *s = xw_sim_of(x);
    char p[PATH_MAX];
    int i, err = key_path(s, key, p);

    if (err)
        return err;
    if (s->ino_fd < 0) {
        if (xw_sim_path(s, p, "xs"))
            return -ENAMETOOLONG;
        s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->ino_fd < 0)
            return -errno;
        if (inotify_add_watch(s->ino_fd, p, IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE) < 0)
            return -errno;
    }
    for (i = 0; i < SIM_MAX_WATCHES; i++)
        if (!s->watches[i]) {
            s->watches[i] = strdup(key);
            return s->watches[i] ? 0 : -ENOMEM;
        }
    return -ENOSPC;
}

int xw_sim_store_unwatch(struct xw_xenif *x, const char *key)
{
    struct xw_sim *s = xw_sim_of(x);
    int i;

    for (i = 0; i < SIM_MAX_WATCHES; i++)
        if (s->watches[i] && !strcmp(s->watches[i], key)) {
            free(s->watches[i]);
            s->watches[i] = NULL;
            return 0;
        }
    return -ENOENT;
}

int xw_sim_store_watch_fd(struct xw_xenif *x)
{
    struct xw_sim *s = xw_sim_of(x);

    return s->ino_fd < 0 ? -EINVAL : s->ino_fd;
}

/* Is the escaped file name a watched key (or below one)?  Its key's length,
 * the key copied into buf; or -1. */
static int watched(struct xw_sim *s, const char *name, char *buf, size_t len)
{
    char key[256];
    size_t i, kl;

    snprintf(key, sizeof(key), "%s", name);
    for (i = 0; key[i]; i++)
        if (key[i] == '%')
            key[i] = '/';
    for (i = 0; i < SIM_MAX_WATCHES; i++) {
        if (!s->watches[i])
            continue;
        kl = strlen(s->watches[i]);
        if (!strncmp(key, s->watches[i], kl) && (key[kl] == 0 || key[kl] == '/')) {
            snprintf(buf, len, "%s", key);
            return (int)strlen(key);
        }
    }
    return -1;
}

int xw_sim_store_read_watch(struct xw_xenif *x, char *buf, size_t len)
{
    struct xw_sim *s = xw_sim_of(x);
    const struct inotify_event *ev;
    ssize_t n;
    int r;

    if (s->ino_fd < 0)
        return -EINVAL;
    for (;;) {
        if (s->ino_off >= s->ino_len) {
            n = read(s->ino_fd, s->ino_buf, sizeof(s->ino_buf));
            if (n <= 0)
                return n < 0 && errno != EAGAIN ? -errno : -EAGAIN;
            s->ino_len = (size_t)n;
            s->ino_off = 0;
        }
        ev = (const struct inotify_event *)(s->ino_buf + s->ino_off);
        s->ino_off += sizeof(*ev) + ev->len;
        /* A write's .tmp file is not the key; its rename is. */
        if (ev->len && !strstr(ev->name, ".tmp") && (r = watched(s, ev->name, buf, len)) >= 0)
            return r;
    }
}
