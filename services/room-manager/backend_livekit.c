/* ROOM_BACKEND=livekit: rooms, data and recordings through LiveKit's Twirp
 * API. Owns the LiveKit client and the recordings it started; called from
 * rooms.c's worker threads, several at once (the client is thread-safe, the
 * recordings table locks itself). */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livekit/livekit.h"
#include "recordings.h"

#define ROOM_SVC   "livekit.RoomService"
#define EGRESS_SVC "livekit.Egress"

struct lk_backend {
	const struct room_cfg *cfg;
	struct livekit *lk;
	struct rec_table *recs;
};

static int lk_new(void **stp, const struct room_cfg *cfg)
{
	struct lk_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return ENOMEM;
	b->cfg = cfg;
	int err = livekit_client_new(&b->lk, cfg->livekit_url, cfg->livekit_api_key,
				     cfg->livekit_api_secret);
	if (!err)
		err = rec_table_new(&b->recs);
	if (err) {
		livekit_client_free(b->lk);
		free(b);
		return err;
	}
	*stp = b;
	return 0;
}

int backend_livekit_new(void **stp, const struct room_cfg *cfg)
{
	return lk_new(stp, cfg);
}

static void lk_free(void *st)
{
	struct lk_backend *b = st;
	if (!b)
		return;
	livekit_client_free(b->lk);
	rec_table_free(b->recs);
	free(b);
}

static void lk_cancel(void *st)
{
	struct lk_backend *b = st;
	livekit_client_cancel(b->lk);
}

/* Runs one Twirp call; on failure fills *e (upstream_error). */
static int call(struct lk_backend *b, cJSON **respp, const char *svc, const char *method,
		const cJSON *req, const struct livekit_grants *g, struct cmd_error *e)
{
	struct livekit_error lke;
	cJSON *resp = NULL;
	int err =
		livekit_twirp(b->lk, &resp, svc, method, req, g, b->cfg->livekit_timeout_ms, &lke);
	if (err) {
		cmd_error_upstream(e, "livekit", method, err, lke.http_status, lke.code, lke.msg);
		return err;
	}
	if (respp)
		*respp = resp;
	else
		cJSON_Delete(resp);
	return 0;
}

static int oom(struct cmd_error *e)
{
	cmd_error_set(e, "internal", NULL, "out of memory");
	return ENOMEM;
}

/* Room metadata: what the agent and the browser may want to know. */
static char *room_metadata(const cJSON *req)
{
	cJSON *m = cJSON_CreateObject();
	const char *call_id = cmd_str(req, "call_id");
	const char *assistant_id = cmd_str(req, "assistant_id");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(req, "metadata");
	char *out = NULL;
	if (m && cJSON_AddStringToObject(m, "call_id", call_id) &&
	    (!assistant_id || cJSON_AddStringToObject(m, "assistant_id", assistant_id)) &&
	    (!cJSON_IsObject(meta) ||
	     cJSON_AddItemToObject(m, "metadata", cJSON_Duplicate(meta, true))))
		out = cJSON_PrintUnformatted(m);
	cJSON_Delete(m);
	return out;
}

static int lk_create(void *st, cJSON *out, const cJSON *req, struct cmd_error *e)
{
	struct lk_backend *b = st;
	const struct livekit_grants g = { .room_create = true };
	const char *room = cmd_str(req, "room");
	char *meta = room_metadata(req);
	cJSON *body = cJSON_CreateObject(), *resp = NULL;
	int err = 0;
	if (!meta || !body || !cJSON_AddStringToObject(body, "name", room) ||
	    !cJSON_AddNumberToObject(body, "empty_timeout",
				     (double)cmd_int(req, "empty_timeout_s",
						     b->cfg->room_empty_timeout_s)) ||
	    !cJSON_AddNumberToObject(body, "max_participants",
				     (double)cmd_int(req, "max_participants",
						     b->cfg->room_max_participants)) ||
	    !cJSON_AddStringToObject(body, "metadata", meta)) {
		err = oom(e);
		goto out;
	}
	err = call(b, &resp, ROOM_SVC, "CreateRoom", body, &g, e);
	if (err)
		goto out;
	const char *sid = cmd_str(resp, "sid");
	if (!cJSON_AddStringToObject(out, "room", room) ||
	    !cJSON_AddStringToObject(out, "backend", "livekit") ||
	    !cJSON_AddStringToObject(out, "url", livekit_client_ws_url(b->lk)) ||
	    (sid && !cJSON_AddStringToObject(out, "sid", sid)))
		err = oom(e);
out:
	free(meta);
	cJSON_Delete(body);
	cJSON_Delete(resp);
	return err;
}

static int lk_remove(void *st, const char *room, struct cmd_error *e)
{
	struct lk_backend *b = st;
	const struct livekit_grants g = { .room_create = true };
	cJSON *body = cJSON_CreateObject();
	int err = 0;
	if (!body || !cJSON_AddStringToObject(body, "room", room)) {
		err = oom(e);
		goto out;
	}
	err = call(b, NULL, ROOM_SVC, "DeleteRoom", body, &g, e);
	/* idempotent: a room that is already gone is deleted */
	if (err && e->has_upstream && strcmp(e->upstream.code, "not_found") == 0)
		err = 0;
out:
	cJSON_Delete(body);
	return err;
}

static int lk_send_data(void *st, const char *room, const char *topic, const char *payload,
			struct cmd_error *e)
{
	struct lk_backend *b = st;
	const struct livekit_grants g = { .room_admin = true, .room = room };
	cJSON *body = cJSON_CreateObject();
	int err = 0;
	/* bytes travel as base64 in protojson */
	char *b64 = livekit_base64(payload, strlen(payload));
	cJSON *data = b64 ? cJSON_CreateString(b64) : NULL;
	free(b64);
	if (!body || !data || !cJSON_AddStringToObject(body, "room", room) ||
	    !cJSON_AddItemToObject(body, "data", data) ||
	    !cJSON_AddStringToObject(body, "kind", "RELIABLE") ||
	    (topic && !cJSON_AddStringToObject(body, "topic", topic))) {
		if (!cJSON_GetObjectItemCaseSensitive(body, "data"))
			cJSON_Delete(data);
		err = oom(e);
		goto out;
	}
	err = call(b, NULL, ROOM_SVC, "SendData", body, &g, e);
out:
	cJSON_Delete(body);
	return err;
}

static int lk_token(void *st, cJSON *out, const cJSON *req, struct cmd_error *e)
{
	struct lk_backend *b = st;
	const char *room = cmd_str(req, "room");
	struct livekit_grants g = {
		.room = room,
		.room_join = true,
		.can_publish = cmd_bool(req, "can_publish", true),
		.can_subscribe = cmd_bool(req, "can_subscribe", true),
		.can_publish_data = cmd_bool(req, "can_publish_data", true),
	};
	char *jwt = NULL;
	int err = livekit_token_mint(&jwt, b->cfg->livekit_api_key, b->cfg->livekit_api_secret,
				     cmd_str(req, "identity"), cmd_str(req, "name"),
				     cmd_str(req, "metadata"), &g,
				     (int)cmd_int(req, "ttl_s", 3600));
	if (err) {
		cmd_error_set(e, err == EINVAL ? "invalid_field" : "internal", NULL,
			      "token: %s", cm_strerror(err));
		return err;
	}
	if (!cJSON_AddStringToObject(out, "token", jwt) ||
	    !cJSON_AddStringToObject(out, "url", livekit_client_ws_url(b->lk)))
		err = oom(e);
	free(jwt);
	return err;
}

/* file_outputs[0]: OGG (audio only) to S3 when a bucket is configured, else
 * to a path on the egress node. *pathp = where the file ends up. */
static cJSON *file_output(struct lk_backend *b, const char *call_id, char *path, size_t path_len)
{
	const struct room_cfg *c = b->cfg;
	char filepath[512];
	snprintf(filepath, sizeof(filepath), "%s%s-%lld.ogg", c->egress_file_prefix, call_id,
		 (long long)time_now_ms());
	cJSON *f = cJSON_CreateObject();
	bool ok = f && cJSON_AddStringToObject(f, "file_type", "OGG") &&
		  cJSON_AddStringToObject(f, "filepath", filepath);
	if (ok && c->egress_s3_bucket) {
		cJSON *s3 = cJSON_AddObjectToObject(f, "s3");
		ok = s3 && cJSON_AddStringToObject(s3, "bucket", c->egress_s3_bucket) &&
		     (!c->egress_s3_region ||
		      cJSON_AddStringToObject(s3, "region", c->egress_s3_region)) &&
		     (!c->egress_s3_endpoint ||
		      cJSON_AddStringToObject(s3, "endpoint", c->egress_s3_endpoint)) &&
		     (!c->egress_s3_access_key ||
		      cJSON_AddStringToObject(s3, "access_key", c->egress_s3_access_key)) &&
		     (!c->egress_s3_secret ||
		      cJSON_AddStringToObject(s3, "secret", c->egress_s3_secret)) &&
		     cJSON_AddBoolToObject(s3, "force_path_style", c->egress_s3_force_path_style);
		snprintf(path, path_len, "s3://%s/%s", c->egress_s3_bucket, filepath);
	} else {
		snprintf(path, path_len, "%s", filepath);
	}
	if (!ok) {
		cJSON_Delete(f);
		return NULL;
	}
	return f;
}

static int lk_rec_start(void *st, cJSON *out, const char *call_id, const char *room,
			struct cmd_error *e)
{
	struct lk_backend *b = st;
	const struct livekit_grants g = { .room_record = true };
	char path[640];
	cJSON *body = cJSON_CreateObject(), *resp = NULL;
	cJSON *outputs = cJSON_AddArrayToObject(body, "file_outputs");
	cJSON *file = file_output(b, call_id, path, sizeof(path));
	int err = 0;
	if (!outputs || !file || !cJSON_AddItemToArray(outputs, file)) {
		cJSON_Delete(file);
		err = oom(e);
		goto out;
	}
	if (!cJSON_AddStringToObject(body, "room_name", room) ||
	    !cJSON_AddTrueToObject(body, "audio_only")) {
		err = oom(e);
		goto out;
	}
	err = call(b, &resp, EGRESS_SVC, "StartRoomCompositeEgress", body, &g, e);
	if (err)
		goto out;
	const char *egress_id = cmd_str(resp, "egress_id");
	if (!egress_id || !*egress_id) {
		cmd_error_set(e, "upstream_error", NULL,
			      "livekit StartRoomCompositeEgress: no egress_id");
		err = EIO;
		goto out;
	}
	if (rec_table_put(b->recs, call_id, egress_id, path))
		log_warn("recording_not_remembered", "call_id=%s egress_id=%s", call_id, egress_id);
	if (!cJSON_AddStringToObject(out, "recording_id", egress_id) ||
	    !cJSON_AddStringToObject(out, "path", path))
		err = oom(e);
out:
	cJSON_Delete(body);
	cJSON_Delete(resp);
	return err;
}

static int lk_rec_stop(void *st, cJSON *out, const char *call_id, const char *room,
		       const char *recording_id, struct cmd_error *e)
{
	struct lk_backend *b = st;
	const struct livekit_grants g = { .room_record = true };
	char rec_id[128] = "", path[640] = "";
	cJSON *body = NULL;
	(void)room;
	if (rec_table_get(b->recs, call_id, recording_id, rec_id, sizeof(rec_id), path,
			  sizeof(path), false)) {
		if (!recording_id) {
			cmd_error_set(e, "not_found", "recording_id",
				      "no recording of call %s known here; pass recording_id",
				      call_id);
			return ENOENT;
		}
		snprintf(rec_id, sizeof(rec_id), "%s", recording_id);
	}
	body = cJSON_CreateObject();
	int err = 0;
	if (!body || !cJSON_AddStringToObject(body, "egress_id", rec_id)) {
		err = oom(e);
		goto out;
	}
	cJSON *resp = NULL;
	err = call(b, &resp, EGRESS_SVC, "StopEgress", body, &g, e);
	if (err) {
		if (e->has_upstream && strcmp(e->upstream.code, "not_found") == 0) {
			char msg[sizeof(e->message)];
			snprintf(msg, sizeof(msg), "%s", e->message);
			struct cmd_upstream up = e->upstream;
			cmd_error_set(e, "not_found", "recording_id", "%s", msg);
			e->upstream = up;
			e->has_upstream = true;
		}
		goto out;
	}
	if (!path[0]) {
		/* not started here: take the file name LiveKit reports */
		const cJSON *files = cJSON_GetObjectItemCaseSensitive(resp, "file_results");
		const char *fn = cmd_str(cJSON_GetArrayItem(files, 0), "filename");
		snprintf(path, sizeof(path), "%s", fn ? fn : "");
	}
	cJSON_Delete(resp);
	char scratch_id[128], scratch_path[8];
	if (rec_table_get(b->recs, call_id, rec_id, scratch_id, sizeof(scratch_id), scratch_path,
			  sizeof(scratch_path), true) == 0)
		log_debug("recording_forgotten", "egress_id=%s", scratch_id);
	if (!cJSON_AddStringToObject(out, "recording_id", rec_id) ||
	    !cJSON_AddStringToObject(out, "path", path))
		err = oom(e);
out:
	cJSON_Delete(body);
	return err;
}

const struct room_backend backend_livekit = {
	.name = "livekit",
	.create = lk_create,
	.remove = lk_remove,
	.send_data = lk_send_data,
	.token = lk_token,
	.rec_start = lk_rec_start,
	.rec_stop = lk_rec_stop,
	.cancel = lk_cancel,
	.free = lk_free,
};
