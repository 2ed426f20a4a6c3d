/* What every room backend shares: ROOM_BACKEND's one meaning across
 * services, and join errors told as sentences (room.h). */
#include "room.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int room_cfg_resolve(const char **backendp, const char *livekit_url, const char *livekit_api_key,
		     const char *livekit_api_secret, char *err, size_t errlen)
{
	if (!*backendp)
		*backendp = livekit_url ? "livekit" : "local";
	if (strcmp(*backendp, "livekit") != 0)
		return 0;
	const char *missing = !livekit_url	   ? "LIVEKIT_URL"
			      : !livekit_api_key    ? "LIVEKIT_API_KEY"
			      : !livekit_api_secret ? "LIVEKIT_API_SECRET"
						    : NULL;
	if (!missing)
		return 0;
	snprintf(err, errlen, "%s: is required with ROOM_BACKEND=livekit", missing);
	return EINVAL;
}

void room_join_why(char *out, size_t outlen, const struct room_ops *ops, int err)
{
	bool lk = ops == &room_livekit;
	const char *server = lk ? "the LiveKit server" : "room-manager";
	const char *engine = lk ? room_livekit_reason() : "";
	switch (err) {
	case EACCES: case EPERM:
		snprintf(out, outlen, "%s refused the participant token%s", server,
			 lk ? ": check LIVEKIT_API_KEY and LIVEKIT_API_SECRET" : "");
		break;
	case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH:
		snprintf(out, outlen, "%s is unreachable (%s)%s", server, cm_strerror(err),
			 lk ? ": check LIVEKIT_URL" : "");
		break;
	case ETIMEDOUT: case EAGAIN:
		snprintf(out, outlen, "%s did not answer the join in time", server);
		break;
	case EIO:
		snprintf(out, outlen, lk ? "%s did not let the participant join" :
					   "%s refused the join (does the room exist?)", server);
		break;
	case ENOENT: case ELIBBAD:
		if (lk) {
			snprintf(out, outlen,
				 "LiveKit's client engine is missing or broken (run make "
				 "deps, or set LIVEKIT_FFI_LIB)");
			break;
		}
		/* fall through */
	default:
		snprintf(out, outlen, "joining the room failed: %s", cm_strerror(err));
		break;
	}
	size_t n = strlen(out);
	if (*engine && n + 3 < outlen)
		snprintf(out + n, outlen - n, " (%s)", engine);
}
