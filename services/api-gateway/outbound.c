/* POST /call/outbound. Everything that can be refused is refused before a
 * row exists; once the call is `queued`, every later failure marks it
 * `failed` with the step in end_reason (launch_fail). */
#include "outbound.h"

#include "assistants.h"
#include "capacity.h"
#include "launch.h"
#include "secret/secret.h"
#include "trunks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING_TIMEOUT_S 60
#define MAX_DURATION_S 3600

const struct cmd_rule outbound_rules[] = {
	{ "assistant_id", CMD_UUID, true, 0, 0, false, NULL, NULL },
	{ "trunk_id", CMD_UUID, true, 0, 0, false, NULL, NULL },
	{ "to_number", CMD_E164, true, 0, 0, false, NULL, NULL },
	{ "call_service", CMD_ENUM, true, 0, 0, false, "twilio|exotel", NULL },
	{ "from_number", CMD_E164, false, 0, 0, false, NULL, NULL },
	{ "metadata", CMD_OBJ, false, 0, CMD_KEYS_MAX, true, NULL, NULL },
	{ 0 },
};

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool copy_item(cJSON *to, const cJSON *from, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);
	if (!v)
		return true;
	cJSON *dup = cJSON_Duplicate(v, true);
	if (dup && cJSON_AddItemToObject(to, name, dup))
		return true;
	cJSON_Delete(dup);
	return false;
}

/* The trunk part of the dial job (proto/COMMANDS.md). The password goes
 * only to the bridge that dials with it (exotel), sealed for this call
 * ("call:<call_id>"): the job sits in JetStream's store, the password never
 * does in clear. Twilio jobs name a LiveKit trunk and carry no password. */
static cJSON *dial_trunk(const cJSON *trunk, const struct secret_keys *sk, const char *call_id)
{
	static const char *const exotel[] = { "sip_host", "sip_port", "transport", "sip_domain",
					      "username" };
	static const char *const twilio[] = { "livekit_sip_trunk_id", "krisp_enabled", "address",
					      "username" };
	const char *provider = jstr(trunk, "provider");
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(trunk, "config");
	const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(trunk, "secrets");
	bool is_exotel = provider && strcmp(provider, "exotel") == 0;
	const char *const *keys = is_exotel ? exotel : twilio;
	size_t nkeys = is_exotel ? CM_ARRAY_LEN(exotel) : CM_ARRAY_LEN(twilio);
	cJSON *t = cJSON_CreateObject();
	bool ok = t && cJSON_AddStringToObject(t, "trunk_id", jstr(trunk, "trunk_id")) &&
		  cJSON_AddStringToObject(t, "provider", provider);
	for (size_t i = 0; ok && i < nkeys; i++)
		ok = copy_item(t, config, keys[i]);
	const char *pw = jstr(secrets, "password");
	if (ok && is_exotel && pw) {
		char aad[16 + ID_UUID_LEN], *sealed = NULL;
		snprintf(aad, sizeof(aad), "call:%s", call_id);
		ok = secret_seal(&sealed, sk, aad, pw, strlen(pw)) == 0 &&
		     cJSON_AddStringToObject(t, "password_sealed", sealed);
		free(sealed);
	}
	if (!ok) {
		cJSON_Delete(t);
		return NULL;
	}
	return t;
}

/* Serialised dial job; caller wipes and frees (it carries the password).
 * A dialer drops a job it takes after l->dial_by, the row's. */
static char *dial_job(const struct launch *l, const cJSON *trunk, const cJSON *snapshot,
		      const struct secret_keys *keys)
{
	char now[TIME_ISO_LEN + 1], identity[64], *out = NULL;
	long max_s = MAX_DURATION_S;
	const cJSON *ic = cJSON_GetObjectItemCaseSensitive(snapshot, "interaction_config");
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(ic, "max_duration_s");
	if (cJSON_IsNumber(md))
		max_s = (long)md->valuedouble;
	time_iso8601(now, time_now_ms());
	snprintf(identity, sizeof(identity), "sip-%s", l->call_id);
	cJSON *job = cJSON_CreateObject(), *t = dial_trunk(trunk, keys, l->call_id);
	bool ok = job && t && cJSON_AddNumberToObject(job, "v", 1) &&
		  cJSON_AddStringToObject(job, "call_id", l->call_id) &&
		  cJSON_AddStringToObject(job, "room", l->room) &&
		  cJSON_AddStringToObject(job, "to_number", l->to_number) &&
		  cJSON_AddStringToObject(job, "from_number", l->from_number) &&
		  cJSON_AddNumberToObject(job, "ring_timeout_s", RING_TIMEOUT_S) &&
		  cJSON_AddNumberToObject(job, "max_duration_s", (double)max_s) &&
		  cJSON_AddStringToObject(job, "created_at", now) &&
		  cJSON_AddStringToObject(job, "dial_by", l->dial_by) &&
		  (strcmp(l->provider, "twilio") != 0 ||
		   cJSON_AddStringToObject(job, "participant_identity", identity));
	if (ok && cJSON_AddItemToObject(job, "trunk", t)) {
		t = NULL;
		out = cJSON_PrintUnformatted(job);
	}
	cJSON_Delete(t);
	cJSON_Delete(job);
	return out;
}

static void wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

/* The active assistant and trunk of a call in one round trip: a row
 * whichever exists, each side null when it does not. */
static int refs_select(struct db *db, const struct secret_keys *keys, const char *assistant_id,
		       const char *trunk_id, cJSON **ap, cJSON **tp, bool *trunk_missingp)
{
	struct db_result *res = NULL;
	const char *params[] = { assistant_id, trunk_id };
	*trunk_missingp = false;
	int err = db_exec(db, &res,
			  "SELECT" ASSISTANTS_SELECT_COLS "," TRUNKS_DIAL_COLS
			  " FROM (SELECT 1) one"
			  " LEFT JOIN assistants a ON a.id = $1 AND a.active"
			  " LEFT JOIN trunks t ON t.id = $2 AND t.active",
			  2, params);
	if (!err)
		err = assistants_from_row(ap, res, 0);
	if (!err) {
		err = trunks_dial_from_row(tp, res, 0, keys);
		*trunk_missingp = err == ENOENT;
		if (err)
			*ap = (cJSON_Delete(*ap), NULL);
	}
	db_result_free(res);
	return err;
}

/* Checks that need the database; replies and returns false on a refusal.
 * On success *assistantp and *trunkp are the caller's. */
static bool load_refs(struct api *api, struct httpd_req *req, struct db *db, const cJSON *body,
		      cJSON **assistantp, cJSON **trunkp, const char **fromp)
{
	cJSON *a = NULL, *t = NULL;
	bool trunk_missing = false;
	int err = refs_select(db, api->keys, jstr(body, "assistant_id"), jstr(body, "trunk_id"), &a,
			      &t, &trunk_missing);
	if (err == ENOENT && !trunk_missing) {
		httpd_reply_error(req, 404, "not_found", "assistant_id",
				  "No assistant has this assistant_id (it may have been deleted).");
		goto refuse;
	}
	if (err == ENOENT) {
		httpd_reply_error(req, 404, "not_found", "trunk_id",
				  "No trunk has this trunk_id (it may have been deleted).");
		goto refuse;
	}
	if (err == EBADMSG) {
		httpd_reply_error(req, 500, "trunk_secret_unreadable", "trunk_id",
				  "The trunk's password does not open with SECRETS_KEY or "
				  "SECRETS_KEY_PREVIOUS; set trunk_config.password again.");
		goto refuse;
	}
	if (err) {
		api_reply_db_error(req, err);
		goto refuse;
	}
	const char *service = jstr(body, "call_service"), *provider = jstr(t, "provider");
	if (!provider || strcmp(service, provider) != 0) {
		char msg[192];
		snprintf(msg, sizeof(msg),
			 "call_service is %s, but the trunk is a %s trunk; "
			 "use a %s trunk or call_service %s.",
			 service, provider ? provider : "unknown", service,
			 provider ? provider : "of the trunk's kind");
		httpd_reply_error(req, 400, "provider_mismatch", "call_service", msg);
		goto refuse;
	}
	const cJSON *numbers = cJSON_GetObjectItemCaseSensitive(t, "numbers");
	const char *from = jstr(body, "from_number");
	if (!from) {
		const cJSON *first = cJSON_GetArrayItem(numbers, 0);
		if (!cJSON_IsString(first)) {
			httpd_reply_error(req, 400, "invalid_field", "trunk_id",
					  "The trunk has no numbers to call from; add one to its "
					  "trunk_config.numbers.");
			goto refuse;
		}
		from = first->valuestring;
	} else {
		const cJSON *n = numbers ? numbers->child : NULL;
		while (n && !(cJSON_IsString(n) && strcmp(n->valuestring, from) == 0))
			n = n->next;
		if (!n) {
			httpd_reply_error(req, 400, "number_not_on_trunk", "from_number",
					  "from_number is not one of the trunk's numbers; use one "
					  "of them or leave from_number out.");
			goto refuse;
		}
	}
	*fromp = from;
	*assistantp = a;
	*trunkp = t;
	return true;
refuse:
	cJSON_Delete(a);
	trunks_wipe(t);
	return false;
}

static cJSON *accepted(const struct launch *l)
{
	cJSON *d = cJSON_CreateObject();
	if (d && (!cJSON_AddStringToObject(d, "call_id", l->call_id) ||
		  !cJSON_AddStringToObject(d, "room_name", l->room) ||
		  !cJSON_AddStringToObject(d, "status", "queued")))
		d = (cJSON_Delete(d), NULL);
	return d;
}

/* 503 at_capacity while every live worker that would dial the call is at
 * its MAX_CALLS (capacity.h); false then. */
static bool has_room(struct api *api, struct httpd_req *req, const char *service)
{
	const char *kind = strcmp(service, "exotel") == 0 ? "sip-bridge" : "twilio-dialer";
	long calls = 0, max = 0;
	if (!api->capacity || !capacity_full(api->capacity, kind, time_mono_ms(), &calls, &max))
		return true;
	char msg[256];
	snprintf(msg, sizeof(msg),
		 "Every %s is at its MAX_CALLS (%ld calls of %ld); nothing was stored. "
		 "Retry when a call ends, or run more %s instances.",
		 kind, calls, max, kind);
	httpd_reply_error(req, 503, "at_capacity", NULL, msg);
	return false;
}

void outbound_call(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	struct cmd_field_error ve;
	struct launch l = { 0 };
	struct cmd_error ce;
	cJSON *assistant = NULL, *trunk = NULL, *snap = NULL;
	char *job = NULL, *url = NULL, msg_id[64], subject[32];
	struct db *db = NULL;
	int err;

	const cJSON *body = api_body(req);
	if (!body)
		return;
	if (cmd_check_object(body, outbound_rules, false, NULL, &ve)) {
		api_reply_field_error(req, &ve);
		return;
	}
	if (!has_room(api, req, jstr(body, "call_service")))
		return;
	db = api_db_get(api, req);
	if (!db)
		return;
	if (!load_refs(api, req, db, body, &assistant, &trunk, &l.from_number))
		goto out;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
	l.kind = "outbound";
	l.provider = jstr(trunk, "provider");
	l.trunk_id = jstr(trunk, "trunk_id");
	l.to_number = jstr(body, "to_number");
	/* from the moment it is queued: the row and the job say the same */
	time_iso8601(l.dial_by, time_now_ms() + 1000LL * api->dial_queue_timeout_s);
	l.metadata = cJSON_IsObject(meta) ? meta : NULL;
	l.assistant = assistant;
	if (launch_start(api, db, req, &l, &snap, &url))
		goto out;
	err = launch_dispatch(api, &l, snap, true, &ce);
	if (err) {
		launch_fail_cmd(api, db, req, &l, true, "agent", err, &ce);
		goto out;
	}
	job = dial_job(&l, trunk, snap, api->keys);
	snprintf(msg_id, sizeof(msg_id), "dial-%s", l.call_id);
	snprintf(subject, sizeof(subject), "dial.%s", l.provider);
	err = job ? bus_js_publish(api->bus, subject, msg_id, job, strlen(job), API_JS_TIMEOUT_MS)
		  : ENOMEM;
	if (err == ETIMEDOUT) /* maybe stored: the same msg id is stored at most once */
		err = bus_js_publish(api->bus, subject, msg_id, job, strlen(job),
				     API_JS_TIMEOUT_MS);
	if (err) {
		launch_fail(api, db, req, &l, true, 503, "nats_unavailable", "dial_enqueue_failed",
			    "The call failed: its dial job could not be queued on the message bus "
			    "(NATS JetStream); retry when it is back.");
		goto out;
	}
	metric_add(api->m_outbound, 1);
	log_info("call_queued", "call %s outbound via %s trunk %s", l.call_id, l.provider,
		 l.trunk_id);
	httpd_reply_ok(req, 202, "call queued", accepted(&l));
out:
	api_db_put(api, db);
	wipe_free(job);
	free(url);
	cJSON_Delete(snap);
	trunks_wipe(trunk);
	cJSON_Delete(assistant);
}
