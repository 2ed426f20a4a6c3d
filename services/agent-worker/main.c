/* agent-worker: the AI assistant that joins each call's room. */
#include "agent.h"
#include "egress/egress.h"
#include "room/room.h"
#include "service/service.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lkrtc/lkrtc.h"

struct agent_cfg {
	struct core_cfg core;
	long max_sessions;
	long answer_timeout_s;
	const char *openai_base_url;
	const char *openai_api_key;
	bool outbound_allow_private;
	const char *room_backend;
	const char *livekit_url;
	const char *livekit_api_key;
	const char *livekit_api_secret;
};

static const struct cfg_var agent_cfg_vars[] = {
	{ "MAX_SESSIONS", CFG_INT, "20", true, false, 1, 1000, NULL,
	  offsetof(struct agent_cfg, max_sessions), "agent sessions run at once" },
	{ "ANSWER_TIMEOUT_S", CFG_INT, "90", true, false, 5, 600, NULL,
	  offsetof(struct agent_cfg, answer_timeout_s), "wait for call_answered before giving up" },
	{ "OPENAI_BASE_URL", CFG_URL, "https://api.openai.com/v1", true, false, 0, 0, "http|https",
	  offsetof(struct agent_cfg, openai_base_url),
	  "OpenAI-compatible API for the openai providers" },
	{ "OPENAI_API_KEY", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct agent_cfg, openai_api_key), "key for the openai providers" },
	{ "OUTBOUND_ALLOW_PRIVATE", CFG_BOOL, "false", false, false, 0, 0, NULL,
	  offsetof(struct agent_cfg, outbound_allow_private),
	  "let provider base URLs reach loopback, private and link-local addresses "
	  "(local development only)" },
	ROOM_CFG_VARS(struct agent_cfg, "|record"),
	{ 0 }
};

static int agent_cfg_check(void *arg, char *err, size_t errlen)
{
	struct agent_cfg *cfg = arg;
	char why[200];
	if (egress_url_check(cfg->openai_base_url, cfg->outbound_allow_private, why, sizeof(why))) {
		snprintf(err, errlen, "OPENAI_BASE_URL: %s", why);
		return EINVAL;
	}
	return room_cfg_resolve(&cfg->room_backend, cfg->livekit_url, cfg->livekit_api_key,
				cfg->livekit_api_secret, err, errlen);
}

static const struct service_def agent_def = {
	"agent-worker", agent_cfg_vars, "127.0.0.1:9104", agent_cfg_check
};

static void tick(void *arg)
{
	agent_reap(arg);
	agent_heartbeat(arg);
}

int main(int argc, char **argv)
{
	service_args(&agent_def, argc, argv);
	struct agent_cfg cfg = { 0 };
	struct service *svc = NULL;
	struct agent *agent = NULL;
	struct room_record_hub *hub = NULL;
	int rc = 1;
	if (service_new(&svc, &agent_def, &cfg))
		return 1;
	/* the agent listens as a program: audio as it arrives, in sequence */
	struct room_local_ctx local = {
		.bus = service_bus(svc), .timeout_ms = 3000, .in_order = true,
	};
	struct room_livekit_ctx lk = {
		.url = cfg.livekit_url, .api_key = cfg.livekit_api_key,
		.api_secret = cfg.livekit_api_secret, .timeout_ms = 4000,
	};
	bool on_livekit = strcmp(cfg.room_backend, "livekit") == 0;
	struct room_media_ctx media = {
		.ops = on_livekit ? &room_livekit : &room_local,
		.ops_ctx = on_livekit ? (void *)&lk : (void *)&local,
	};
	bool record = strcmp(cfg.room_backend, "record") == 0;
	if (record && room_record_hub_new(&hub))
		goto out;
	struct agent_opts opts = {
		.bus = service_bus(svc),
		.source = service_source(svc),
		.room = record ? &room_record_backend : &room_media_backend,
		.room_ctx = record ? (void *)hub : (void *)&media,
		.max_sessions = (int)cfg.max_sessions,
		.answer_timeout_ms = (int)cfg.answer_timeout_s * 1000,
		.env = { cfg.openai_base_url, cfg.openai_api_key, cfg.outbound_allow_private },
		.recording_attempts = 3,
		.recording_backoff_ms = 250,
		.recording_timeout_ms = 2000,
	};
	if (agent_new(&agent, &opts))
		goto out;
	service_wait(svc, tick, agent);
	rc = 0;
out:
	agent = agent_free(agent);
	hub = room_record_hub_free(hub);
	svc = service_free(svc);
	lkrtc_shutdown();
	return rc;
}
