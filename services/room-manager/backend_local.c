/* ROOM_BACKEND=local: the embedded backend's room registry, members
 * (rooms.join / rooms.leave) and recordings. The audio itself goes through
 * the forwarder thread (forwarder.c); the registry lock is held while an
 * operation is handed to it, so the forwarder sees joins, deletions and
 * recordings in the order the registry accepted them.
 *
 * Owns the registry (under its lock), the forwarder and the browser members
 * (webmember.c); called from rooms.c's worker threads, several at once. The
 * browser members ask whether a room is open through a callback. */
#include "backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "forwarder.h"
#include "recordings.h"
#include "webmember.h"

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
	struct fwd *fwd;
	struct webmembers *web;   /* NULL when ROOM_WS_ADDR could not be served */
	int web_err;
};

static bool exists(struct local_backend *b, const char *name);

static bool web_room_open(const char *room, void *arg)
{
	return exists(arg, room);
}

int backend_local_new(void **stp, const struct room_cfg *cfg, struct bus *bus, const char *source)
{
	struct local_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return ENOMEM;
	b->rooms = calloc(LOCAL_ROOMS_MAX, sizeof(*b->rooms));
	if (!b->rooms || rec_table_new(&b->recs)) {
		rec_table_free(b->recs);
		free(b->rooms);
		free(b);
		return ENOMEM;
	}
	struct fwd_cfg fc = { (uint16_t)cfg->rtp_port_min, (uint16_t)cfg->rtp_port_max, bus,
			      source };
	int err = fwd_new(&b->fwd, &fc);
	if (err) {
		rec_table_free(b->recs);
		free(b->rooms);
		free(b);
		return err;
	}
	pthread_mutex_init(&b->lock, NULL);
	b->cfg = cfg;
	struct webmember_cfg wc = {
		.addr = cfg->ws_addr, .url = cfg->ws_url, .secret = cfg->token_secret, .bus = bus,
		.room_open = web_room_open, .arg = b,
	};
	/* RTP members do not need the WebSocket: a taken address (another
	 * room-manager on this machine) leaves browsers out, and rooms.token
	 * says so */
	b->web_err = webmembers_new(&b->web, &wc);
	if (b->web_err)
		log_error("web_members_off",
			  "ROOM_WS_ADDR=%s: %s: browsers cannot join local rooms", cfg->ws_addr,
			  cm_strerror(b->web_err));
	if (mkdir(cfg->recordings_dir, 0755) != 0 && errno != EEXIST)
		log_warn("recordings_dir", "%s: cannot create: %s", cfg->recordings_dir,
			 strerror(errno));
	*stp = b;
	return 0;
}

static void local_free(void *st)
{
	struct local_backend *b = st;
	if (!b)
		return;
	/* browsers leave through the forwarder, so they go first */
	b->web = webmembers_free(b->web);
	b->fwd = fwd_free(b->fwd);
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
		cmd_error_set(e, "unavailable", NULL, "%d rooms open: no room for more",
			      LOCAL_ROOMS_MAX);
		err = EAGAIN;
	} else if (i < 0) {
		struct local_room *r = &b->rooms[b->count++];
		snprintf(r->name, sizeof(r->name), "%s", room);
		snprintf(r->call_id, sizeof(r->call_id), "%s", call_id);
		r->created_ms = time_now_ms();
		r->empty_timeout_s = cmd_int(req, "empty_timeout_s", b->cfg->room_empty_timeout_s);
		r->max_participants =
			cmd_int(req, "max_participants", b->cfg->room_max_participants);
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
		fwd_room_delete(b->fwd, room);
		webmembers_room_closed(b->web, room);
		log_info("room_deleted", "room=%s backend=local", room);
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

/* "a.b.c.d:port" on the loopback network: the relay sockets are bound to
 * 127.0.0.1 and can reach nothing else. */
static int parse_rtp_addr(struct sockaddr_in *sa, const char *s)
{
	struct hostport hp;
	if (addr_parse(&hp, s, 0))
		return EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(hp.port);
	if (inet_pton(AF_INET, hp.host, &sa->sin_addr) != 1 ||
	    (ntohl(sa->sin_addr.s_addr) >> 24) != 127)
		return EINVAL;
	return 0;
}

static int local_join(void *st, cJSON *out, const cJSON *req, struct cmd_error *e)
{
	struct local_backend *b = st;
	const char *room = cmd_str(req, "room");
	const char *identity = cmd_str(req, "identity");
	struct sockaddr_in addr;
	struct fwd_member m = { 0 };
	int err = 0;
	if (parse_rtp_addr(&addr, cmd_str(req, "rtp_addr"))) {
		cmd_error_set(e, "invalid_field", "rtp_addr", "rtp_addr: must be 127.x.x.x:port");
		return EINVAL;
	}
	pthread_mutex_lock(&b->lock);
	long i = find(b, room);
	if (i < 0) {
		cmd_error_set(e, "not_found", "room", "room %s does not exist", room);
		err = ENOENT;
	} else {
		err = fwd_join(b->fwd, &m, room, b->rooms[i].call_id, identity, &addr,
			       b->rooms[i].max_participants);
		if (err == ENOSPC)
			cmd_error_set(e, "unavailable", NULL,
				      "room %s is full or no relay port is free", room);
		else if (err)
			cmd_error_set(e, "internal", NULL, "join: %s", cm_strerror(err));
	}
	pthread_mutex_unlock(&b->lock);
	if (err)
		return err == ENOSPC ? EAGAIN : err;
	if (!cJSON_AddStringToObject(out, "relay_addr", m.relay_addr) ||
	    !cJSON_AddNumberToObject(out, "ssrc", m.ssrc)) {
		cmd_error_set(e, "internal", NULL, "out of memory");
		return ENOMEM;
	}
	return 0;
}

/* Idempotent, like rooms.delete: leaving twice or a deleted room is fine. */
static int local_leave(void *st, const char *room, const char *identity, struct cmd_error *e)
{
	struct local_backend *b = st;
	(void)e;
	pthread_mutex_lock(&b->lock);
	if (fwd_leave(b->fwd, room, identity) == 0)
		log_debug("room_leave", "room=%s identity=%s", room, identity);
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
	 * themselves; browser members get audio and member events only */
	log_debug("room_data", "room=%s topic=%s bytes=%zu", room, topic ? topic : "",
		  strlen(payload));
	return 0;
}

/* A browser member's token: {token, url} of the WebSocket (webmember.c). */
static int local_token(void *st, cJSON *out, const cJSON *req, struct cmd_error *e)
{
	struct local_backend *b = st;
	const char *room = cmd_str(req, "room");
	char *jwt = NULL;
	if (!b->web) {
		cmd_error_set(e, "unavailable", NULL,
			      "browser members are off: ROOM_WS_ADDR %s: %s", b->cfg->ws_addr,
			      cm_strerror(b->web_err));
		return EAGAIN;
	}
	if (!exists(b, room)) {
		cmd_error_set(e, "not_found", "room", "room %s does not exist", room);
		return ENOENT;
	}
	int err = webmembers_token(b->web, &jwt, room, cmd_str(req, "identity"),
				   cmd_str(req, "name"), cmd_str(req, "metadata"),
				   cmd_bool(req, "can_publish", true),
				   cmd_bool(req, "can_subscribe", true), cmd_int(req, "ttl_s", 0));
	if (err) {
		cmd_error_set(e, err == EINVAL ? "invalid_field" : "internal",
			      err == EINVAL ? "identity" : NULL, "token: %s", cm_strerror(err));
		return err;
	}
	if (!cJSON_AddStringToObject(out, "token", jwt) ||
	    !cJSON_AddStringToObject(out, "url", webmembers_url(b->web))) {
		cmd_error_set(e, "internal", NULL, "out of memory");
		err = ENOMEM;
	}
	free(jwt);
	return err;
}

static int local_rec_start(void *st, cJSON *out, const char *call_id, const char *room,
			   struct cmd_error *e)
{
	struct local_backend *b = st;
	char rec_id[REC_ID_MAX + 1], path[REC_PATH_MAX + 1], uuid[ID_UUID_LEN + 1];
	int err = 0;
	if (id_uuid4(uuid)) {
		cmd_error_set(e, "internal", NULL, "no random id");
		return EIO;
	}
	snprintf(rec_id, sizeof(rec_id), "rec-%s", uuid);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.wav", b->cfg->recordings_dir, call_id) >=
	    sizeof(path)) {
		cmd_error_set(e, "internal", NULL, "recording path too long");
		return EINVAL;
	}
	pthread_mutex_lock(&b->lock);
	if (find(b, room) < 0) {
		cmd_error_set(e, "not_found", "room", "room %s does not exist", room);
		err = ENOENT;
	} else {
		/* a second start while recording answers with the recording in progress */
		err = fwd_rec_start(b->fwd, room, call_id, rec_id, path, rec_id, path);
		if (err == EALREADY)
			err = 0;
		else if (!err)
			err = rec_table_put(b->recs, call_id, rec_id, path);
		if (err)
			cmd_error_set(e, "internal", NULL, "%s: %s", path, cm_strerror(err));
	}
	pthread_mutex_unlock(&b->lock);
	if (err)
		return err;
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
	char rec_id[128], path[REC_PATH_MAX + 1];
	int err = 0;
	/* the file is complete when this answers (recording_ready published);
	 * a recording that room deletion already closed is still named */
	pthread_mutex_lock(&b->lock);
	if (rec_table_get(b->recs, call_id, recording_id, rec_id, sizeof(rec_id), path,
			  sizeof(path), true)) {
		cmd_error_set(e, "not_found", recording_id ? "recording_id" : "call_id",
			      "no recording in progress for call %s", call_id);
		err = ENOENT;
	} else {
		err = fwd_rec_stop(b->fwd, room, rec_id, path);
		if (err == ENOENT)
			err = 0;
		else if (err)
			cmd_error_set(e, "internal", NULL, "recording %s: %s", path,
				      cm_strerror(err));
	}
	pthread_mutex_unlock(&b->lock);
	if (err)
		return err;
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
	.join = local_join,
	.leave = local_leave,
	.cancel = NULL,
	.free = local_free,
};
