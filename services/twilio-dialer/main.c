/* twilio-dialer: Twilio legs placed through LiveKit's SIP API. The main
 * thread reads the configuration, starts the dialer (dialer.c) and ticks
 * it until a signal. */
#include "dialer.h"

#include <errno.h>
#include <stdio.h>

static const struct cfg_var dialer_cfg_vars[] = {
	{ "LIVEKIT_URL", CFG_URL, NULL, false, false, 0, 0, "http|https|ws|wss",
	  offsetof(struct dialer_cfg, livekit_url),
	  "LiveKit server (unset: Twilio dialing is off)" },
	{ "LIVEKIT_API_KEY", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct dialer_cfg, livekit_api_key), "LiveKit API key" },
	{ "LIVEKIT_API_SECRET", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct dialer_cfg, livekit_api_secret), "LiveKit API secret" },
	{ "MAX_CALLS", CFG_INT, "50", true, false, 1, 10000, NULL,
	  offsetof(struct dialer_cfg, max_calls), "dial jobs in flight at once" },
	{ "LIVEKIT_TIMEOUT_MS", CFG_INT, "10000", true, false, 100, 120000, NULL,
	  offsetof(struct dialer_cfg, livekit_timeout_ms),
	  "timeout of LiveKit calls other than dialing (hangup, trunks)" },
	{ "SIP_DIAL_TIMEOUT_S", CFG_INT, "0", true, false, 0, 3600, NULL,
	  offsetof(struct dialer_cfg, sip_dial_timeout_s),
	  "HTTP timeout of CreateSIPParticipant (0: max(ring timeout, 80 s) + 20 s)" },
	{ "DIAL_ATTEMPTS", CFG_INT, "3", true, false, 1, 10, NULL,
	  offsetof(struct dialer_cfg, dial_attempts),
	  "tries of one dial while LiveKit refuses connections (never after it got the request)" },
	{ "DIAL_RETRY_BACKOFF_MS", CFG_INT, "1000", true, false, 10, 60000, NULL,
	  offsetof(struct dialer_cfg, dial_backoff_ms), "wait before try n+1: n × this" },
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

int main(int argc, char **argv)
{
	service_args(&dialer_def, argc, argv);
	struct dialer_cfg cfg = { 0 };
	struct service *svc = NULL;
	struct dialer *d = NULL;
	if (service_new(&svc, &dialer_def, &cfg))
		return 1;
	int err = dialer_new(&d, &cfg, svc);
	if (!err)
		service_wait(svc, dialer_tick, d);
	d = dialer_free(d);
	svc = service_free(svc);
	return err ? 1 : 0;
}
