/* room-manager's configuration (main.c fills it from the environment) and
 * the room backend interface that rooms.c serves commands through, with its
 * two implementations: backend_livekit.c and backend_local.c. */
#ifndef ROOM_MANAGER_BACKEND_H
#define ROOM_MANAGER_BACKEND_H

#include <cjson/cJSON.h>

#include "bus/bus.h"
#include "command/command.h"
#include "core/core.h"

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

#endif
