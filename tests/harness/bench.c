/* Figures beside their goals, one aligned line each (bench.h). */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NAME_W  34
#define VALUE_W 10
#define UNIT_W  7
#define GOAL_W  22

/* Characters of a UTF-8 string ("µ", "≤" are one each). */
static int width(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* s left-aligned in w columns; right-aligned when right. */
static void put(const char *s, int w, bool right)
{
	int pad = w - width(s);
	if (right)
		printf("%*s%s", pad > 0 ? pad : 0, "", s);
	else
		printf("%s%*s", s, pad > 0 ? pad : 0, "");
}

/* v with as many decimals as its size needs: 412, 41.3, 4.13, 0.413, 0. */
static void num(char *buf, size_t len, double v)
{
	double a = fabs(v);
	int prec = a >= 100 || a == floor(a) ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
	snprintf(buf, len, "%.*f", prec, v);
}

/* +1 at most, -1 at least, 0 no goal, 2 an op this does not know. */
static int op_kind(const char *op)
{
	if (!op)
		return 0;
	if (strcmp(op, "<=") == 0 || strcmp(op, "≤") == 0)
		return 1;
	if (strcmp(op, ">=") == 0 || strcmp(op, "≥") == 0)
		return -1;
	return 2;
}

static void head(const char *name, const char *value, const char *unit, const char *op,
		 double goal)
{
	char g[64], n[32];
	printf("figure  ");
	put(name, NAME_W, false);
	put(value, VALUE_W, true);
	printf(" ");
	put(unit ? unit : "", UNIT_W, false);
	int k = op_kind(op);
	num(n, sizeof(n), goal);
	if (k == 0)
		snprintf(g, sizeof(g), "goal -");
	else
		snprintf(g, sizeof(g), "goal %s %s %s", k == 1 ? "≤" : k == -1 ? "≥" : op, n,
			 unit ? unit : "");
	printf(" ");
	put(g, GOAL_W, false);
	printf(" ");
}

bool bench_figure(const char *name, double value, const char *op, double goal, const char *unit,
		  const char *note)
{
	char v[32];
	int k = op_kind(op);
	bool measured = !isnan(value) && value >= 0;
	bool met = measured && ((k == 1 && value <= goal) || (k == -1 && value >= goal));
	if (measured)
		num(v, sizeof(v), value);
	else
		snprintf(v, sizeof(v), "-");
	head(name, v, unit, op, goal);
	if (!measured)
		printf("not measured");
	else if (k == 0)
		printf("reported");
	else if (k == 2)
		printf("NOT met (goal operator \"%s\" unknown)", op);
	else
		printf("%s", met ? "met" : "NOT met");
	if (note && *note)
		printf("  (%s)", note);
	printf("\n");
	fflush(stdout);
	return met;
}

void bench_figure_absent(const char *name, const char *op, double goal, const char *unit,
			 const char *why)
{
	head(name, "-", unit, op, goal);
	printf("not measured: %s\n", why && *why ? why : "no reason given");
	fflush(stdout);
}
