/* room-manager's shared declarations: config, context, room backends. */
#ifndef ROOM_MANAGER_ROOM_H
#define ROOM_MANAGER_ROOM_H

#include <cjson/cJSON.h>

#include "command/command.h"
#include "service/service.h"

struct room_cfg {
	struct core_cfg core;
	const char *room_backend;
	const char *livekit_url;
	const char *livekit_api_key;
	const char *livekit_api_secret;
	long livekit_timeout_ms;
	const char *recordings_dir;
	long rtp_port_min;
	long rtp_port_max;
	const char *ws_addr;      /* browser members of local rooms */
	const char *ws_url;
	const char *token_secret;
	long room_empty_timeout_s;
	long room_max_participants;
	const char *egress_file_prefix;
	const char *egress_s3_bucket;
	const char *egress_s3_region;
	const char *egress_s3_endpoint;
	const char *egress_s3_access_key;
	const char *egress_s3_secret;
	bool egress_s3_force_path_style;
	long workers;
};

/* A room backend (DESIGN §3): a table of const function pointers over its
 * own state. Each command fills `out` (the reply's data object, owned by the
 * caller) or *e; `req` is the validated payload (borrowed). 0 or an errno
 * value with *e filled. Called from several worker threads at once. */
struct room_backend {
	const char *name;
	int (*create)(void *st, cJSON *out, const cJSON *req, struct cmd_error *e);
	int (*remove)(void *st, const char *room, struct cmd_error *e);
	int (*send_data)(void *st, const char *room, const char *topic, const char *payload,
			 struct cmd_error *e);
	int (*token)(void *st, cJSON *out, const cJSON *req, struct cmd_error *e);
	int (*rec_start)(void *st, cJSON *out, const char *call_id, const char *room,
			 struct cmd_error *e);
	int (*rec_stop)(void *st, cJSON *out, const char *call_id, const char *room,
			const char *recording_id, struct cmd_error *e);
	/* rooms.join / rooms.leave (the local backend's RTP forwarder); NULL
	 * when the backend has no such thing (LiveKit: join over WebRTC). */
	int (*join)(void *st, cJSON *out, const cJSON *req, struct cmd_error *e);
	int (*leave)(void *st, const char *room, const char *identity, struct cmd_error *e);
	/* Aborts in-flight upstream calls (shutdown). May be NULL. */
	void (*cancel)(void *st);
	void (*free)(void *st);
};

extern const struct room_backend backend_livekit;
extern const struct room_backend backend_local;
/* Each borrows cfg (and bus, source: recording_ready events) for its
 * lifetime; *stp is freed with the table's free(). */
int backend_livekit_new(void **stp, const struct room_cfg *cfg) CM_MUST_USE;
int backend_local_new(void **stp, const struct room_cfg *cfg, struct bus *bus,
		      const char *source) CM_MUST_USE;

/* Recordings remembered per call (so recordings.stop may omit
 * recording_id); bounded, the oldest forgotten first. Thread-safe. */
struct rec_table;
int rec_table_new(struct rec_table **tp) CM_MUST_USE;
struct rec_table *rec_table_free(struct rec_table *t);
int rec_table_put(struct rec_table *t, const char *call_id, const char *recording_id,
		  const char *path) CM_MUST_USE;
/* Looks up by recording id (when non-NULL) or else by call id; copies into
 * the buffers. ENOENT when unknown. With `remove`, forgets it. */
int rec_table_get(struct rec_table *t, const char *call_id, const char *recording_id,
		  char *rec_id, size_t rec_len, char *path, size_t path_len, bool remove) CM_MUST_USE;

/* The service: serves the rooms.* and recordings.* commands and relays call
 * events into rooms. */
struct rooms;
int rooms_start(struct rooms **rp, const struct room_cfg *cfg, struct service *svc) CM_MUST_USE;
struct rooms *rooms_stop(struct rooms *r);

#endif
