/* lwIP compiler/platform port for Linux userspace (Debian's lwIP source ships none). */
#ifndef XW_ARCH_CC_H
#define XW_ARCH_CC_H

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <errno.h>
#include <sys/time.h>
#include <endian.h>

#define LWIP_TIMEVAL_PRIVATE 0
#ifndef BYTE_ORDER
#define BYTE_ORDER __BYTE_ORDER
#endif

#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x)                                                     \
    do {                                                                            \
        fprintf(stderr, "xway: lwIP assertion \"%s\" failed at %s:%d\n", x,         \
                __FILE__, __LINE__);                                                \
        abort();                                                                    \
    } while (0)

uint32_t xw_lwip_rand(void);
#define LWIP_RAND() xw_lwip_rand()

#define lwip_htons(x) __builtin_bswap16(x)
#define lwip_htonl(x) __builtin_bswap32(x)

#endif
