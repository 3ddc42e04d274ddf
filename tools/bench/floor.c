// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor.c - attach floor.bpf.c's empty program where memtel-bpf probes
 * malloc and free, for `make bench`.
 *
 * Usage: floor --pid PID [--ret] [-v]
 *
 * Attaches `noop` to the target's libc at malloc's entry (through libbpf's
 * func_name lookup) and at free+3, the conditional jump after free's NULL
 * test, which the kernel emulates instead of single-stepping (see
 * docs/PLATFORM.md; memtel-bpf picks the same instruction). --ret adds a
 * uretprobe on malloc, as memtel-bpf attaches one. Probes are pid-filtered
 * at attach time. Prints "floor: attached N probes ..." on stderr once
 * attached, then stays until SIGINT/SIGTERM or the target's exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "floor.skel.h"

#define MAX_LINKS 3

struct options {
	pid_t pid;
	bool ret;
	bool verbose;
};

static volatile sig_atomic_t exiting;
static bool verbose;

__attribute__((format(printf, 1, 2)))
static void err_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("floor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

/* The target's libc, as "/proc/PID/root/<path from its maps>". */
static int find_libc(pid_t pid, char *out, size_t len)
{
	char maps[64], line[PATH_MAX + 256], *path, *base;
	int err = -ENOENT;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	f = fopen(maps, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		path = strchr(line, '/');
		if (!path)
			continue;
		base = strrchr(path, '/') + 1;
		if (strncmp(base, "libc.so", 7) && strncmp(base, "libc-", 5))
			continue;
		if ((size_t)snprintf(out, len, "/proc/%d/root%s", (int)pid,
				     path) >= len)
			err = -ENAMETOOLONG;
		else
			err = 0;
		break;
	}
	fclose(f);
	return err;
}

/* File offset of function `name` in the ELF file at path, from .dynsym or
 * .symtab: uprobes attach by file offset, not by address. */
static long elf_func_offset(const char *path, const char *name)
{
	Elf_Scn *scn = NULL;
	long ret = -ENOENT;
	Elf *elf = NULL;
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOTSUP;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf) {
		ret = -EINVAL;
		goto cleanup;
	}
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh, tsh;
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || !sh.sh_entsize ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			const char *nm;
			GElf_Sym sym;

			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    sym.st_shndx == SHN_UNDEF ||
			    sym.st_shndx >= SHN_LORESERVE)
				continue;
			nm = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!nm || strcmp(nm, name))
				continue;
			if (!gelf_getshdr(elf_getscn(elf, sym.st_shndx), &tsh)) {
				ret = -EINVAL;
				goto cleanup;
			}
			ret = (long)(sym.st_value - tsh.sh_addr + tsh.sh_offset);
			goto cleanup;
		}
	}
cleanup:
	elf_end(elf);
	close(fd);
	return ret;
}

static int read_bytes(const char *path, long off, unsigned char *buf,
		      size_t len)
{
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = pread(fd, buf, len, off);
	close(fd);
	if (got < 0)
		return -errno;
	return (size_t)got == len ? 0 : -EIO;
}

static bool is_jcc(const unsigned char *b)
{
	return (b[0] >= 0x70 && b[0] <= 0x7f) ||
	       (b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f);
}

/* push %reg, with or without a REX.B prefix: emulated by the kernel. */
static bool is_push(const unsigned char *b)
{
	return (b[0] >= 0x50 && b[0] <= 0x57) ||
	       (b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "ret", no_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char *end;
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "p:rvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v <= 0 ||
			    v > INT_MAX) {
				err_msg("bad pid '%s'", optarg);
				return -EINVAL;
			}
			o->pid = (pid_t)v;
			break;
		case 'r':
			o->ret = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
		default:
			fprintf(stderr,
				"Usage: %s --pid PID [--ret] [-v]\n"
				"Attach an empty BPF program at malloc's entry and free+3\n"
				"(--ret: and malloc's return) of PID's libc.\n"
				"Example: %s --pid 1234 --ret\n",
				argv[0], argv[0]);
			return -EINVAL;
		}
	}
	if (!o->pid || optind != argc) {
		err_msg("--pid PID is required (see --help)");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_LINKS] = { NULL };
	struct options o = { 0 };
	struct floor_bpf *skel = NULL;
	char libc[PATH_MAX];
	unsigned char code[8];
	long malloc_off, free_off;
	int n = 0, i, err;

	if (parse_args(argc, argv, &o))
		return 2;
	verbose = o.verbose;
	libbpf_set_print(libbpf_print);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	err = find_libc(o.pid, libc, sizeof(libc));
	if (err) {
		err_msg("no libc mapped in pid %d: %s", (int)o.pid,
			strerror(-err));
		goto cleanup;
	}
	malloc_off = elf_func_offset(libc, "malloc");
	free_off = elf_func_offset(libc, "free");
	if (malloc_off < 0 || free_off < 0) {
		err = malloc_off < 0 ? (int)malloc_off : (int)free_off;
		err_msg("malloc/free not found in %s: %s", libc, strerror(-err));
		goto cleanup;
	}
	/* The floor is only meaningful at the instructions memtel-bpf uses:
	 * an emulated jcc at free+3 (after `test %rdi,%rdi`)... */
	err = read_bytes(libc, free_off + 3, code, 2);
	if (err) {
		err_msg("reading %s at 0x%lx: %s", libc, free_off + 3,
			strerror(-err));
		goto cleanup;
	}
	if (!is_jcc(code)) {
		err = -ENOTSUP;
		err_msg("free+3 in %s is %02x %02x, not a jcc: this libc's free "
			"does not start with a NULL test", libc, code[0], code[1]);
		goto cleanup;
	}
	/* ...and malloc's entry, emulated when it is a push. */
	err = read_bytes(libc, malloc_off, code, 2);
	if (err) {
		err_msg("reading %s at 0x%lx: %s", libc, malloc_off,
			strerror(-err));
		goto cleanup;
	}
	if (!is_push(code))
		err_msg("warning: malloc's first insn (%02x %02x) is not a push; "
			"it may be single-stepped", code[0], code[1]);

	skel = floor_bpf__open_and_load();
	if (!skel) {
		err = -errno;
		err_msg("loading the BPF program: %s", strerror(-err));
		goto cleanup;
	}

	{
		LIBBPF_OPTS(bpf_uprobe_opts, entry, .func_name = "malloc");
		LIBBPF_OPTS(bpf_uprobe_opts, ret, .func_name = "malloc",
			    .retprobe = true);
		LIBBPF_OPTS(bpf_uprobe_opts, at);

		links[n] = bpf_program__attach_uprobe_opts(skel->progs.noop,
							   o.pid, libc, 0,
							   &entry);
		if (!links[n++])
			goto attach_fail;
		if (o.ret) {
			links[n] = bpf_program__attach_uprobe_opts(
				skel->progs.noop, o.pid, libc, 0, &ret);
			if (!links[n++])
				goto attach_fail;
		}
		links[n] = bpf_program__attach_uprobe_opts(skel->progs.noop,
							   o.pid, libc,
							   (size_t)free_off + 3,
							   &at);
		if (!links[n++])
			goto attach_fail;
	}
	fprintf(stderr, "floor: attached %d probes to %s in pid %d "
		"(malloc entry%s, free+3 at 0x%lx)\n", n, libc, (int)o.pid,
		o.ret ? ", malloc return" : "", free_off + 3);

	while (!exiting) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (kill(o.pid, 0) && errno == ESRCH)
			break;
		nanosleep(&ts, NULL);
	}
	err = 0;
	goto cleanup;

attach_fail:
	err = -errno;
	err_msg("attaching probe %d to %s: %s", n, libc, strerror(-err));
cleanup:
	for (i = 0; i < MAX_LINKS; i++)
		bpf_link__destroy(links[i]);
	floor_bpf__destroy(skel);
	return err ? 1 : 0;
}
