/* xwayctl: every xway stack of this user (root: of every user) and its
 * connections, which path each took and why, and the counters.  Each running
 * stack answers on its control socket (stack/sock/ctl.c); the dump's format
 * and this tool's JSON are in docs/XWAYCTL.md. */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_KV 32
#define READ_WAIT_MS 2000

struct rec { /* one line of a dump: its kind and key=value words */
    char kind[8];
    int n;
    char *k[MAX_KV], *v[MAX_KV];
};

struct stack {
    char *text; /* the dump (the records point into it) */
    struct rec *r;
    int nr;
};

static struct {
    const char *view;
    long pid;
    bool json, reset;
    double interval;
    const char *host; /* sim-move */
} opt = { .view = "stacks", .pid = -1 };

static void usage(FILE *f)
{
    fputs("usage: xwayctl [stacks | conns [-p PID] | stats [--reset]] [--json] [-i SECONDS]\n"
          "       xwayctl sim-move --pid PID --host DIR\n"
          "\n"
          "Every running xway stack of this user (root: of every user) and its connections.\n"
          "  stacks      (default) one line per stack: pid, program, link, addresses,\n"
          "              shared-memory backend, domain id, host token, connections that\n"
          "              took the ring and that stayed on TCP\n"
          "  conns       one line per socket, like ss -tn: local and remote address,\n"
          "              state, path (ring or tcp), why TCP (the fallback reason), ring\n"
          "              size and bytes waiting in it each way, payload bytes per path\n"
          "              each way, and how often a wait on the ring spun and slept\n"
          "  stats       connections per path and fallback reasons, per stack and summed\n"
          "  -p PID      only that process's stack\n"
          "  --reset     stats: set the stacks' counters back to 0 (after printing them)\n"
          "  --json      one JSON object (schema: docs/XWAYCTL.md)\n"
          "  -i SECONDS  print again every SECONDS until interrupted\n"
          "  sim-move    the sim backend's live migration: the stack of process PID\n"
          "              (-p/--pid) moves to the sim host DIR (--host), with a new domain\n"
          "              id; its ring connections go on over TCP (the switch).  Prints\n"
          "              the new domain id; exit status 1 when the stack refused\n"
          "Stacks are found by their control sockets, in $XWAY_CTL_DIR or\n"
          "/dev/shm/xway-ctl-<uid>; a dead process's socket is removed.\n"
          "Exit status: 0, 1 (sim-move failed), or 2 on a usage error.\n",
          f);
}

static const char *get(const struct rec *r, const char *key)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->k[i], key))
            return r->v[i];
    return NULL;
}

static unsigned long long num(const struct rec *r, const char *key)
{
    const char *v = get(r, key);
    return v ? strtoull(v, NULL, 10) : 0;
}

static void parse(struct stack *s)
{
    char *save = NULL;
    for (char *line = strtok_r(s->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct rec *r, *nr = realloc(s->r, (size_t)(s->nr + 1) * sizeof(*r));
        char *w, *ws = NULL;
        if (!nr)
            return;
        s->r = nr;
        r = &s->r[s->nr];
        memset(r, 0, sizeof(*r));
        w = strtok_r(line, " ", &ws);
        snprintf(r->kind, sizeof(r->kind), "%s", w ? w : "");
        while ((w = strtok_r(NULL, " ", &ws)) && r->n < MAX_KV) {
            char *eq = strchr(w, '=');
            if (!eq)
                continue;
            *eq = 0;
            r->k[r->n] = w;
            r->v[r->n++] = eq + 1;
        }
        s->nr++;
    }
}

/* The dump of the stack at path, or NULL (a dead one's socket removed). */
static char *ask(const char *path, const char *req)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = 0, cap = 0;
    char *buf = NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct stat st;

    if (fd < 0)
        return NULL;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno == ECONNREFUSED && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path); /* its process is gone (killed: it could not remove it) */
        close(fd);
        return NULL;
    }
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
        goto fail;
    for (;;) {
        ssize_t n;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap = cap ? 2 * cap : 8192);
            if (!nb)
                goto fail;
            buf = nb;
        }
        if (poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, READ_WAIT_MS) <= 0)
            goto fail;
        n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = 0;
    if (len < 4 || strcmp(buf + len - 4, "end\n")) { /* cut short: not a whole dump */
        free(buf);
        return NULL;
    }
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

static int collect(struct stack **out)
{
    char pat[4096];
    const char *dir = getenv("XWAY_CTL_DIR");
    glob_t g;
    int n = 0;
    struct stack *s = NULL;

    if (dir && *dir)
        snprintf(pat, sizeof(pat), "%s/*", dir);
    else if (geteuid() == 0)
        snprintf(pat, sizeof(pat), "/dev/shm/xway-ctl-*/*");
    else
        snprintf(pat, sizeof(pat), "/dev/shm/xway-ctl-%u/*", (unsigned)getuid());
    if (glob(pat, 0, NULL, &g) != 0)
        return 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *slash = strrchr(g.gl_pathv[i], '/');
        if (opt.pid >= 0 && (!slash || atol(slash + 1) != opt.pid))
            continue;
        char *text = ask(g.gl_pathv[i], opt.reset ? "reset\n" : "dump\n");
        struct stack *ns;
        if (!text)
            continue;
        if (!(ns = realloc(s, (size_t)(n + 1) * sizeof(*s)))) {
            free(text);
            break;
        }
        s = ns;
        s[n] = (struct stack){ .text = text };
        parse(&s[n++]);
    }
    globfree(&g);
    *out = s;
    return n;
}

static const struct rec *stack_rec(const struct stack *s)
{
    return s->nr && !strcmp(s->r[0].kind, "stack") ? &s->r[0] : NULL;
}

/* ---- JSON ---- */

static void jstr(const char *v)
{
    if (!v || !strcmp(v, "-")) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (; *v; v++)
        if (*v == '"' || *v == '\\')
            printf("\\%c", *v);
        else if ((unsigned char)*v < 0x20)
            printf("\\u%04x", *v);
        else
            putchar(*v);
    putchar('"');
}

static bool numeric_key(const char *k)
{
    static const char *const keys[] = { "pid", "domid", "ring", "tcp", "reused", "count", "fd",
                                        "ring_bytes", "ring_tx", "ring_rx", "tcp_tx", "tcp_rx",
                                        "tx_fill", "rx_fill", "sleeps", "spins", "switches",
                                        NULL };
    for (int i = 0; keys[i]; i++)
        if (!strcmp(k, keys[i]))
            return true;
    return false;
}

static void jrec(const struct rec *r, long pid)
{
    putchar('{');
    if (pid >= 0)
        printf("\"pid\": %ld, ", pid);
    for (int i = 0; i < r->n; i++) {
        printf("%s\"%s\": ", i ? ", " : "", r->k[i]);
        if (numeric_key(r->k[i]))
            fputs(r->v[i], stdout);
        else if (!strcmp(r->k[i], "addrs")) {
            char *save = NULL, *copy = strdup(r->v[i]);
            putchar('[');
            for (char *a = copy ? strtok_r(copy, ",", &save) : NULL, *first = a; a;
                 a = strtok_r(NULL, ",", &save)) {
                printf("%s", a == first ? "" : ", ");
                jstr(a);
            }
            putchar(']');
            free(copy);
        } else
            jstr(r->v[i]);
    }
    if (!strcmp(r->kind, "conn") && !get(r, "switches")) /* (an older stack's) */
        fputs(", \"switches\": 0", stdout);
    putchar('}');
}

static void jreasons(const struct stack *s)
{
    bool first = true;
    putchar('{');
    for (int j = 0; j < s->nr; j++) {
        const struct rec *r = &s->r[j];
        if (strcmp(r->kind, "reason"))
            continue;
        printf("%s\"%s\": %llu", first ? "" : ", ", get(r, "name"), num(r, "count"));
        first = false;
    }
    putchar('}');
}

static void json(const struct stack *s, int ns)
{
    bool first = true;

    if (!strcmp(opt.view, "conns")) {
        fputs("{\"connections\": [", stdout);
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < s[i].nr; j++)
                if (!strcmp(s[i].r[j].kind, "conn")) {
                    fputs(first ? "" : ", ", stdout);
                    jrec(&s[i].r[j], (long)num(stack_rec(&s[i]), "pid"));
                    first = false;
                }
        fputs("]}\n", stdout);
        return;
    }
    if (!strcmp(opt.view, "stats")) {
        unsigned long long ring = 0, tcp = 0, reused = 0;
        fputs("{\"stacks\": [", stdout);
        for (int i = 0; i < ns; i++) {
            const struct rec *r = stack_rec(&s[i]);
            if (!r)
                continue;
            printf("%s{\"pid\": %llu, \"ring\": %llu, \"tcp\": %llu, \"reused\": %llu, "
                   "\"reasons\": ",
                   first ? "" : ", ", num(r, "pid"), num(r, "ring"), num(r, "tcp"),
                   num(r, "reused"));
            jreasons(&s[i]);
            putchar('}');
            ring += num(r, "ring");
            tcp += num(r, "tcp");
            reused += num(r, "reused");
            first = false;
        }
        /* Summed: each reason's counts added over the stacks, in first-seen order. */
        printf("], \"total\": {\"ring\": %llu, \"tcp\": %llu, \"reused\": %llu, \"reasons\": {",
               ring, tcp, reused);
        const char *names[64];
        unsigned long long sums[64];
        int nn = 0;
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < s[i].nr; j++) {
                const struct rec *r = &s[i].r[j];
                const char *name = get(r, "name");
                int k = 0;
                if (strcmp(r->kind, "reason") || !name)
                    continue;
                while (k < nn && strcmp(names[k], name))
                    k++;
                if (k == nn && nn < 64) {
                    names[nn] = name;
                    sums[nn++] = 0;
                }
                if (k < nn)
                    sums[k] += num(r, "count");
            }
        for (int k = 0; k < nn; k++)
            printf("%s\"%s\": %llu", k ? ", " : "", names[k], sums[k]);
        fputs("}}}\n", stdout);
        return;
    }
    fputs("{\"stacks\": [", stdout);
    for (int i = 0; i < ns; i++) {
        const struct rec *r = stack_rec(&s[i]);
        if (!r)
            continue;
        fputs(first ? "" : ", ", stdout);
        jrec(r, -1);
        first = false;
    }
    fputs("]}\n", stdout);
}

/* ---- text ---- */

static const char *val(const struct rec *r, const char *k)
{
    const char *v = get(r, k);
    return v ? v : "-";
}

static void text(const struct stack *s, int ns)
{
    if (!strcmp(opt.view, "conns")) {
        printf("%-7s %-4s %-22s %-22s %-11s %-4s %-16s %8s %12s %12s %10s %10s %8s %8s %7s %7s\n",
               "PID", "FD", "LOCAL", "REMOTE", "STATE", "PATH", "REASON", "RING", "RING_TX",
               "RING_RX", "TCP_TX", "TCP_RX", "TX_FILL", "RX_FILL", "SPINS", "SLEEPS");
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < s[i].nr; j++) {
                const struct rec *r = &s[i].r[j];
                if (strcmp(r->kind, "conn"))
                    continue;
                printf("%-7s %-4s %-22s %-22s %-11s %-4s %-16s %8s %12s %12s %10s %10s %8s %8s "
                       "%7s %7s\n",
                       val(stack_rec(&s[i]), "pid"), val(r, "fd"), val(r, "local"),
                       val(r, "remote"), val(r, "state"), val(r, "path"), val(r, "reason"),
                       val(r, "ring_bytes"), val(r, "ring_tx"), val(r, "ring_rx"),
                       val(r, "tcp_tx"), val(r, "tcp_rx"), val(r, "tx_fill"), val(r, "rx_fill"),
                       val(r, "spins"), val(r, "sleeps"));
            }
        return;
    }
    if (!strcmp(opt.view, "stats")) {
        unsigned long long ring = 0, tcp = 0;
        for (int i = 0; i < ns; i++) {
            const struct rec *r = stack_rec(&s[i]);
            if (!r)
                continue;
            printf("stack %s (%s): ring %s, tcp %s\n", val(r, "pid"), val(r, "program"),
                   val(r, "ring"), val(r, "tcp"));
            for (int j = 0; j < s[i].nr; j++)
                if (!strcmp(s[i].r[j].kind, "reason"))
                    printf("  %-20s %s\n", val(&s[i].r[j], "name"), val(&s[i].r[j], "count"));
            ring += num(r, "ring");
            tcp += num(r, "tcp");
        }
        printf("total: ring %llu, tcp %llu (%d stack%s)\n", ring, tcp, ns, ns == 1 ? "" : "s");
        return;
    }
    printf("%-7s %-16s %-28s %-20s %-7s %-5s %-8s %6s %6s\n", "PID", "PROGRAM", "LINK", "ADDRS",
           "BACKEND", "DOMID", "HOST", "RING", "TCP");
    for (int i = 0; i < ns; i++) {
        const struct rec *r = stack_rec(&s[i]);
        char host[9];
        if (!r)
            continue;
        snprintf(host, sizeof(host), "%s", val(r, "host"));
        printf("%-7s %-16s %-28s %-20s %-7s %-5s %-8s %6s %6s\n", val(r, "pid"),
               val(r, "program"), val(r, "link"), val(r, "addrs"), val(r, "backend"),
               val(r, "domid"), host, val(r, "ring"), val(r, "tcp"));
    }
}

static void release(struct stack *s, int ns)
{
    for (int i = 0; i < ns; i++) {
        free(s[i].text);
        free(s[i].r);
    }
    free(s);
}

/* sim-move: ask the stack of opt.pid to move to opt.host. */
static int sim_move(void)
{
    char path[4096], *req = NULL, *text;
    const char *dir = getenv("XWAY_CTL_DIR");
    int ok;

    if (dir && *dir)
        snprintf(path, sizeof(path), "%s/%ld", dir, opt.pid);
    else
        snprintf(path, sizeof(path), "/dev/shm/xway-ctl-%u/%ld", (unsigned)getuid(), opt.pid);
    if (asprintf(&req, "move %s\n", opt.host) < 0)
        return 1;
    text = ask(path, req);
    free(req);
    if (!text) {
        fprintf(stderr, "xwayctl: sim-move: no xway stack answers for process %ld\n", opt.pid);
        return 1;
    }
    ok = !strncmp(text, "moved ", 6);
    text[strcspn(text, "\n")] = 0;
    if (ok)
        printf("%s\n", text);
    else
        fprintf(stderr, "xwayctl: sim-move: %s\n", text);
    free(text);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        { "json", no_argument, NULL, 'j' }, { "reset", no_argument, NULL, 'r' },
        { "pid", required_argument, NULL, 'p' }, { "host", required_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    char *end;
    int c;

    /* GNU getopt: options before or after the view. */
    while ((c = getopt_long(argc, argv, "p:i:h", longs, NULL)) != -1) {
        switch (c) {
        case 'p':
            opt.pid = strtol(optarg, &end, 10);
            if (*end || opt.pid < 0) {
                fprintf(stderr, "xwayctl: -p %s: not a process id\n", optarg);
                return 2;
            }
            break;
        case 'i':
            opt.interval = strtod(optarg, &end);
            if (*end || !(opt.interval > 0)) {
                fprintf(stderr, "xwayctl: -i %s: not a positive number of seconds\n", optarg);
                return 2;
            }
            break;
        case 'H': opt.host = optarg; break;
        case 'j': opt.json = true; break;
        case 'r': opt.reset = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        opt.view = argv[optind++];
    if (!strcmp(opt.view, "sim-move")) {
        if (optind < argc || opt.pid < 0 || !opt.host || !*opt.host || opt.json || opt.reset ||
            opt.interval > 0) {
            usage(stderr);
            return 2;
        }
        return sim_move();
    }
    if (opt.host) {
        usage(stderr);
        return 2;
    }
    if (optind < argc || (strcmp(opt.view, "stacks") && strcmp(opt.view, "conns") &&
                          strcmp(opt.view, "stats")) ||
        (opt.reset && strcmp(opt.view, "stats"))) {
        usage(stderr);
        return 2;
    }
    for (;;) {
        struct stack *s = NULL;
        int ns = collect(&s);
        if (opt.json)
            json(s, ns);
        else
            text(s, ns);
        fflush(stdout);
        release(s, ns);
        if (!(opt.interval > 0))
            return 0;
        opt.reset = false; /* once */
        if (!opt.json)
            putchar('\n');
        nanosleep(&(struct timespec){ (time_t)opt.interval,
                                      (long)((opt.interval - (double)(time_t)opt.interval) * 1e9) },
                  NULL);
    }
}
