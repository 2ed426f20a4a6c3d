/* Runs a table of tests, prints one line each and "N passed, M failed". */
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void test_failed(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stdout, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

int test_run(const char *suite, const struct test *tests, size_t n, int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : getenv("TEST_ONLY");
	int passed = 0, failed = 0;
	printf("# %s\n", suite);
	for (size_t i = 0; i < n; i++) {
		if (only && *only && !strstr(tests[i].name, only))
			continue;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		fflush(stdout);
		int err = tests[i].fn();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		printf("%s %s (%ld ms)\n", err ? "FAIL" : "ok  ", tests[i].name, ms);
		fflush(stdout);
		if (err)
			failed++;
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
