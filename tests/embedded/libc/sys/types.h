/* The freestanding check's stand-in for <sys/types.h>: ssize_t, POSIX's
 * signed size, which the ring's calls return (and its maximum, which lwIP
 * looks for). */
#ifndef XWT_SYS_TYPES_H
#define XWT_SYS_TYPES_H

typedef long ssize_t;
#define SSIZE_MAX __LONG_MAX__

#endif
