/* Diagnostics, through the port (include/xway_port.h: the core uses this
 * header too).  The Linux port (log.c) writes them to stderr, filtered by
 * XWAY_LOG; lines start with "xway[pid]: ". */
#ifndef XW_LOG_H
#define XW_LOG_H

#if __STDC_HOSTED__
#include "xway.h" /* (enum xway_log_level, for the Linux library's files) */
#endif
#include "xway_port.h"

/* Levels: xway.h's enum xway_log_level. */
#define XW_LOG_ERROR 0
#define XW_LOG_WARN 1
#define XW_LOG_INFO 2
#define XW_LOG_DEBUG 3

#define xw_log_level xway_port_log_level /* default XW_LOG_WARN */
#define xw_log xway_port_log
/* For lines a peer can cause at will (a reset handshake, a broken ring, a
 * full accept queue): at most XW_LOG_BURST such lines per 10 s in the
 * process, the rest counted and reported with the next line let through. */
#define XW_LOG_BURST 20
#define xw_log_peer xway_port_log_peer

#define xw_err(...) xw_log(XW_LOG_ERROR, __VA_ARGS__)
#define xw_warn(...) xw_log(XW_LOG_WARN, __VA_ARGS__)
#define xw_warn_peer(...) xw_log_peer(XW_LOG_WARN, __VA_ARGS__)
#define xw_info(...)                                                                \
    do {                                                                            \
        if (xw_log_level >= XW_LOG_INFO)                                            \
            xw_log(XW_LOG_INFO, __VA_ARGS__);                                       \
    } while (0)
#define xw_debug(...)                                                               \
    do {                                                                            \
        if (xw_log_level >= XW_LOG_DEBUG)                                           \
            xw_log(XW_LOG_DEBUG, __VA_ARGS__);                                      \
    } while (0)

#endif
