/* lwIP's compiler and platform port for xway's core (Debian's lwIP source ships
 * none): freestanding C, the rest through the port interface. */
#ifndef XW_ARCH_CC_H
#define XW_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#include "xway_port.h"

#define LWIP_NO_INTTYPES_H 1 /* (the formats below are for lwIP's debug output) */
#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "zu"
#define LWIP_NO_CTYPE_H 1
#define LWIP_NO_UNISTD_H 1
#define LWIP_TIMEVAL_PRIVATE 0

/* (A hosted build may have <endian.h>'s, with the same meaning.) */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#ifndef BYTE_ORDER
#define BYTE_ORDER BIG_ENDIAN
#endif
#else
#ifndef BYTE_ORDER
#define BYTE_ORDER LITTLE_ENDIAN
#endif
#define lwip_htons(x) __builtin_bswap16(x)
#define lwip_htonl(x) __builtin_bswap32(x)
#endif

/* lwIP's debug output (LWIP_DEBUG, stats display) is not built. */
#define LWIP_PLATFORM_DIAG(x) ((void)0)
#define LWIP_PLATFORM_ASSERT(x) xway_port_fatal(x, __FILE__, __LINE__)

uint32_t xw_lwip_rand(void); /* lwip_sys.c */
#define LWIP_RAND() xw_lwip_rand()

#endif
