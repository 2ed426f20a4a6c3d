/* Percentiles for the benches' samples. */
#include "test.h"

#include <stdlib.h>

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int64_t test_pct(int64_t *v, int n, int p)
{
	if (n <= 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	int i = (int)((long)n * p / 100);
	return v[i < n ? i : n - 1];
}
