/* xwperf: throughput and latency of the xway stack's sockets, with the kernel's
 * sockets (--kernel) as the baseline; every byte is verified. */
#include "xwperf.h"
#include "proto.h"
#include "verify.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xwperf -s [-B ADDR] [-p PORT] [-1] [-v] [--epoll] [--kernel | --unix PATH]\n"
            "       xwperf {-c HOST [-p PORT] | --unix PATH} [-t SECONDS | -n BYTES] [-l MSGLEN]\n"
            "              [-P CONNS] [--bidir | --rr [--depth N] | --connect-rate N] [--json]\n"
            "              [--kernel | --zc] [--timeout SECONDS]\n"
            "  -s          serve (until killed; -1: exit after one test)\n"
            "  --epoll     serve from one thread with an epoll event loop (rr, bulk and\n"
            "              connect tests; --bidir is refused)\n"
            "  -c HOST     run a test against the server at HOST (numeric address)\n"
            "  -B ADDR     server: listen on ADDR only (default :: and 0.0.0.0)\n"
            "  -p PORT     port (default %d)\n"
            "  -t SECONDS  test duration (default 3)\n"
            "  -n BYTES    send BYTES (K/M/G suffixes, binary) instead, over all connections\n"
            "  -l MSGLEN   bytes per send (default 65536; 1 with --rr; max %u)\n"
            "  -P CONNS    parallel connections (default 1)\n"
            "  --bidir     send both ways at once (with -n: BYTES each way)\n"
            "  --rr        request/response: MSGLEN bytes each way per round trip\n"
            "  --depth N   --rr: N requests in flight per connection (pipelined; default 1)\n"
            "  --connect-rate N\n"
            "              open N connections one after another (connect, hello, result,\n"
            "              close; with the xway stack's negotiation): connections per second\n"
            "  --json      print one JSON object\n"
            "  --kernel    use the kernel's sockets instead of the xway stack (baseline)\n"
            "  --zc        bulk through xway's zero-copy API (xway_zc.h): the client writes\n"
            "              the pattern straight into xway_zc_reserve'd room and commits it,\n"
            "              the server checks every byte in place in its xway_zc_recv view;\n"
            "              JSON \"zc\": true (the xway stack on both sides; not with --rr,\n"
            "              --bidir, --connect-rate, --kernel or --unix)\n"
            "  --unix PATH the kernel's AF_UNIX stream sockets at PATH (baseline; \"path\":\n"
            "              \"unix\"); the server replaces a stale socket file at PATH\n"
            "The xway stack is configured from the XWAY_* environment (XWAY_LINK, XWAY_ADDR, ...).\n"
            "Exit status: 0 ok, 1 verification failed, 2 error, 3 timeout.\n",
            XWP_DEFAULT_PORT, XWP_MAX_MSG);
}

const char *xwp_mode_name(int mode)
{
    switch (mode) {
    case XWP_BULK: return "bulk";
    case XWP_BIDIR: return "bidir";
    case XWP_RR: return "rr";
    case XWP_CONNECT: return "connect";
    default: return "?";
    }
}

/* "64K", "256M", "1G", "1000": bytes; false if malformed. */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *s == '-')
        return false;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end += (end[0] == 'i' && end[1] == 'B') ? 2 : 1;
    *out = v;
    return *end == '\0';
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && *out > 0;
}

enum {
    OPT_RR = 256,
    OPT_BIDIR,
    OPT_JSON,
    OPT_KERNEL,
    OPT_TIMEOUT,
    OPT_CONNECT_RATE,
    OPT_UNIX,
    OPT_EPOLL,
    OPT_DEPTH,
    OPT_ZC,
};

static const struct option longopts[] = {
    { "rr", no_argument, NULL, OPT_RR },
    { "bidir", no_argument, NULL, OPT_BIDIR },
    { "json", no_argument, NULL, OPT_JSON },
    { "kernel", no_argument, NULL, OPT_KERNEL },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "connect-rate", required_argument, NULL, OPT_CONNECT_RATE },
    { "unix", required_argument, NULL, OPT_UNIX },
    { "epoll", no_argument, NULL, OPT_EPOLL },
    { "depth", required_argument, NULL, OPT_DEPTH },
    { "zc", no_argument, NULL, OPT_ZC },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int bad_arg(const char *opt, const char *val)
{
    fprintf(stderr, "xwperf: %s %s: invalid value\n", opt, val);
    return 2;
}

int main(int argc, char **argv)
{
    struct xwp_opts o = { .ops = &xwp_xway_ops, .port = XWP_DEFAULT_PORT, .seconds = 3,
                          .nconn = 1, .mode = XWP_BULK };
    bool server = false, have_t = false;
    const char *connect_to = NULL, *bind_to = NULL, *unix_path = NULL;
    bool kernel = false;
    uint64_t v, msglen = 0;
    int c;
    while ((c = getopt_long(argc, argv, "sc:B:p:t:n:l:P:1vh", longopts, NULL)) != -1) {
        switch (c) {
        case 's': server = true; break;
        case 'c': connect_to = optarg; break;
        case 'B': bind_to = optarg; break;
        case 'p':
            if (!parse_size(optarg, &v) || v == 0 || v > 65535)
                return bad_arg("-p", optarg);
            o.port = (uint16_t)v;
            break;
        case 't':
            if (!parse_double(optarg, &o.seconds))
                return bad_arg("-t", optarg);
            have_t = true;
            break;
        case 'n':
            if (!parse_size(optarg, &o.bytes) || o.bytes == 0)
                return bad_arg("-n", optarg);
            break;
        case 'l':
            if (!parse_size(optarg, &msglen) || msglen == 0 || msglen > XWP_MAX_MSG)
                return bad_arg("-l", optarg);
            break;
        case 'P':
            if (!parse_size(optarg, &v) || v == 0 || v > 10000)
                return bad_arg("-P", optarg);
            o.nconn = (uint32_t)v;
            break;
        case '1': o.once = true; break;
        case 'v': o.verbose = true; break;
        case OPT_RR: o.mode = XWP_RR; break;
        case OPT_EPOLL: o.epoll = true; break;
        case OPT_DEPTH:
            if (!parse_size(optarg, &v) || v == 0 || v > 1024)
                return bad_arg("--depth", optarg);
            o.depth = (uint32_t)v;
            break;
        case OPT_BIDIR: o.mode = XWP_BIDIR; break;
        case OPT_JSON: o.json = true; break;
        case OPT_KERNEL: kernel = true; break;
        case OPT_UNIX: unix_path = optarg; break;
        case OPT_ZC: o.zc = true; break;
        case OPT_CONNECT_RATE:
            if (!parse_size(optarg, &v) || v == 0 || v > 1000000)
                return bad_arg("--connect-rate", optarg);
            o.mode = XWP_CONNECT;
            o.nconn = (uint32_t)v;
            break;
        case OPT_TIMEOUT:
            if (!parse_double(optarg, &o.timeout))
                return bad_arg("--timeout", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.zc && (kernel || unix_path || server || o.mode != XWP_BULK)) {
        fprintf(stderr, "xwperf: --zc: %s\n",
                kernel || unix_path ? "the zero-copy API is the xway stack's: not with the "
                                      "kernel's sockets (--kernel, --unix)"
                : server ? "a client option (the server checks in place when the client "
                           "asks)"
                         : "bulk tests only (not --rr, --bidir or --connect-rate)");
        return 2;
    }
    if (unix_path) {
        /* The path is both the listening and the connecting address. */
        if (kernel || connect_to || bind_to || !*unix_path) {
            usage(stderr);
            return 2;
        }
        o.ops = &xwp_unix_ops;
        if (server)
            bind_to = unix_path;
        else
            connect_to = unix_path;
    } else if (kernel) {
        o.ops = &xwp_kernel_ops;
    }
    if (optind != argc || server == (connect_to != NULL) || (!server && bind_to) ||
        (have_t && o.bytes) || (o.epoll && !server) ||
        (o.depth && (server || o.mode != XWP_RR))) {
        usage(stderr);
        return 2;
    }
    o.host = server ? bind_to : connect_to;
    o.msglen = (uint32_t)(msglen ? msglen : o.mode == XWP_RR ? 1 : 65536);
    if (!o.timeout)
        o.timeout = 60 + (o.bytes ? 0 : o.seconds * 2);
    signal(SIGPIPE, SIG_IGN);
    if (xwp_pattern_init() < 0) {
        fprintf(stderr, "xwperf: out of memory\n");
        return 2;
    }
    if (o.ops->init() < 0)
        return 2;
    int rc = server ? xwp_server_run(&o) : xwp_client_run(&o);
    fflush(stdout);
    o.ops->fini();
    return rc;
}
