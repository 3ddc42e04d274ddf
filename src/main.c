// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * main.c - memtel-bpf's entry point: parse the command line (cli/options.c)
 * and run one session (cli/session.c), or dispatch a subcommand (agent:
 * cli/agent.c). Exit status: 0 success, 1 runtime failure, 2 usage error.
 */
#include <string.h>

#include "cli/agent.h"
#include "cli/options.h"
#include "cli/session.h"

int main(int argc, char **argv)
{
	struct options o;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "agent"))
		return agent__main(argc - 1, argv + 1);
	options__init(&o);
	rc = options__parse(&o, argc, argv);
	if (rc == 1)
		return 0;
	if (rc)
		return EXIT_USAGE;
	return session__run(&o);
}
