/* xway-run: run an unmodified program with its TCP sockets on the xway stack.
 *   xway-run [--link L] [--addr A] [--gw G] [--host H] [--backend B] [--log LEVEL] [--stats]
 *            CMD ARGS...
 * Each option sets the XWAY_* variable of the same name (README: Configuration;
 * --stats sets XWAY_STATS=1: each process prints its stack's counters at exit);
 * variables already in the environment are kept unless an option overrides them.
 * Then libxwayshim.so goes first in LD_PRELOAD and CMD is exec'd.
 *
 * A C program, not a script, because it stands in front of every short-lived
 * process run under the shim: it forks nothing, and reads at most 128 KiB of
 * CMD to tell the programs the shim cannot serve (they still run, on kernel
 * sockets).  Plain libc only: it must not load the stack it is about to
 * preload. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    GO_WINDOW = 64 * 1024,   /* bytes searched at each end of CMD for Go's marks */
    MAX_PHDRS = 64,          /* program headers read, at most */
    MAX_SCRIPT_DEPTH = 16,   /* #! interpreters followed, at most (the kernel runs
                              * 4; a loop of scripts ends) */
};

enum elf_kind { ELF_DYNAMIC, ELF_STATIC, NOT_ELF };

static const struct {
    const char *option, *var;
} options[] = {
    { "--link", "XWAY_LINK" }, { "--addr", "XWAY_ADDR" },       { "--gw", "XWAY_GW" },
    { "--host", "XWAY_HOST" }, { "--backend", "XWAY_BACKEND" }, { "--log", "XWAY_LOG" },
};

static _Noreturn void usage(void)
{
    fputs("usage: xway-run [--link hub:DIR|tap:IF] [--addr CIDRS] [--gw ADDRS] [--host DIR]"
          " [--backend auto|xen|sim|off] [--log error|warn|info|debug] [--stats] CMD ARGS...\n",
          stderr);
    exit(2);
}

static const char *option_var(const char *arg)
{
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
        if (!strcmp(arg, options[i].option))
            return options[i].var;
    return NULL;
}

/* Exports the options' variables; returns the index of CMD in argv. */
static int parse_options(int argc, char **argv)
{
    int i = 1;

    while (i < argc) {
        const char *arg = argv[i], *var = option_var(arg);

        if (var) {
            if (i + 1 >= argc)
                usage();
            if (setenv(var, argv[i + 1], 1)) {
                fprintf(stderr, "xway-run: %s: %s\n", var, strerror(errno));
                exit(126);
            }
            i += 2;
        } else if (!strcmp(arg, "--stats")) {
            setenv("XWAY_STATS", "1", 1);
            i++;
        } else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage();
        } else if (!strcmp(arg, "--")) {
            i++;
            break;
        } else if (arg[0] == '-') {
            fprintf(stderr, "xway-run: unknown option %s\n", arg);
            usage();
        } else {
            break;
        }
    }
    if (i >= argc)
        usage();
    return i;
}

static int is_regular(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of this executable, symbolic links resolved. */
static int exe_dir(char *dir)
{
    char *slash;

    if (!realpath("/proc/self/exe", dir))
        return -errno;
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash++; /* (/xway-run: the directory is /) */
    *slash = '\0';
    return 0;
}

/* S with glob(3)'s special characters escaped, so that only the patterns
 * appended to it match (the directory is taken as it is). */
static void glob_escape(const char *s, char *out)
{
    for (; *s; s++) {
        if (strchr("*?[]\\", *s))
            *out++ = '\\';
        *out++ = *s;
    }
    *out = '\0';
}

/* The build tree (next to this executable), then the install tree, HERE being
 * PREFIX/bin: PREFIX/lib/xway/, PREFIX/lib{32,64,...}/xway/ or
 * PREFIX/lib/<multiarch>/xway/.  The first regular file, resolved, goes into
 * LIB. */
static int find_shim(const char *here, char *lib)
{
    static const char *const tails[] = {
        "/libxwayshim.so", "/../lib/xway/libxwayshim.so",
        "/../lib*/xway/libxwayshim.so", "/../lib/*/xway/libxwayshim.so",
    };
    char pattern[2 * PATH_MAX + 64];
    size_t len;
    int found = 0;

    glob_escape(here, pattern);
    len = strlen(pattern);
    for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]) && !found; t++) {
        glob_t g;

        strcpy(pattern + len, tails[t]);
        if (glob(pattern, 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc && !found; i++)
            found = is_regular(g.gl_pathv[i]) && realpath(g.gl_pathv[i], lib);
        globfree(&g);
    }
    return found ? 0 : -ENOENT;
}

static int is_executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && eaccess(path, X_OK) == 0;
}

/* NAME's path as the shell's `command -v` finds a program: NAME itself when
 * it has a slash and is executable; else the first executable file of that
 * name in a PATH directory (execvp's search), or failing that the first such
 * file at all. */
static int command_path(const char *name, char *path)
{
    const char *dirs = getenv("PATH"), *dir, *end;
    int have = 0;

    if (strchr(name, '/')) {
        if (!is_executable(name) || strlen(name) >= PATH_MAX)
            return -ENOENT;
        strcpy(path, name);
        return 0;
    }
    if (!*name)
        return -ENOENT;
    for (dir = dirs ? dirs : "/bin:/usr/bin" /* (execvp's) */; ; dir = end + 1) {
        char cand[PATH_MAX];
        struct stat st;
        int n;

        end = strchrnul(dir, ':');
        if (end == dir)
            n = snprintf(cand, sizeof(cand), "./%s", name);
        else
            n = snprintf(cand, sizeof(cand), "%.*s%s%s", (int)(end - dir), dir,
                         end[-1] == '/' ? "" : "/", name);
        if (n < (int)sizeof(cand) && stat(cand, &st) == 0 && !S_ISDIR(st.st_mode)) {
            if (eaccess(cand, X_OK) == 0) {
                strcpy(path, cand);
                return 0;
            }
            if (!have) {
                strcpy(path, cand);
                have = 1;
            }
        }
        if (!*end)
            break;
    }
    return have ? 0 : -ENOENT;
}

/* A script's interpreter (the first word of its #! line) into INTERP, empty
 * when the line has none; -ENOEXEC when FD is not a script. */
static int script_interpreter(int fd, char *interp)
{
    char line[PATH_MAX + 2];
    ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
    size_t start, len;

    if (n < 2 || line[0] != '#' || line[1] != '!')
        return -ENOEXEC;
    line[n] = '\0';
    start = 2 + strspn(line + 2, " \t");
    len = strcspn(line + start, " \t\n");
    if (len >= PATH_MAX)
        len = PATH_MAX - 1;
    memcpy(interp, line + start, len);
    interp[len] = '\0';
    return 0;
}

/* N (at most 8) little-endian bytes at OFF; the bytes past the end of the file
 * read as 0, as does an offset past it. */
static uint64_t read_le(int fd, uint64_t off, int n)
{
    unsigned char b[8] = { 0 };
    uint64_t v = 0;

    if (off > INT64_MAX || pread(fd, b, n, (off_t)off) <= 0)
        return 0;
    while (n--)
        v = v << 8 | b[n];
    return v;
}

/* A dynamic program is one with a loader (PT_INTERP).  Only little-endian ELF
 * files are read (the others are NOT_ELF); any class but 64-bit reads as 32. */
static enum elf_kind elf_kind(int fd)
{
    unsigned char magic[SELFMAG];
    uint64_t phoff, phentsize, phnum;

    if (pread(fd, magic, SELFMAG, 0) != SELFMAG || memcmp(magic, ELFMAG, SELFMAG) ||
        read_le(fd, EI_DATA, 1) != ELFDATA2LSB)
        return NOT_ELF;
    if (read_le(fd, EI_CLASS, 1) == ELFCLASS64) {
        phoff = read_le(fd, offsetof(Elf64_Ehdr, e_phoff), 8);
        phentsize = read_le(fd, offsetof(Elf64_Ehdr, e_phentsize), 2);
        phnum = read_le(fd, offsetof(Elf64_Ehdr, e_phnum), 2);
    } else {
        phoff = read_le(fd, offsetof(Elf32_Ehdr, e_phoff), 4);
        phentsize = read_le(fd, offsetof(Elf32_Ehdr, e_phentsize), 2);
        phnum = read_le(fd, offsetof(Elf32_Ehdr, e_phnum), 2);
    }
    for (uint64_t i = 0; i < phnum && i < MAX_PHDRS; i++)
        if (read_le(fd, phoff + i * phentsize, 4) == PT_INTERP)
            return ELF_DYNAMIC;
    return ELF_STATIC;
}

/* Go's linker writes a note owned by "Go" (type 4, the build ID) in the first
 * page: namesz 4, any descsz, type 4, "Go\0\0". */
static int has_go_note(const unsigned char *b, size_t n)
{
    static const unsigned char four[4] = { 4, 0, 0, 0 }, owner[4] = { 'G', 'o', 0, 0 };

    for (size_t i = 0; i + 16 <= n; i++)
        if (!memcmp(b + i, four, 4) && !memcmp(b + i + 8, four, 4) &&
            !memcmp(b + i + 12, owner, 4))
            return 1;
    return 0;
}

/* A Go program: its note near the start, or its section's name
 * (.note.go.buildid) in the section header string table near the end. */
static int is_go(int fd, off_t size)
{
    static unsigned char buf[GO_WINDOW];
    static const char section[] = ".note.go.buildid";
    off_t tail = size > GO_WINDOW ? size - GO_WINDOW : 0;
    ssize_t n = pread(fd, buf, sizeof(buf), 0);

    if (n > 0 && has_go_note(buf, (size_t)n))
        return 1;
    n = pread(fd, buf, sizeof(buf), tail);
    return n > 0 && memmem(buf, (size_t)n, section, sizeof(section) - 1);
}

static void warn_static_or_go(const char *path, int fd, off_t size)
{
    enum elf_kind kind = elf_kind(fd);

    if (kind == NOT_ELF)
        return;
    if (is_go(fd, size))
        fprintf(stderr, "xway-run: warning: %s is a Go program: it makes its own system calls"
                " for sockets, not libc's, so its sockets stay the kernel's (it cannot bind"
                " an xway address, and xway destinations are unreachable from it)\n", path);
    else if (kind == ELF_STATIC)
        fprintf(stderr, "xway-run: warning: %s is statically linked: no library can be"
                " preloaded into it, so its sockets stay the kernel's\n", path);
}

/* Says on stderr when NAME is a program the shim cannot serve: statically
 * linked, Go, set-user-ID or set-group-ID; a script's interpreter is the
 * program the loader starts.  Whatever it cannot resolve or read, exec will
 * say. */
static void check_program(const char *name, int depth)
{
    char path[PATH_MAX], interp[PATH_MAX];
    struct stat st;
    int fd;

    if (depth > MAX_SCRIPT_DEPTH || command_path(name, path) < 0 ||
        stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && script_interpreter(fd, interp) == 0) {
        if (interp[0] && strcmp(interp, path))
            check_program(interp, depth + 1);
    } else {
        if (st.st_mode & (S_ISUID | S_ISGID))
            fprintf(stderr, "xway-run: warning: %s is set-user-ID or set-group-ID: the dynamic"
                    " loader drops LD_PRELOAD when it raises privileges, so its sockets stay"
                    " the kernel's\n", path);
        if (fd >= 0)
            warn_static_or_go(path, fd, st.st_size);
    }
    if (fd >= 0)
        close(fd);
}

/* LD_PRELOAD=LIB, before what it already held. */
static int preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    char *value;
    int ret;

    if (!old || !*old)
        return setenv("LD_PRELOAD", lib, 1) ? -errno : 0;
    if (asprintf(&value, "%s:%s", lib, old) < 0)
        return -ENOMEM;
    ret = setenv("LD_PRELOAD", value, 1) ? -errno : 0;
    free(value);
    return ret;
}

int main(int argc, char **argv)
{
    char here[PATH_MAX], lib[PATH_MAX];
    const char *link;
    int cmd = parse_options(argc, argv), err;

    if ((err = exe_dir(here)) < 0) {
        fprintf(stderr, "xway-run: /proc/self/exe: %s\n", strerror(-err));
        return 127;
    }
    if (find_shim(here, lib) < 0) {
        fprintf(stderr, "xway-run: libxwayshim.so not found next to %s or under %s/../lib*/xway\n",
                here, here);
        return 127;
    }
    link = getenv("XWAY_LINK");
    if (!link || !*link)
        fputs("xway-run: warning: no XWAY_LINK (--link): every socket stays a kernel socket\n",
              stderr);
    check_program(argv[cmd], 0);
    if ((err = preload(lib)) < 0) {
        fprintf(stderr, "xway-run: LD_PRELOAD: %s\n", strerror(-err));
        return 126;
    }
    execvp(argv[cmd], argv + cmd);
    err = errno;
    fprintf(stderr, "xway-run: %s: %s\n", argv[cmd], strerror(err));
    return err == ENOENT ? 127 : 126;
}
