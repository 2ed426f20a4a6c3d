/* A fixed registry of Prometheus counters and gauges. */
#include "core.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX 64

struct metric {
	const char *name;
	const char *help;
	bool gauge;
	_Atomic int64_t value;
};

static struct metric registry[METRICS_MAX];
static int registry_len;

static struct metric *metric_register(const char *name, const char *help, bool gauge)
{
	for (int i = 0; i < registry_len; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	if (registry_len == METRICS_MAX)
		abort(); /* a programming error: raise METRICS_MAX */
	struct metric *m = &registry[registry_len++];
	m->name = name;
	m->help = help;
	m->gauge = gauge;
	atomic_store(&m->value, 0);
	return m;
}

struct metric *metric_counter(const char *name, const char *help)
{
	return metric_register(name, help, false);
}

struct metric *metric_gauge(const char *name, const char *help)
{
	return metric_register(name, help, true);
}

void metric_add(struct metric *m, int64_t delta)
{
	if (m)
		atomic_fetch_add(&m->value, delta);
}

void metric_set(struct metric *m, int64_t value)
{
	if (m)
		atomic_store(&m->value, value);
}

int64_t metric_value(const struct metric *m)
{
	return m ? atomic_load(&((struct metric *)m)->value) : 0;
}

char *metrics_render(void)
{
	size_t cap = 256 + (size_t)registry_len * 384, pos = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (int i = 0; i < registry_len; i++) {
		struct metric *m = &registry[i];
		int n = snprintf(out + pos, cap - pos, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n",
				 m->name, m->help, m->name, m->gauge ? "gauge" : "counter", m->name,
				 (long long)atomic_load(&m->value));
		if (n < 0 || (size_t)n >= cap - pos)
			break;
		pos += (size_t)n;
	}
	return out;
}
