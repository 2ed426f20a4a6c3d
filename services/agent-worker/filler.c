/* Fillers: one short phrase when a reply is late, never over the agent's own
 * speech, never the same one twice in a row, and only while running — the
 * rule table (modes.c) starts them in active and stops them on hold and
 * when ending, beside the watchdog. Session thread only. */
#include "agent.h"

void filler_init(struct filler *f, bool enabled, int after_ms, int n, uint32_t seed)
{
	f->enabled = enabled && n > 0;
	f->running = false;
	f->after_ms = after_ms;
	f->last = -1;
	f->n = n;
	f->rnd = seed ? seed : 1;
	f->used_this_turn = false;
}

void filler_start(struct filler *f)
{
	f->running = true;
}

void filler_stop(struct filler *f)
{
	f->running = false;
}

void filler_turn(struct filler *f)
{
	f->used_this_turn = false;
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

int filler_due(struct filler *f, int64_t waited_ms, bool agent_speaking)
{
	if (!f->enabled || !f->running || f->used_this_turn || agent_speaking ||
	    waited_ms < f->after_ms)
		return -1;
	int i = (int)(xorshift(&f->rnd) % (uint32_t)f->n);
	if (f->n > 1 && i == f->last)
		i = (i + 1 + (int)(xorshift(&f->rnd) % (uint32_t)(f->n - 1))) % f->n;
	if (f->n == 1 && f->last == 0)
		return -1; /* a single filler may not repeat back to back */
	f->last = i;
	f->used_this_turn = true;
	return i;
}
