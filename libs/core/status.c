/* Call status names, terminal states, SIP code mapping, error strings. */
#include "core.h"

#include <errno.h>
#include <string.h>

static const char *const status_names[CALL_STATUS_COUNT] = {
	"queued", "dialing", "ringing", "in_progress", "on_hold", "completed", "busy",
	"no_answer", "rejected", "cancelled", "unreachable", "timeout", "failed",
};

const char *call_status_name(enum call_status st)
{
	return (unsigned)st < CALL_STATUS_COUNT ? status_names[st] : "unknown";
}

int call_status_parse(enum call_status *stp, const char *s)
{
	for (int i = 0; i < CALL_STATUS_COUNT; i++) {
		if (strcmp(s, status_names[i]) == 0) {
			*stp = (enum call_status)i;
			return 0;
		}
	}
	return EINVAL;
}

bool call_status_is_terminal(enum call_status st)
{
	return st >= CALL_COMPLETED && st < CALL_STATUS_COUNT;
}

enum call_status call_status_from_sip(int sip_code)
{
	switch (sip_code) {
	case 486: case 600: return CALL_BUSY;
	case 408: case 480: return CALL_NO_ANSWER;
	case 603: case 403: return CALL_REJECTED;
	case 487: return CALL_CANCELLED;
	case 404: case 410: case 484: return CALL_UNREACHABLE;
	default: return CALL_FAILED;
	}
}

const char *cm_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case EINVAL: return "invalid_argument";
	case ENOENT: return "not_found";
	case EEXIST: return "conflict";
	case ETIMEDOUT: return "timeout";
	case ECONNREFUSED: return "connection_refused";
	case ENOMEM: return "out_of_memory";
	case EIO: return "io_error";
	case EAGAIN: return "unavailable";
	case EPERM: case EACCES: return "forbidden";
	case E2BIG: case EMSGSIZE: return "too_large";
	default: return strerror(err);
	}
}
