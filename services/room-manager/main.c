/* room-manager: rooms on LiveKit (Twirp) or the embedded local room backend.
 * The main thread reads the configuration (the variables and the rules
 * across them), starts the service (rooms.c) and waits for a signal. */
#include "rooms.h"
#include "room/room.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct cfg_var room_cfg_vars[] = {
	ROOM_CFG_VARS(struct room_cfg, ""),
	{ "LIVEKIT_TIMEOUT_MS", CFG_INT, "10000", true, false, 100, 120000, NULL,
	  offsetof(struct room_cfg, livekit_timeout_ms), "timeout of one LiveKit API call" },
	{ "ROOM_EMPTY_TIMEOUT_S", CFG_INT, "300", true, false, 0, 86400, NULL,
	  offsetof(struct room_cfg, room_empty_timeout_s),
	  "a room nobody joins closes after this (rooms.create may override)" },
	{ "ROOM_MAX_PARTICIPANTS", CFG_INT, "0", true, false, 0, 1000, NULL,
	  offsetof(struct room_cfg, room_max_participants),
	  "0 = no limit (rooms.create may override)" },
	{ "EGRESS_FILE_PREFIX", CFG_STR, "recordings/", true, false, 0, 0, NULL,
	  offsetof(struct room_cfg, egress_file_prefix),
	  "LiveKit egress: object key / path prefix of call recordings "
	  "(<prefix><call_id>-<ms>.ogg)" },
	{ "EGRESS_S3_BUCKET", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct room_cfg, egress_s3_bucket),
	  "LiveKit egress: S3-compatible bucket (unset: the file stays on the egress node)" },
	{ "EGRESS_S3_REGION", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct room_cfg, egress_s3_region), "LiveKit egress: S3 region" },
	{ "EGRESS_S3_ENDPOINT", CFG_URL, NULL, false, false, 0, 0, "http|https",
	  offsetof(struct room_cfg, egress_s3_endpoint), "LiveKit egress: S3-compatible endpoint" },
	{ "EGRESS_S3_ACCESS_KEY", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct room_cfg, egress_s3_access_key), "LiveKit egress: S3 access key" },
	{ "EGRESS_S3_SECRET", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct room_cfg, egress_s3_secret), "LiveKit egress: S3 secret key" },
	{ "EGRESS_S3_FORCE_PATH_STYLE", CFG_BOOL, "false", true, false, 0, 0, NULL,
	  offsetof(struct room_cfg, egress_s3_force_path_style),
	  "LiveKit egress: path-style S3 URLs (MinIO and most S3-compatible stores)" },
	{ "ROOM_WORKERS", CFG_INT, "8", true, false, 1, 64, NULL,
	  offsetof(struct room_cfg, workers), "threads serving commands" },
	{ "RECORDINGS_DIR", CFG_STR, "var/recordings", true, false, 0, 0, NULL,
	  offsetof(struct room_cfg, recordings_dir), "where local recordings are written" },
	{ "RTP_PORT_MIN", CFG_INT, "40000", true, false, 1024, 65535, NULL,
	  offsetof(struct room_cfg, rtp_port_min), "first UDP port of local rooms" },
	{ "RTP_PORT_MAX", CFG_INT, "40999", true, false, 1024, 65535, NULL,
	  offsetof(struct room_cfg, rtp_port_max), "last UDP port of local rooms" },
	{ "ROOM_WS_ADDR", CFG_ADDR, "127.0.0.1:7881", true, false, 0, 0, NULL,
	  offsetof(struct room_cfg, ws_addr),
	  "local rooms: WebSocket listen address for browser members" },
	{ "ROOM_WS_URL", CFG_URL, NULL, false, false, 0, 0, "ws|wss",
	  offsetof(struct room_cfg, ws_url),
	  "local rooms: the URL rooms.token hands to browsers (default ws://<ROOM_WS_ADDR>/room)" },
	{ "ROOM_TOKEN_SECRET", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct room_cfg, token_secret),
	  "local rooms: HS256 key of browser tokens (default: random at each start)" },
	{ 0 }
};

/* Rules across variables, which the table cannot say. */
static int room_cfg_check(void *arg, char *err, size_t errlen)
{
	struct room_cfg *cfg = arg;
	if (room_cfg_resolve(&cfg->room_backend, cfg->livekit_url, cfg->livekit_api_key,
			     cfg->livekit_api_secret, err, errlen))
		return EINVAL;
	if (cfg->egress_s3_bucket &&
	    (!cfg->egress_s3_access_key != !cfg->egress_s3_secret)) {
		snprintf(err, errlen, "%s: is required with EGRESS_S3_%s",
			 cfg->egress_s3_access_key ? "EGRESS_S3_SECRET" : "EGRESS_S3_ACCESS_KEY",
			 cfg->egress_s3_access_key ? "ACCESS_KEY" : "SECRET");
		return EINVAL;
	}
	if (cfg->token_secret && strlen(cfg->token_secret) < 16) {
		snprintf(err, errlen,
			 "ROOM_TOKEN_SECRET: must be at least 16 bytes (it signs tokens)");
		return EINVAL;
	}
	/* libs/ws listens on an IPv4 address (or localhost) */
	struct hostport hp;
	struct in_addr ia;
	if (addr_parse(&hp, cfg->ws_addr, 0) ||
	    (strcmp(hp.host, "localhost") != 0 && inet_pton(AF_INET, hp.host, &ia) != 1)) {
		snprintf(err, errlen,
			 "ROOM_WS_ADDR: \"%s\": the host must be an IPv4 address or localhost",
			 cfg->ws_addr);
		return EINVAL;
	}
	if (cfg->rtp_port_min > cfg->rtp_port_max) {
		snprintf(err, errlen, "RTP_PORT_MIN: %ld is above RTP_PORT_MAX %ld",
			 cfg->rtp_port_min, cfg->rtp_port_max);
		return EINVAL;
	}
	return 0;
}

static const struct service_def room_def = {
	"room-manager", room_cfg_vars, "127.0.0.1:9101", room_cfg_check
};

int main(int argc, char **argv)
{
	service_args(&room_def, argc, argv);
	struct room_cfg cfg = { 0 };
	struct service *svc = NULL;
	struct rooms *rooms = NULL;
	if (service_new(&svc, &room_def, &cfg))
		return 1;
	int err = rooms_new(&rooms, &cfg, svc);
	if (!err)
		service_wait(svc, NULL, NULL);
	rooms = rooms_free(rooms);
	svc = service_free(svc);
	return err ? 1 : 0;
}
