/* twilio-dialer: Twilio legs placed through LiveKit's SIP API. */
#include "service/service.h"

#include <errno.h>
#include <stdio.h>

struct dialer_cfg {
	struct core_cfg core;
	const char *livekit_url;
	const char *livekit_api_key;
	const char *livekit_api_secret;
	long max_calls;
};

static const struct cfg_var dialer_cfg_vars[] = {
	{ "LIVEKIT_URL", CFG_URL, NULL, false, false, 0, 0, "http|https|ws|wss",
	  offsetof(struct dialer_cfg, livekit_url), "LiveKit server (unset: Twilio dialing is off)" },
	{ "LIVEKIT_API_KEY", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct dialer_cfg, livekit_api_key), "LiveKit API key" },
	{ "LIVEKIT_API_SECRET", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct dialer_cfg, livekit_api_secret), "LiveKit API secret" },
	{ "MAX_CALLS", CFG_INT, "50", true, false, 1, 10000, NULL,
	  offsetof(struct dialer_cfg, max_calls), "dial jobs in flight at once" },
	{ 0 }
};

static int dialer_cfg_check(void *arg, char *err, size_t errlen)
{
	struct dialer_cfg *cfg = arg;
	if (cfg->livekit_url && (!cfg->livekit_api_key || !cfg->livekit_api_secret)) {
		snprintf(err, errlen, "%s: is required with LIVEKIT_URL",
			 !cfg->livekit_api_key ? "LIVEKIT_API_KEY" : "LIVEKIT_API_SECRET");
		return EINVAL;
	}
	return 0;
}

static const struct service_def dialer_def = {
	"twilio-dialer", dialer_cfg_vars, "127.0.0.1:9102", dialer_cfg_check
};

int main(void)
{
	struct dialer_cfg cfg = { 0 };
	return service_run(&dialer_def, &cfg);
}
