/* Tests that carry WebRTC media run in a network namespace of their own
 * (tests/netns/run.sh): libwebrtc gathers no loopback candidates. */
#include "harness/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int test_netns_enter(int argc, char **argv)
{
	static const char run[] = "tests/netns/run.sh";
	if (getenv("CALLMESH_NETNS"))
		return 0;
	if (access(run, X_OK)) {
		fprintf(stderr, "%s not found: run from the repository root\n", run);
		return 2;
	}
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	if (!args)
		return 2;
	args[0] = (char *)run;
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	execv(run, args);
	perror("execv tests/netns/run.sh");
	free(args);
	return 2;
}
