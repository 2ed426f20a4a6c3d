/* sip.trunks.create: a Twilio trunk given as address/username/password
 * becomes a LiveKit outbound trunk (SIP/CreateSIPOutboundTrunk, sip.admin).
 *
 *   {"v":1,"name":"Twilio US","address":"example.pstn.twilio.com",
 *    "numbers":["+15550100000"],"username":"…","password":"…"}
 *   → {"ok":true,"data":{"sip_trunk_id":"ST_…"}}
 *
 * Served from a thread of its own per request (the LiveKit call may take up
 * to LIVEKIT_TIMEOUT_MS); the password is never logged. */
#include "dialer_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUMBERS_MAX 100

static const struct cmd_field trunk_fields[] = {
	{ "name", CMD_STR, false, 0, 128 },
	{ "address", CMD_STR, true, 1, 253 },
	{ "username", CMD_STR, false, 0, 128 },
	{ "password", CMD_STR, false, 0, 256 },
	{ 0 }
};

struct trunk_req {
	struct dialer *d;
	char *reply;
	char *data;
	size_t len;
};

static bool e164(const char *n)
{
	size_t len = strlen(n);
	if (len < 8 || len > E164_MAX || n[0] != '+' || n[1] < '1' || n[1] > '9')
		return false;
	for (size_t i = 1; i < len; i++)
		if (n[i] < '0' || n[i] > '9')
			return false;
	return true;
}

static void serve(struct trunk_req *t)
{
	struct dialer *d = t->d;
	struct cmd_error e = { 0 };
	struct livekit_error lke;
	const char *numbers[NUMBERS_MAX + 1] = { 0 };
	cJSON *req = NULL, *out = NULL;
	char *trunk_id = NULL;
	int err = cmd_parse(&req, t->data, t->len, trunk_fields, &e);
	if (err)
		goto out;
	const cJSON *nums = cJSON_GetObjectItemCaseSensitive(req, "numbers");
	int n = cJSON_GetArraySize(nums);
	if (!cJSON_IsArray(nums) || n < 1 || n > NUMBERS_MAX) {
		cmd_error_set(&e, "invalid_field", "numbers", "numbers: 1..%d E.164 numbers",
			      NUMBERS_MAX);
		err = EINVAL;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetArrayItem(nums, i);
		if (!cJSON_IsString(v) || !e164(v->valuestring)) {
			cmd_error_set(&e, "invalid_field", "numbers", "numbers[%d]: not an E.164 number", i);
			err = EINVAL;
			goto out;
		}
		numbers[i] = v->valuestring;
	}
	if (!d->lk) {
		cmd_error_set(&e, "unavailable", NULL, "LIVEKIT_URL is not configured");
		err = EAGAIN;
		goto out;
	}
	err = livekit_sip_outbound_trunk_create(d->lk, &trunk_id, cmd_str(req, "name"),
						cmd_str(req, "address"), numbers,
						cmd_str(req, "username"), cmd_str(req, "password"),
						d->cfg->livekit_timeout_ms, &lke);
	if (err) {
		cmd_error_upstream(&e, "livekit", "CreateSIPOutboundTrunk", err, lke.http_status, lke.code,
				   lke.msg);
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
		cmd_reply_error(d->bus, t->reply, &e);
		cJSON_Delete(out);
	} else {
		cmd_reply_ok(d->bus, t->reply, out);
	}
	free(trunk_id);
	cJSON_Delete(req);
}

static void *trunk_thread(void *arg)
{
	struct trunk_req *t = arg;
	struct dialer *d = t->d;
	serve(t);
	free(t->reply);
	free(t->data);
	free(t);
	pthread_mutex_lock(&d->lock);
	d->nthreads--;
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

void trunks_on_create(const struct bus_msg *msg, void *arg)
{
	struct dialer *d = arg;
	struct trunk_req *t = calloc(1, sizeof(*t));
	struct cmd_error e;
	if (t) {
		t->d = d;
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
	pthread_mutex_lock(&d->lock);
	bool stopping = d->stopping;
	if (!stopping)
		d->nthreads++;
	pthread_mutex_unlock(&d->lock);
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
	pthread_mutex_lock(&d->lock);
	d->nthreads--;
	pthread_mutex_unlock(&d->lock);
	cmd_error_set(&e, "unavailable", NULL, "no thread for the request");
fail:
	cmd_reply_error(d->bus, msg->reply, &e);
	if (t) {
		free(t->reply);
		free(t->data);
		free(t);
	}
}
