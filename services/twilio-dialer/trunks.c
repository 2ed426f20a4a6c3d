/* sip.trunks.create: a Twilio trunk given as address/username/password
 * becomes a LiveKit outbound trunk (SIP/CreateSIPOutboundTrunk, sip.admin).
 *
 *   {"v":1,"name":"Twilio US","address":"example.pstn.twilio.com",
 *    "numbers":["+15550100000"],"username":"…","password":"…"}
 *   → {"ok":true,"data":{"sip_trunk_id":"ST_…"}}
 *
 * Served from a thread of its own per request (the LiveKit call may take up
 * to LIVEKIT_TIMEOUT_MS); the password is never logged. Owns the count of
 * those threads, so that shutdown can wait for them. */
#include "trunks.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"

#define NUMBERS_MAX 100

struct trunks {
	struct livekit *lk;          /* NULL: LIVEKIT_URL is unset */
	struct bus *bus;
	long timeout_ms;
	pthread_mutex_t lock;
	pthread_cond_t changed;      /* a request thread finished */
	long nthreads;
	bool stopping;
};

static const struct cmd_field trunk_fields[] = {
	{ "name", CMD_STR, false, 0, 128 },
	{ "address", CMD_STR, true, 1, 253 },
	{ "username", CMD_STR, false, 0, 128 },
	{ "password", CMD_STR, false, 0, 256 },
	{ "numbers", CMD_E164_LIST, true, 1, NUMBERS_MAX },
	{ 0 }
};

struct trunk_req {
	struct trunks *tr;
	char *reply;
	char *data;
	size_t len;
};

static void serve(struct trunk_req *t)
{
	struct trunks *tr = t->tr;
	struct cmd_error e = { 0 };
	struct livekit_error lke;
	const char *numbers[NUMBERS_MAX + 1] = { 0 };
	cJSON *req = NULL, *out = NULL;
	char *trunk_id = NULL;
	int err = cmd_parse(&req, t->data, t->len, trunk_fields, &e);
	if (err)
		goto out;
	const cJSON *nums = cJSON_GetObjectItemCaseSensitive(req, "numbers");
	int n = 0;
	for (const cJSON *v = nums->child; v && n < NUMBERS_MAX; v = v->next)
		numbers[n++] = v->valuestring;
	if (!tr->lk) {
		cmd_error_set(&e, "unavailable", NULL, "LIVEKIT_URL is not configured");
		err = EAGAIN;
		goto out;
	}
	err = livekit_sip_outbound_trunk_create(tr->lk, &trunk_id, cmd_str(req, "name"),
						cmd_str(req, "address"), numbers,
						cmd_str(req, "username"), cmd_str(req, "password"),
						tr->timeout_ms, &lke);
	if (err) {
		cmd_error_upstream(&e, "livekit", "CreateSIPOutboundTrunk", err, lke.http_status,
				   lke.code, lke.msg);
		goto out;
	}
	out = cJSON_CreateObject();
	if (!out || !cJSON_AddStringToObject(out, "sip_trunk_id", trunk_id)) {
		cmd_error_set(&e, "internal", NULL, "out of memory");
		err = ENOMEM;
		goto out;
	}
	log_info("trunk_created", "address=%s sip_trunk_id=%s", cmd_str(req, "address"), trunk_id);
out:
	if (err) {
		log_warn("trunk_create_failed", "%s: %s", e.code, e.message);
		cmd_reply_error(tr->bus, t->reply, &e);
		cJSON_Delete(out);
	} else {
		cmd_reply_ok(tr->bus, t->reply, out);
	}
	free(trunk_id);
	cJSON_Delete(req);
}

static void *trunk_thread(void *arg)
{
	struct trunk_req *t = arg;
	struct trunks *tr = t->tr;
	serve(t);
	free(t->reply);
	free(t->data);
	free(t);
	pthread_mutex_lock(&tr->lock);
	tr->nthreads--;
	pthread_cond_broadcast(&tr->changed);
	pthread_mutex_unlock(&tr->lock);
	return NULL;
}

void trunks_on_create(const struct bus_msg *msg, void *arg)
{
	struct trunks *tr = arg;
	struct trunk_req *t = calloc(1, sizeof(*t));
	struct cmd_error e;
	if (t) {
		t->tr = tr;
		t->reply = msg->reply ? strdup(msg->reply) : NULL;
		t->data = malloc((size_t)msg->len + 1);
		t->len = (size_t)msg->len;
	}
	if (!t || !t->data || (msg->reply && !t->reply)) {
		cmd_error_set(&e, "internal", NULL, "out of memory");
		goto fail;
	}
	memcpy(t->data, msg->data, (size_t)msg->len);
	t->data[msg->len] = '\0';
	pthread_mutex_lock(&tr->lock);
	bool stopping = tr->stopping;
	if (!stopping)
		tr->nthreads++;
	pthread_mutex_unlock(&tr->lock);
	if (stopping) {
		cmd_error_set(&e, "unavailable", NULL, "twilio-dialer is stopping");
		goto fail;
	}
	pthread_t tid;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&tid, &attr, trunk_thread, t);
	pthread_attr_destroy(&attr);
	if (!err)
		return;
	pthread_mutex_lock(&tr->lock);
	tr->nthreads--;
	pthread_mutex_unlock(&tr->lock);
	cmd_error_set(&e, "unavailable", NULL, "no thread for the request");
fail:
	cmd_reply_error(tr->bus, msg->reply, &e);
	if (t) {
		free(t->reply);
		free(t->data);
		free(t);
	}
}

int trunks_new(struct trunks **tp, struct livekit *lk, struct bus *bus, long timeout_ms)
{
	struct trunks *tr = calloc(1, sizeof(*tr));
	if (!tr)
		return ENOMEM;
	tr->lk = lk;
	tr->bus = bus;
	tr->timeout_ms = timeout_ms;
	pthread_mutex_init(&tr->lock, NULL);
	pthread_cond_init(&tr->changed, NULL);
	*tp = tr;
	return 0;
}

void trunks_stop(struct trunks *tr)
{
	pthread_mutex_lock(&tr->lock);
	tr->stopping = true;
	pthread_mutex_unlock(&tr->lock);
}

long trunks_wait(struct trunks *tr, int64_t deadline_ms)
{
	pthread_mutex_lock(&tr->lock);
	while (tr->nthreads > 0 && time_mono_ms() < deadline_ms) {
		struct timespec ts;
		time_deadline(&ts, CLOCK_REALTIME, 100);
		pthread_cond_timedwait(&tr->changed, &tr->lock, &ts);
	}
	long left = tr->nthreads;
	pthread_mutex_unlock(&tr->lock);
	return left;
}

struct trunks *trunks_free(struct trunks *tr)
{
	if (!tr)
		return NULL;
	pthread_cond_destroy(&tr->changed);
	pthread_mutex_destroy(&tr->lock);
	free(tr);
	return NULL;
}
