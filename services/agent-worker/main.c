/* agent-worker: the AI assistant that joins each call's room. */
#include "service/service.h"

struct agent_cfg {
	struct core_cfg core;
	long max_sessions;
	long answer_timeout_s;
	const char *openai_base_url;
	const char *openai_api_key;
};

static const struct cfg_var agent_cfg_vars[] = {
	{ "MAX_SESSIONS", CFG_INT, "20", true, false, 1, 1000, NULL,
	  offsetof(struct agent_cfg, max_sessions), "agent sessions run at once" },
	{ "ANSWER_TIMEOUT_S", CFG_INT, "90", true, false, 5, 600, NULL,
	  offsetof(struct agent_cfg, answer_timeout_s), "wait for call_answered before giving up" },
	{ "OPENAI_BASE_URL", CFG_URL, "https://api.openai.com/v1", true, false, 0, 0, "http|https",
	  offsetof(struct agent_cfg, openai_base_url), "OpenAI-compatible API for the openai providers" },
	{ "OPENAI_API_KEY", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct agent_cfg, openai_api_key), "key for the openai providers" },
	{ 0 }
};

static const struct service_def agent_def = {
	"agent-worker", agent_cfg_vars, "127.0.0.1:9104", NULL
};

int main(void)
{
	struct agent_cfg cfg = { 0 };
	return service_run(&agent_def, &cfg);
}
