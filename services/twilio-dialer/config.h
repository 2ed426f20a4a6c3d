/* twilio-dialer's configuration: main.c fills it from the environment at
 * start; immutable afterwards, borrowed by the dialer, the calls and the
 * trunks. */
#ifndef TWILIO_DIALER_CONFIG_H
#define TWILIO_DIALER_CONFIG_H

#include "core/core.h"

struct dialer_cfg {
	struct core_cfg core;
	const char *livekit_url;
	const char *livekit_api_key;
	const char *livekit_api_secret;
	long max_calls;
	long livekit_timeout_ms;
	long sip_dial_timeout_s;
	long dial_attempts;
	long dial_backoff_ms;
};

#endif
