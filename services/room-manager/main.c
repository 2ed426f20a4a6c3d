/* room-manager: rooms on LiveKit (Twirp) or the embedded local room backend. */
#include "service/service.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct room_cfg {
	struct core_cfg core;
	const char *room_backend;
	const char *livekit_url;
	const char *livekit_api_key;
	const char *livekit_api_secret;
	const char *recordings_dir;
	long rtp_port_min;
	long rtp_port_max;
};

static const struct cfg_var room_cfg_vars[] = {
	{ "ROOM_BACKEND", CFG_ENUM, NULL, false, false, 0, 0, "local|livekit",
	  offsetof(struct room_cfg, room_backend), "local (default without LIVEKIT_URL) or livekit" },
	{ "LIVEKIT_URL", CFG_URL, NULL, false, false, 0, 0, "http|https|ws|wss",
	  offsetof(struct room_cfg, livekit_url), "LiveKit server" },
	{ "LIVEKIT_API_KEY", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct room_cfg, livekit_api_key), "LiveKit API key" },
	{ "LIVEKIT_API_SECRET", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct room_cfg, livekit_api_secret), "LiveKit API secret" },
	{ "RECORDINGS_DIR", CFG_STR, "var/recordings", true, false, 0, 0, NULL,
	  offsetof(struct room_cfg, recordings_dir), "where local recordings are written" },
	{ "RTP_PORT_MIN", CFG_INT, "40000", true, false, 1024, 65535, NULL,
	  offsetof(struct room_cfg, rtp_port_min), "first UDP port of local rooms" },
	{ "RTP_PORT_MAX", CFG_INT, "40999", true, false, 1024, 65535, NULL,
	  offsetof(struct room_cfg, rtp_port_max), "last UDP port of local rooms" },
	{ 0 }
};

/* Rules across variables, which the table cannot say. */
static int room_cfg_check(void *arg, char *err, size_t errlen)
{
	struct room_cfg *cfg = arg;
	if (!cfg->room_backend)
		cfg->room_backend = cfg->livekit_url ? "livekit" : "local";
	if (strcmp(cfg->room_backend, "livekit") == 0) {
		const char *missing = !cfg->livekit_url	      ? "LIVEKIT_URL"
				      : !cfg->livekit_api_key ? "LIVEKIT_API_KEY"
				      : !cfg->livekit_api_secret ? "LIVEKIT_API_SECRET"
								 : NULL;
		if (missing) {
			snprintf(err, errlen, "%s: is required with ROOM_BACKEND=livekit", missing);
			return EINVAL;
		}
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

int main(void)
{
	struct room_cfg cfg = { 0 };
	return service_run(&room_def, &cfg);
}
