/* The silence watchdog: reprompt after silence_timeout, up to max_reprompts,
 * then say goodbye. Started and stopped by the rule table (modes.c: it runs
 * in active only, so hold stops it and resume restarts it from zero).
 * Session thread only. */
#include "agent.h"

void watchdog_init(struct watchdog *w, int timeout_ms, int max_reprompts)
{
	w->running = false;
	w->quiet_since = 0;
	w->reprompts = 0;
	w->timeout_ms = timeout_ms;
	w->max_reprompts = max_reprompts;
}

void watchdog_start(struct watchdog *w, int64_t now)
{
	w->running = true;
	w->quiet_since = now;
}

void watchdog_stop(struct watchdog *w)
{
	w->running = false;
}

void watchdog_caller_spoke(struct watchdog *w, int64_t now)
{
	w->reprompts = 0;
	w->quiet_since = now;
}

enum watchdog_action watchdog_tick(struct watchdog *w, int64_t now, bool quiet)
{
	if (!w->running)
		return WD_NONE;
	if (!quiet) {
		w->quiet_since = now;
		return WD_NONE;
	}
	if (now - w->quiet_since < w->timeout_ms)
		return WD_NONE;
	w->quiet_since = now;
	if (w->reprompts < w->max_reprompts) {
		w->reprompts++;
		return WD_REPROMPT;
	}
	return WD_GOODBYE;
}
