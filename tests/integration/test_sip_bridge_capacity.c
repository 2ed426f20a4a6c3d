/* sip-bridge: MAX_CALLS and at-most-once dialing, against a real nats-server,
 * the real bridge and real far ends (sipp counting the calls it has in
 * progress; a bare TCP listener counting the INVITEs it is sent). */
#include "harness/sip_bridge_fx.h"

#include <stdlib.h>

/* The most calls in progress at once according to the sipp log's
 * "start <id>" / "end <id>" lines (written in the order they happened). */
static int far_end_peak(const char *log, int *startsp, int *endsp)
{
	int cur = 0, peak = 0;
	*startsp = *endsp = 0;
	for (const char *p = log; p && *p;) {
		const char *eol = strchr(p, '\n');
		if (strncmp(p, "start ", 6) == 0) {
			(*startsp)++;
			if (++cur > peak)
				peak = cur;
		} else if (strncmp(p, "end ", 4) == 0) {
			(*endsp)++;
			cur--;
		}
		p = eol ? eol + 1 : NULL;
	}
	return peak;
}

/* The same from our events: call_dialing opens a call, call_ended or
 * call_failed closes it (the bridge publishes them in order). */
static int events_peak(struct fx *f)
{
	int cur = 0, peak = 0;
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nev; i++) {
		const char *type = strrchr(f->ev[i].subject, '.');
		if (!type)
			continue;
		if (strcmp(type, ".call_dialing") == 0 && ++cur > peak)
			peak = cur;
		else if (strcmp(type, ".call_ended") == 0 || strcmp(type, ".call_failed") == 0)
			cur--;
	}
	pthread_mutex_unlock(&f->mu);
	return peak;
}

/* MAX_CALLS=2, five jobs queued at once: never more than two calls in
 * progress (at the far end and in our events), and every job is dialed as
 * capacity frees up. */
static int test_max_calls(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char ids[5][ID_UUID_LEN + 1];
	char *log = NULL;
	const struct sipp_opts o = { .calls = 5 };
	TEST_EQ_INT(fx_start(&f, "2"), 0);
	TEST_EQ_INT(sipp_start_opts(&f, &s, "uas_capacity.xml", NULL, &o), 0);
	for (int i = 0; i < 5; i++) {
		TEST_EQ_INT(id_uuid4(ids[i]), 0);
		TEST_EQ_INT(publish_job(&f, ids[i], s.port, 30, "u", "p"), 0);
	}
	TEST_ASSERT(await_type_count(&f, "call_ended", 5, 4 * WAIT_MS));
	for (int i = 0; i < 5; i++) {
		TEST_EQ_INT(count_events(&f, ids[i], "call_dialing"), 1);
		TEST_EQ_INT(count_events(&f, ids[i], "call_answered"), 1);
		TEST_EQ_INT(count_events(&f, ids[i], "call_ended"), 1);
		TEST_EQ_INT(count_events(&f, ids[i], "call_failed"), 0);
	}
	TEST_EQ_INT(sipp_wait(&s), 0);
	log = read_all(s.logfile);
	int starts, ends;
	int peak = far_end_peak(log, &starts, &ends);
	fprintf(stdout,
		"    far end: %d INVITEs, %d ended, at most %d at once; events: at most %d\n",
		starts, ends, peak, events_peak(&f));
	TEST_EQ_INT(starts, 5);
	TEST_EQ_INT(ends, 5);
	TEST_ASSERT(peak <= 2);
	TEST_ASSERT(events_peak(&f) <= 2);
	/* the capacity is used, not just respected */
	TEST_EQ_INT(peak, 2);
out:
	if (s.pid)
		test_kill(s.pid);
	free(log);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* kill -9 right after the bridge dialed: the job was acked before the
 * INVITE, so the restarted bridge never dials that person again (the far end
 * sees exactly one INVITE) and takes the next job normally. */
static int test_crash_after_dial_never_redials(void)
{
	int err = 0;
	struct fx f;
	struct sink k = { 0 };
	char a[ID_UUID_LEN + 1], b[ID_UUID_LEN + 1];
	uint64_t msgs = 99;
	struct job_opts ja = { .to_number = "+918000000001", .ring_timeout_s = 60 };
	struct job_opts jb = { .to_number = "+918000000002", .ring_timeout_s = 60 };
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(sink_start(&k), 0);
	TEST_EQ_INT(id_uuid4(a), 0);
	TEST_EQ_INT(id_uuid4(b), 0);
	TEST_EQ_INT(publish_job_opts(&f, a, k.port, &ja), 0);
	TEST_ASSERT(sink_await(&k, ja.to_number, 1, WAIT_MS));
	fx_bridge_kill9(&f);
	/* acked before dialing: nothing left in the work queue to redeliver */
	TEST_EQ_INT(bus_js_stream_msgs(f.bus, "DIALS", &msgs), 0);
	TEST_EQ_INT(msgs, 0);
	TEST_EQ_INT(fx_bridge_start(&f), 0);
	TEST_EQ_INT(publish_job_opts(&f, b, k.port, &jb), 0);
	/* a pull request of the dead process may hold b until its ack wait (30 s) */
	TEST_ASSERT(sink_await(&k, jb.to_number, 1, 3 * WAIT_MS));
	TEST_EQ_INT(sink_invites(&k, ja.to_number), 1);
	TEST_EQ_INT(sink_invites(&k, jb.to_number), 1);
	free(await_event(&f, b, "call_dialing", WAIT_MS));
	TEST_EQ_INT(count_events(&f, b, "call_dialing"), 1);
	/* a's call_dialing may have died with the process, never twice */
	TEST_ASSERT(count_events(&f, a, "call_dialing") <= 1);
	TEST_EQ_INT(hangup(&f, b, "api"), 0);
	free(await_event(&f, b, "call_failed", WAIT_MS));
out:
	sink_stop(&k);
	err |= fx_stop(&f, err != 0);
	return err;
}

static enum bus_ack nak_job(const struct bus_msg *msg, void *arg)
{
	(void)msg;
	(*(int *)arg)++;
	return BUS_NAK;
}

/* A job another consumer took but never acked (it died before the ack) is
 * redelivered and dialed once; the same job enqueued again under another
 * message id is not dialed a second time. */
static int test_redelivered_and_duplicate_jobs_dialed_once(void)
{
	int err = 0;
	struct fx f;
	struct sink k = { 0 };
	struct bus_sub *sub = NULL;
	char a[ID_UUID_LEN + 1], b[ID_UUID_LEN + 1], again[64], path[600];
	char *log = NULL;
	int naks = 0, count = 0;
	struct job_opts ja = { .to_number = "+918000000011", .ring_timeout_s = 60 };
	struct job_opts jb = { .to_number = "+918000000012", .ring_timeout_s = 60 };
	TEST_EQ_INT(fx_start(&f, NULL), 0);
	fx_setenv(&f, "MAX_CALLS", "10");
	TEST_EQ_INT(sink_start(&k), 0);
	TEST_EQ_INT(id_uuid4(a), 0);
	TEST_EQ_INT(id_uuid4(b), 0);
	TEST_EQ_INT(publish_job_opts(&f, a, k.port, &ja), 0);
	/* a worker takes the job and dies without acking it */
	TEST_EQ_INT(bus_js_pull_sub(f.bus, &sub, "DIALS", "sip-bridge", "dial.exotel"), 0);
	TEST_EQ_INT(bus_js_fetch(sub, 1, 5000, nak_job, &naks, &count), 0);
	TEST_EQ_INT(naks, 1);
	sub = bus_unsubscribe(sub);
	TEST_EQ_INT(fx_bridge_start(&f), 0);
	TEST_ASSERT(sink_await(&k, ja.to_number, 1, WAIT_MS));
	/* the same call enqueued again (another message id), then a marker job:
	 * the queue is in order, so once the marker is dialed the copy was seen */
	snprintf(again, sizeof(again), "dial-%s-again", a);
	ja.msg_id = again;
	TEST_EQ_INT(publish_job_opts(&f, a, k.port, &ja), 0);
	TEST_EQ_INT(publish_job_opts(&f, b, k.port, &jb), 0);
	TEST_ASSERT(sink_await(&k, jb.to_number, 1, WAIT_MS));
	TEST_EQ_INT(sink_invites(&k, ja.to_number), 1);
	free(await_event(&f, b, "call_dialing", WAIT_MS));
	TEST_EQ_INT(count_events(&f, a, "call_dialing"), 1);
	TEST_EQ_INT(count_events(&f, a, "call_failed"), 0);
	snprintf(path, sizeof(path), "%s/sip-bridge-1.log", f.dir);
	log = read_all(path);
	TEST_CONTAINS(log, "dial_job_redelivered");
	TEST_CONTAINS(log, "dial_job_duplicate");
	TEST_EQ_INT(hangup(&f, a, "api"), 0);
	TEST_EQ_INT(hangup(&f, b, "api"), 0);
	free(await_event(&f, a, "call_failed", WAIT_MS));
	free(await_event(&f, b, "call_failed", WAIT_MS));
out:
	sub = bus_unsubscribe(sub);
	free(log);
	sink_stop(&k);
	err |= fx_stop(&f, err != 0);
	return err;
}

static const struct test tests[] = {
	{ "max_calls", test_max_calls },
	{ "crash_after_dial_never_redials", test_crash_after_dial_never_redials },
	{ "redelivered_and_duplicate_jobs_dialed_once",
	  test_redelivered_and_duplicate_jobs_dialed_once },
};
TEST_MAIN(tests)
