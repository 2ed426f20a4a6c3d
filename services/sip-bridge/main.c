/* sip-bridge: Exotel legs over SIP (sofia-sip), RTP relayed to the room. */
#include "service/service.h"

#include <errno.h>
#include <stdio.h>

struct bridge_cfg {
	struct core_cfg core;
	const char *sip_bind;
	long rtp_port_min;
	long rtp_port_max;
	long max_calls;
	long ring_timeout_s;
	long media_timeout_s;
};

static const struct cfg_var bridge_cfg_vars[] = {
	{ "SIP_BIND", CFG_ADDR, "127.0.0.1:5060", true, false, 0, 0, NULL,
	  offsetof(struct bridge_cfg, sip_bind), "SIP listen address (TCP and UDP)" },
	{ "RTP_PORT_MIN", CFG_INT, "30000", true, false, 1024, 65535, NULL,
	  offsetof(struct bridge_cfg, rtp_port_min), "first RTP port towards the carrier" },
	{ "RTP_PORT_MAX", CFG_INT, "30999", true, false, 1024, 65535, NULL,
	  offsetof(struct bridge_cfg, rtp_port_max), "last RTP port towards the carrier" },
	{ "MAX_CALLS", CFG_INT, "100", true, false, 1, 10000, NULL,
	  offsetof(struct bridge_cfg, max_calls), "dial jobs taken at once" },
	{ "RING_TIMEOUT_S", CFG_INT, "60", true, false, 5, 600, NULL,
	  offsetof(struct bridge_cfg, ring_timeout_s), "give up (CANCEL) without a final answer" },
	{ "MEDIA_TIMEOUT_S", CFG_INT, "30", true, false, 1, 3600, NULL,
	  offsetof(struct bridge_cfg, media_timeout_s), "end a call with no RTP for this long (paused on hold)" },
	{ 0 }
};

static int bridge_cfg_check(void *arg, char *err, size_t errlen)
{
	struct bridge_cfg *cfg = arg;
	/* Two ports per call (RTP + RTCP). */
	if (cfg->rtp_port_max - cfg->rtp_port_min + 1 < 2 * cfg->max_calls) {
		snprintf(err, errlen, "RTP_PORT_MAX: range %ld..%ld holds fewer than 2 x MAX_CALLS (%ld) ports",
			 cfg->rtp_port_min, cfg->rtp_port_max, cfg->max_calls);
		return EINVAL;
	}
	return 0;
}

static const struct service_def bridge_def = {
	"sip-bridge", bridge_cfg_vars, "127.0.0.1:9103", bridge_cfg_check
};

int main(void)
{
	struct bridge_cfg cfg = { 0 };
	return service_run(&bridge_def, &cfg);
}
