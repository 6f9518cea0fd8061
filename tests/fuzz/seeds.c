/* Writes the fuzzers' seed corpora from the real encoders, so the seeds follow
 * the wire format: seeds <tcpopt-dir> <ctrlmsg-dir>. */
#include <stdio.h>
#include <string.h>

#include "ctrlmsg.h"
#include "tcpopt.h"

static int put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

static int tcpopt_seeds(const char *dir)
{
    const struct xw_synopt syn = { XW_OPT_VERSION, 0, 5, 0x1122334455667788ull, 0 };
    const struct xw_synopt synack = { XW_OPT_VERSION, XW_OPT_F_REPLY, 6, 0x1122334455667788ull, 0 };
    const struct xw_synopt old = { XW_OPT_VERSION - 1, 0, 5, 1, 0 }; /* another version */
    const struct xw_synopt parked = { XW_OPT_VERSION, XW_OPT_F_REPLY | XW_OPT_F_PARKED, 6, 1,
                                      0x0102030405060708ull };
    uint8_t b[64];
    int err = 0;

    /* split 7 | MSS, NOP, WS, SACK-perm, ours, EOL EOL */
    const uint8_t pre[] = { 7, 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2 };
    memcpy(b, pre, sizeof(pre));
    xw_tcpopt_write(b + sizeof(pre), &syn);
    b[sizeof(pre) + XW_OPT_LEN] = b[sizeof(pre) + XW_OPT_LEN + 1] = 0;
    err |= put(dir, "syn", b, sizeof(pre) + XW_OPT_LEN + 2);
    b[0] = 0;
    xw_tcpopt_write(b + 1, &synack);
    err |= put(dir, "synack_alone", b, 1 + XW_OPT_LEN);
    xw_tcpopt_write(b + 1, &old);
    err |= put(dir, "version_old", b, 1 + XW_OPT_LEN);
    err |= put(dir, "synack_parked", b, 1 + xw_tcpopt_write(b + 1, &parked));
    const uint8_t other[] = { 3, 253, 6, 0x12, 0x34, 0, 0, 1, 1, 0 };
    err |= put(dir, "other_exid", other, sizeof(other));
    const uint8_t bad[] = { 1, 2, 4, 5, 0xb4, 8, 0 };
    err |= put(dir, "len0", bad, sizeof(bad));
    const uint8_t ts[] = { 12, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0 };
    err |= put(dir, "timestamps", ts, sizeof(ts));
    return err;
}

static int ctrl_seeds(const char *dir)
{
    const struct xw_ctrl msgs[] = {
        { .type = XW_CTRL_OFFER, .domid = 1, .intf_ref = 8, .port = 3, .ring_shift = 20 },
        { .type = XW_CTRL_NOOFFER, .reason = XW_REASON_GRANT_SHARE },
        { .type = XW_CTRL_ACCEPT, .nonce = 0x0123456789abcdefull, .domid = 2 },
        { .type = XW_CTRL_DECLINE, .reason = XW_REASON_GRANT_MAP },
        { .type = XW_CTRL_CONFIRM },
        { .type = XW_CTRL_ABORT, .reason = XW_REASON_NONCE },
    };
    uint8_t stream[6 * XW_CTRL_MAX + 8];
    size_t n = 0;
    int err = 0;
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        char name[32];
        uint8_t b[XW_CTRL_MAX];
        int len = xw_ctrl_write(b, sizeof(b), &msgs[i]);
        if (len < 0)
            return -1;
        snprintf(name, sizeof(name), "type%u", msgs[i].type);
        err |= put(dir, name, b, (size_t)len);
        memcpy(stream + n, b, (size_t)len);
        n += (size_t)len;
    }
    memcpy(stream + n, "appdata!", 8);
    err |= put(dir, "stream", stream, n + 8);
    return err;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <tcpopt-dir> <ctrlmsg-dir>\n", argv[0]);
        return 2;
    }
    return tcpopt_seeds(argv[1]) || ctrl_seeds(argv[2]) ? 1 : 0;
}
