/* sip-bridge checks what it acts on (issue 13): a call_ended or call_failed
 * that someone else publishes for a leg the bridge holds does not leave the
 * leg up (BYE, call_ended "ended_elsewhere"), its own events do not end its
 * calls, and a leg that never gets RTP ends after MEDIA_TIMEOUT_S. */
#include "harness/sip_bridge_fx.h"

#include <stdlib.h>

#include "core/core.h"
#include "event/event.h"

/* The bridge's call_ended for `id` (source sip-bridge/test, not one the
 * test published in its name), or NULL after
 * timeout_ms. Caller frees. */
static char *bridge_ended(struct fx *f, const char *id, int timeout_ms)
{
	char subject[128];
	snprintf(subject, sizeof(subject), "calls.%s.call_ended", id);
	int64_t end = time_mono_ms() + timeout_ms;
	char *found = NULL;
	while (!found && time_mono_ms() < end) {
		pthread_mutex_lock(&f->mu);
		for (int i = 0; i < f->nev && !found; i++)
			if (strcmp(f->ev[i].subject, subject) == 0 &&
			    strstr(f->ev[i].data, "\"source\":\"sip-bridge/test\"") &&
			    !strstr(f->ev[i].data, "\"reason\":\"completed\"")) /* the test's own */
				found = strdup(f->ev[i].data);
		if (!found) {
			struct timespec dl;
			time_deadline(&dl, CLOCK_REALTIME, 100);
			pthread_cond_timedwait(&f->cv, &f->mu, &dl);
		}
		pthread_mutex_unlock(&f->mu);
	}
	return found;
}

static int publish_as(struct fx *f, enum event_type type, const char *id, const char *source)
{
	struct event *ev = NULL;
	int err = event_new(&ev, type, id, "room-x", source);
	if (!err && type == EV_CALL_ENDED)
		err = event_set_str(ev, "reason", "completed");
	if (!err && type == EV_CALL_ENDED)
		err = event_set_str(ev, "by", "remote");
	if (!err && type == EV_CALL_ENDED)
		err = event_set_int(ev, "duration_ms", 1000);
	if (!err && type == EV_CALL_FAILED)
		err = event_set_str(ev, "status", "failed");
	if (!err)
		err = bus_publish_event(f->bus, ev);
	event_free(ev);
	return err;
}

/* A stray call_ended for an answered leg: the bridge hangs the leg up (the
 * carrier gets a BYE) and says so in its own call_ended. */
static int test_foreign_call_ended_ends_the_leg(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1];
	char *ended = NULL;
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(&f, &s, "uas_answer.xml", NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	/* an event for another call changes nothing for this one */
	char other[ID_UUID_LEN + 1];
	TEST_EQ_INT(id_uuid4(other), 0);
	TEST_EQ_INT(publish_as(&f, EV_CALL_ENDED, other, "intruder/x"), 0);
	TEST_EQ_INT(publish_as(&f, EV_CALL_ENDED, id, "intruder/x"), 0);
	ended = bridge_ended(&f, id, WAIT_MS);
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"reason\":\"ended_elsewhere\"");
	TEST_EQ_INT(sipp_wait(&s), 0); /* the carrier got its BYE and answered it */
out:
	if (s.pid)
		test_kill(s.pid);
	free(ended);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* The agent's call_failed (its room was lost) ends the leg as well, by
 * "agent"; a call_ended carrying the bridge's own source does not. */
static int test_agent_call_failed_ends_the_leg(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1];
	char *ended = NULL;
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(&f, &s, "uas_answer.xml", NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	TEST_EQ_INT(publish_as(&f, EV_CALL_ENDED, id, "sip-bridge/test"), 0);
	/* the bridge's own event is skipped: had it ended the leg, by would be
	 * "local"; the agent's call_failed is what ends it */
	TEST_EQ_INT(publish_as(&f, EV_CALL_FAILED, id, "agent-worker/a1"), 0);
	ended = bridge_ended(&f, id, WAIT_MS);
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"reason\":\"ended_elsewhere\",\"by\":\"agent\"");
	TEST_EQ_INT(sipp_wait(&s), 0);
out:
	if (s.pid)
		test_kill(s.pid);
	free(ended);
	err |= fx_stop(&f, err != 0);
	return err;
}

#define NO_RTP_TIMEOUT_S 2

/* The carrier answers and never sends RTP: the media timeout, armed from
 * the answer, ends the call after MEDIA_TIMEOUT_S. */
static int test_leg_without_rtp_times_out(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1], v[16];
	char *ended = NULL;
	TEST_EQ_INT(fx_start(&f, NULL), 0);
	snprintf(v, sizeof(v), "%d", NO_RTP_TIMEOUT_S);
	fx_setenv(&f, "MEDIA_TIMEOUT_S", v);
	fx_setenv(&f, "MAX_CALLS", "10");
	TEST_EQ_INT(fx_bridge_start(&f), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(&f, &s, "uas_answer.xml", NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	int64_t t0 = time_mono_ms();
	ended = bridge_ended(&f, id, (NO_RTP_TIMEOUT_S + 5) * 1000);
	int64_t took = time_mono_ms() - t0;
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"reason\":\"media_timeout\"");
	TEST_ASSERT(took >= NO_RTP_TIMEOUT_S * 1000 - 300);
	TEST_ASSERT(took <= (NO_RTP_TIMEOUT_S + 2) * 1000);
	fprintf(stdout, "    no RTP since the answer: ended after %lld ms (MEDIA_TIMEOUT_S=%d)\n",
		(long long)took, NO_RTP_TIMEOUT_S);
	TEST_EQ_INT(sipp_wait(&s), 0);
out:
	if (s.pid)
		test_kill(s.pid);
	free(ended);
	err |= fx_stop(&f, err != 0);
	return err;
}

static const struct test tests[] = {
	{ "foreign_call_ended_ends_the_leg", test_foreign_call_ended_ends_the_leg },
	{ "agent_call_failed_ends_the_leg", test_agent_call_failed_ends_the_leg },
	{ "leg_without_rtp_times_out", test_leg_without_rtp_times_out },
};

int main(int argc, char **argv)
{
	log_setup("test_sip_bridge_checks", LOG_WARN, false);
	int rc = test_run(__FILE__, tests, CM_ARRAY_LEN(tests), argc, argv);
	bus_library_shutdown(2000);
	return rc;
}
