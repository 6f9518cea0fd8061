/* Diagnostics to stderr, filtered by XWAY_LOG.  Lines start with "xway[pid]: ". */
#ifndef XW_LOG_H
#define XW_LOG_H

#include "xway.h"

extern int xw_log_level; /* enum xway_log_level; default XWAY_LOG_WARN */

void xw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same, for lines a peer can cause at will (a reset handshake, a broken
 * ring, a full accept queue): at most XW_LOG_BURST such lines per 10 s in the
 * process, the rest counted and reported with the next line let through. */
#define XW_LOG_BURST 20
void xw_log_peer(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define xw_err(...) xw_log(XWAY_LOG_ERROR, __VA_ARGS__)
#define xw_warn(...) xw_log(XWAY_LOG_WARN, __VA_ARGS__)
#define xw_warn_peer(...) xw_log_peer(XWAY_LOG_WARN, __VA_ARGS__)
#define xw_info(...)                                                                \
    do {                                                                            \
        if (xw_log_level >= XWAY_LOG_INFO)                                          \
            xw_log(XWAY_LOG_INFO, __VA_ARGS__);                                     \
    } while (0)
#define xw_debug(...)                                                               \
    do {                                                                            \
        if (xw_log_level >= XWAY_LOG_DEBUG)                                         \
            xw_log(XWAY_LOG_DEBUG, __VA_ARGS__);                                    \
    } while (0)

#endif
