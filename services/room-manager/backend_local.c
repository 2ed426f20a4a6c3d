/* ROOM_BACKEND=local: the embedded backend's room registry and recordings.
 * The audio forwarder (rooms.join, DESIGN §3) builds on this registry. */
#include "room.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOCAL_ROOMS_MAX 4096

struct local_room {
	char name[EVENT_ROOM_MAX + 1];
	char call_id[ID_UUID_LEN + 1];
	int64_t created_ms;
	long empty_timeout_s;
	long max_participants;
};

struct local_backend {
	const struct room_cfg *cfg;
	pthread_mutex_t lock;
	struct local_room *rooms; /* unordered; removal swaps in the last */
	size_t count;
	struct rec_table *recs;
};

int backend_local_new(void **stp, const struct room_cfg *cfg)
{
	struct local_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return ENOMEM;
	b->rooms = calloc(LOCAL_ROOMS_MAX, sizeof(*b->rooms));
	if (!b->rooms || rec_table_new(&b->recs)) {
		free(b->rooms);
		free(b);
		return ENOMEM;
	}
	pthread_mutex_init(&b->lock, NULL);
	b->cfg = cfg;
	if (mkdir(cfg->recordings_dir, 0755) != 0 && errno != EEXIST)
		log_warn("recordings_dir", "%s: cannot create: %s", cfg->recordings_dir, strerror(errno));
	*stp = b;
	return 0;
}

static void local_free(void *st)
{
	struct local_backend *b = st;
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	rec_table_free(b->recs);
	free(b->rooms);
	free(b);
}

/* Index of `name`, or -1. Called with the lock held. */
static long find(const struct local_backend *b, const char *name)
{
	for (size_t i = 0; i < b->count; i++)
		if (strcmp(b->rooms[i].name, name) == 0)
			return (long)i;
	return -1;
}

static bool exists(struct local_backend *b, const char *name)
{
	pthread_mutex_lock(&b->lock);
	bool found = find(b, name) >= 0;
	pthread_mutex_unlock(&b->lock);
	return found;
}

static void room_url(char *buf, size_t len, const char *room)
{
	snprintf(buf, len, "local://room-manager/%s", room);
}

static int local_create(void *st, cJSON *out, const cJSON *req, struct cmd_error *e)
{
	struct local_backend *b = st;
	const char *room = cmd_str(req, "room");
	const char *call_id = cmd_str(req, "call_id");
	char url[256];
	int err = 0;
	pthread_mutex_lock(&b->lock);
	long i = find(b, room);
	if (i >= 0 && strcmp(b->rooms[i].call_id, call_id) != 0) {
		cmd_error_set(e, "conflict", "room", "room %s belongs to another call", room);
		err = EEXIST;
	} else if (i < 0 && b->count == LOCAL_ROOMS_MAX) {
		cmd_error_set(e, "unavailable", NULL, "%d rooms open: no room for more", LOCAL_ROOMS_MAX);
		err = EAGAIN;
	} else if (i < 0) {
		struct local_room *r = &b->rooms[b->count++];
		snprintf(r->name, sizeof(r->name), "%s", room);
		snprintf(r->call_id, sizeof(r->call_id), "%s", call_id);
		r->created_ms = time_now_ms();
		r->empty_timeout_s = cmd_int(req, "empty_timeout_s", b->cfg->room_empty_timeout_s);
		r->max_participants = cmd_int(req, "max_participants", b->cfg->room_max_participants);
		log_info("room_created", "room=%s call_id=%s backend=local", room, call_id);
	}
	pthread_mutex_unlock(&b->lock);
	if (err)
		return err;
	room_url(url, sizeof(url), room);
	if (!cJSON_AddStringToObject(out, "room", room) ||
	    !cJSON_AddStringToObject(out, "backend", "local") ||
	    !cJSON_AddStringToObject(out, "url", url)) {
		cmd_error_set(e, "internal", NULL, "out of memory");
		return ENOMEM;
	}
	return 0;
}

static int local_remove(void *st, const char *room, struct cmd_error *e)
{
	struct local_backend *b = st;
	(void)e;
	pthread_mutex_lock(&b->lock);
	long i = find(b, room);
	if (i >= 0) {
		b->rooms[i] = b->rooms[b->count - 1];
		b->count--;
		log_info("room_deleted", "room=%s backend=local", room);
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int local_send_data(void *st, const char *room, const char *topic, const char *payload,
			   struct cmd_error *e)
{
	struct local_backend *b = st;
	if (!exists(b, room)) {
		cmd_error_set(e, "not_found", "room", "room %s does not exist", room);
		return ENOENT;
	}
	/* local participants are bridge and agent, which read events from NATS
	 * themselves; there is no browser to deliver data to */
	log_debug("room_data", "room=%s topic=%s bytes=%zu", room, topic ? topic : "",
		  strlen(payload));
	return 0;
}

static int local_token(void *st, cJSON *out, const cJSON *req, struct cmd_error *e)
{
	(void)st, (void)out, (void)req;
	cmd_error_set(e, "unavailable", NULL,
		      "the local room backend has no participant tokens; join with rooms.join");
	return EAGAIN;
}

static int local_rec_start(void *st, cJSON *out, const char *call_id, const char *room,
			   struct cmd_error *e)
{
	struct local_backend *b = st;
	char rec_id[64], path[640], uuid[ID_UUID_LEN + 1];
	if (!exists(b, room)) {
		cmd_error_set(e, "not_found", "room", "room %s does not exist", room);
		return ENOENT;
	}
	if (id_uuid4(uuid)) {
		cmd_error_set(e, "internal", NULL, "no random id");
		return EIO;
	}
	snprintf(rec_id, sizeof(rec_id), "rec-%s", uuid);
	snprintf(path, sizeof(path), "%s/%s.ogg", b->cfg->recordings_dir, call_id);
	if (rec_table_put(b->recs, call_id, rec_id, path)) {
		cmd_error_set(e, "internal", NULL, "recording path too long");
		return EINVAL;
	}
	if (!cJSON_AddStringToObject(out, "recording_id", rec_id) ||
	    !cJSON_AddStringToObject(out, "path", path)) {
		cmd_error_set(e, "internal", NULL, "out of memory");
		return ENOMEM;
	}
	return 0;
}

static int local_rec_stop(void *st, cJSON *out, const char *call_id, const char *room,
			  const char *recording_id, struct cmd_error *e)
{
	struct local_backend *b = st;
	char rec_id[128], path[640];
	(void)room;
	if (rec_table_get(b->recs, call_id, recording_id, rec_id, sizeof(rec_id), path,
			  sizeof(path), true)) {
		cmd_error_set(e, "not_found", recording_id ? "recording_id" : "call_id",
			      "no recording in progress for call %s", call_id);
		return ENOENT;
	}
	if (!cJSON_AddStringToObject(out, "recording_id", rec_id) ||
	    !cJSON_AddStringToObject(out, "path", path)) {
		cmd_error_set(e, "internal", NULL, "out of memory");
		return ENOMEM;
	}
	return 0;
}

const struct room_backend backend_local = {
	.name = "local",
	.create = local_create,
	.remove = local_remove,
	.send_data = local_send_data,
	.token = local_token,
	.rec_start = local_rec_start,
	.rec_stop = local_rec_stop,
	.cancel = NULL,
	.free = local_free,
};
