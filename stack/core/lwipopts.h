/* lwIP configuration of xway: lwIP is compiled into libxwaystack with these options.
 *
 * Threading: NO_SYS=1.  lwIP is driven by one stack thread per process and called
 * by application threads only while they hold the stack lock (stack/stack.h), so
 * lwIP itself needs no protection of its own (SYS_LIGHTWEIGHT_PROT=0).
 */
#ifndef XW_LWIPOPTS_H
#define XW_LWIPOPTS_H

#define NO_SYS                          1
#define SYS_LIGHTWEIGHT_PROT            0
#define LWIP_SOCKET                     0
#define LWIP_NETCONN                    0
#define LWIP_NETIF_API                  0

/* Memory: the port's allocator (include/xway_port.h) for everything, so pools
 * never run dry before memory does. */
#define MEM_LIBC_MALLOC                 1
#define MEMP_MEM_MALLOC                 1
#define mem_clib_malloc                 xway_port_malloc
#define mem_clib_calloc                 xway_port_calloc
#define mem_clib_free                   xway_port_free
#define MEM_ALIGNMENT                   8
#define MEMP_NUM_TCP_PCB                4096
#define MEMP_NUM_TCP_PCB_LISTEN         1024
#define MEMP_NUM_TCP_SEG                65535
#define MEMP_NUM_ARP_QUEUE              256
#define MEMP_NUM_ND6_QUEUE              256
#define PBUF_POOL_SIZE                  64
#define PBUF_POOL_BUFSIZE               2048

/* Protocols: IPv4 + IPv6, TCP only (UDP is not offered by the socket layer). */
#define LWIP_IPV4                       1
#define LWIP_IPV6                       1
#define LWIP_ARP                        1
#define LWIP_ETHERNET                   1
#define LWIP_ICMP                       1
#define LWIP_RAW                        0
#define LWIP_UDP                        0
#define LWIP_TCP                        1
/* SO_REUSEADDR as on Linux: bind a port that connections in TIME-WAIT still use. */
#define SO_REUSE                        1
/* Concurrent connects to a peer not yet in the ARP cache: queue their SYNs
 * (lwIP keeps 3 by default and drops the rest until they are retransmitted). */
#define ARP_QUEUE_LEN                   64
#define LWIP_DHCP                       0
#define LWIP_AUTOIP                     0
#define LWIP_IGMP                       0
#define LWIP_DNS                        0
#define IP_FORWARD                      0
#define IP_REASSEMBLY                   1
#define IP_FRAG                         1
#define LWIP_IPV6_FRAG                  1
#define LWIP_IPV6_REASS                 1
#define IPV6_FRAG_COPYHEADER            1 /* 64-bit pointers do not fit the header */
#define LWIP_IPV6_AUTOCONFIG            0
#define LWIP_IPV6_DHCP6                 0
#define LWIP_IPV6_MLD                   1
#define LWIP_IPV6_NUM_ADDRESSES         4
/* Addresses given in XWAY_ADDR are usable at once: the stack probes the link for
 * them (IPv4 and IPv6) before taking them (link/probe.c), and refuses to start
 * when another host has one. */
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS   0
#define LWIP_ND6_QUEUEING               1
#define ARP_QUEUEING                    1
#define ARP_TABLE_SIZE                  64
#define LWIP_ND6_NUM_NEIGHBORS          64
#define LWIP_ND6_NUM_DESTINATIONS       64

/* Loopback so a process can talk to its own addresses (and 127.0.0.1, ::1). */
#define LWIP_NETIF_LOOPBACK             1
#define LWIP_HAVE_LOOPIF                1
#define LWIP_LOOPBACK_MAX_PBUFS         0

/* TCP: window scaling with 1 MiB windows and send buffers; an MSS for large-MTU hubs
 * (a frame, headers and options included, must fit a pbuf's 65535 bytes: 65000
 * leaves room for them).  The effective MSS of a connection follows the link MTU
 * (hub: 65000 at its default 65535, TAP: 1460). */
#define TCP_MSS                         65000
#define LWIP_WND_SCALE                  1
#define TCP_RCV_SCALE                   6
#define TCP_WND                         (1024 * 1024)
#define TCP_SND_BUF                     (1024 * 1024)
#define TCP_SND_QUEUELEN                8192
#define TCP_SNDQUEUELOWAT               16
/* A window update goes out once the reader has freed this much (lwIP's default,
 * a quarter of the window or 4 MSS, would be 256 KiB with the hub's MSS). */
#define TCP_WND_UPDATE_THRESHOLD        (64 * 1024)
/* Unused by our socket layer (it has its own writability rule); must be < 0xFFFF-4*MSS. */
#define TCP_SNDLOWAT                    128
#define TCP_OVERSIZE                    TCP_MSS
#define TCP_QUEUE_OOSEQ                 1
#define LWIP_TCP_SACK_OUT               1
#define LWIP_TCP_MAX_SACK_NUM           4
#define TCP_LISTEN_BACKLOG              1
#define TCP_DEFAULT_LISTEN_BACKLOG      0xff
#define LWIP_TCP_KEEPALIVE              1
#define LWIP_TCP_TIMESTAMPS             0
#define TCP_CALCULATE_EFF_SEND_MSS      1
#define LWIP_CALLBACK_API               1
/* (timeouts.c only, in 2.1.3: the timeout list reachable, so that a forked
 * child can drop the parent's per-object timeouts: lwip_sys.c) */
#define LWIP_TESTMODE                   1
#define LWIP_TCP_PCB_NUM_EXT_ARGS       2
/* lwIP's TCP sanity checks are off for one of them alone, "TCP_SNDLOWAT must be
 * 4*MSS below u16_t overflow" (any MSS above 16351 fails it): it guards a
 * 16-bit send buffer, which window scaling makes 32-bit.  The others, here: */
#define LWIP_DISABLE_TCP_SANITY_CHECKS  1
#if !LWIP_WND_SCALE || TCP_SND_BUF < 2 * TCP_MSS || TCP_WND < TCP_MSS || \
    TCP_SND_QUEUELEN < 2 * (TCP_SND_BUF / TCP_MSS) || TCP_SNDLOWAT >= TCP_SND_BUF || \
    TCP_SNDQUEUELOWAT >= TCP_SND_QUEUELEN
#error "lwipopts.h: TCP sizes out of lwIP's bounds"
#endif
#define TCP_MAXRTX                      12
#define TCP_SYNMAXRTX                   6
#define LWIP_TCP_RTO_TIME               1000

/* Checksums: generated and checked in software, switched off per link where the
 * link itself guarantees integrity (the hub, loopback) or the kernel vouches for
 * them (the TAP's offloads, per frame: link/tap.c). */
#define LWIP_CHECKSUM_CTRL_PER_NETIF    1
#define CHECKSUM_GEN_IP                 1
#define CHECKSUM_GEN_TCP                1
#define CHECKSUM_GEN_ICMP               1
#define CHECKSUM_GEN_ICMP6              1
#define CHECKSUM_CHECK_IP               1
#define CHECKSUM_CHECK_TCP              1
#define CHECKSUM_CHECK_ICMP             1
#define CHECKSUM_CHECK_ICMP6            1
/* No checksum while tcp_write copies: no link has lwIP generate TCP checksums
 * (the hub and loopback need none, the TAP leaves them to the kernel), so it
 * would be a second pass over every byte sent, for nothing.  A link that does
 * (a TAP whose kernel refuses offloads) sums each segment when it goes out. */
#define LWIP_CHECKSUM_ON_COPY           0

#define LWIP_NETIF_STATUS_CALLBACK      0
#define LWIP_NETIF_LINK_CALLBACK        0
#define LWIP_NETIF_HOSTNAME             0
#define LWIP_NUM_NETIF_CLIENT_DATA      1
#define LWIP_STATS                      0
#define LWIP_STATS_DISPLAY              0
#define LWIP_PROVIDE_ERRNO              0
#define LWIP_ERRNO_STDINCLUDE           1
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

/* The TCP option hooks used by the in-stack handshake (stack/path/negotiate.c). */
#define LWIP_HOOK_FILENAME              "xw_lwip_hooks.h"

#endif
