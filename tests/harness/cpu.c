/* CPU time of other processes and their threads, from /proc, for benches. */
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* utime + stime (µs) of one /proc stat file; its comm into name (may be NULL).
 * -1 when unreadable. */
static int64_t stat_cpu_us(const char *path, char *name, size_t namelen)
{
	char buf[1024];
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* the comm may hold ')': it ends at the last one */
	const char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (!open_p || !close_p || close_p < open_p ||
	    sscanf(close_p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		   &st) != 2)
		return -1;
	if (name)
		snprintf(name, namelen, "%.*s", (int)(close_p - open_p - 1), open_p + 1);
	return (int64_t)(ut + st) * 1000000 / sysconf(_SC_CLK_TCK);
}

int64_t test_cpu_us(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	return stat_cpu_us(path, NULL, 0);
}

/* Calls h with every thread of pid. */
typedef void (task_h)(int pid, int tid, void *arg);

static void each_task(int pid, task_h *h, void *arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			h(pid, (int)strtol(e->d_name, NULL, 10), arg);
	closedir(d);
}

static void thread_add(int pid, int tid, void *arg)
{
	struct test_threads *t = arg;
	char path[64], name[TEST_THREAD_NAME_MAX];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	int64_t us = stat_cpu_us(path, name, sizeof(name));
	if (us < 0)
		return;
	int k = 0;
	while (k < t->n && strcmp(t->name[k], name) != 0)
		k++;
	if (k == TEST_THREADS_MAX)
		return;
	if (k == t->n) {
		snprintf(t->name[k], sizeof(t->name[k]), "%s", name);
		t->us[k] = 0;
		t->n++;
	}
	t->us[k] += us;
}

void test_threads_cpu(struct test_threads *t, int pid)
{
	t->n = 0;
	each_task(pid, thread_add, t);
}

int64_t test_threads_us(const struct test_threads *t, const char *name)
{
	for (int k = 0; k < t->n; k++)
		if (strcmp(t->name[k], name) == 0)
			return t->us[k];
	return 0;
}

static void sched_add(int pid, int tid, void *arg)
{
	double *total = arg;
	char path[64];
	unsigned long long ns = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%llu", &ns) == 1)
		*total += (double)ns;
	fclose(f);
}

double test_cpu_sched_ns(int pid)
{
	double total = 0;
	each_task(pid, sched_add, &total);
	return total;
}
