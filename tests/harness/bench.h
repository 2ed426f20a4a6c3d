/*
 * One way for a bench to report a figure beside its goal (bench.c). Each
 * figure is one line on stdout, aligned, that bench/run.sh collects into the
 * closing table of `make bench`:
 *
 *   figure  sip.cpu_per_call             412 µs      goal ≤ 150 µs       NOT met  (3000 calls)
 *   figure  relay.plain_vs_rtpengine       - ratio   goal ≤ 1 ratio      not measured: ...
 *
 * A name is one word (letters, digits, '.', '_', '@'), unique across the
 * benches; the verdict is "met", "NOT met", "reported" (a figure without a
 * goal) or "not measured: <why>". Nothing here fails a bench.
 */
#ifndef CALLMESH_BENCH_H
#define CALLMESH_BENCH_H

#include <stdbool.h>

/* Prints name, value and unit beside the goal `op goal` (op "<=" / "≤" or
 * ">=" / "≥"; NULL: no goal, the figure is only reported). A value below 0
 * or NaN means not measured. note (may be NULL) says under what load.
 * True when the goal is met. */
bool bench_figure(const char *name, double value, const char *op, double goal, const char *unit,
		  const char *note);

/* A figure of the goals that this run could not measure, and why. */
void bench_figure_absent(const char *name, const char *op, double goal, const char *unit,
			 const char *why);

#endif
