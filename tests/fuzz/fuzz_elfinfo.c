// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_elfinfo.c - an ELF file as a target may craft it, handed through
 * our reading path: elfinfo's function lookup, build ID and static check,
 * then a private copy (elfinfo__copy) reported to libdwfl and an address
 * symbolized, as symdb does. Nothing may crash or hang.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "process/elfinfo.h"
#include "symbolize/symbolize.h"

static char *debuginfo_path = "";
static const Dwfl_Callbacks cbs = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = elfinfo__find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sym_result r = { 0 };
	struct elf_func f;
	char path[64], id[129];
	uint8_t buf[16];
	int fd, copy;
	Dwfl *dwfl;

	fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size)
		goto out;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (elfinfo__find_func(path, "malloc", &f) == 0)
		(void)elfinfo__read_bytes(path, f.file_offset, buf, sizeof(buf));
	(void)elfinfo__build_id(path, id, sizeof(id));
	(void)elfinfo__is_static(path);

	copy = elfinfo__copy(path, NULL);
	if (copy < 0)
		goto out;
	dwfl = dwfl_begin(&cbs);
	if (dwfl) {
		Dwfl_Module *mod;

		dwfl_report_begin(dwfl);
		mod = dwfl_report_elf(dwfl, "fuzz", path, copy, 0, true);
		dwfl_report_end(dwfl, NULL, NULL);
		if (mod) {
			Dwarf_Addr lo, hi, bias;

			dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL,
					 NULL);
			(void)dwfl_module_getdwarf(mod, &bias);
			symbolize__module_addr(mod, NULL, lo + (hi - lo) / 2, &r);
			sym_result__clear(&r);
		} else {
			close(copy);
		}
		dwfl_end(dwfl);
	} else {
		close(copy);
	}
	/* every input is a new file: keep the copy cache from holding them */
	elfinfo__copies_drop();
out:
	close(fd);
	return 0;
}
