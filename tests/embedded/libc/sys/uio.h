/* The freestanding check's stand-in for <sys/uio.h>: struct iovec, which the
 * ring's zero-copy calls fill (POSIX's layout). */
#ifndef XWT_SYS_UIO_H
#define XWT_SYS_UIO_H

#include <stddef.h>

struct iovec {
    void *iov_base;
    size_t iov_len;
};

#endif
