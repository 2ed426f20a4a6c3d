/* Trunk credential rules (sip.h): what the digest client and the request
 * URI this bridge builds can carry. Kept apart from sip.c so that
 * api-gateway links it without sofia-sip. */
#include "sip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int host_check(const char *v, size_t len, char *why, size_t whylen)
{
	if (len > SIP_CRED_HOST_MAX) {
		snprintf(why, whylen, "must be at most %d characters", SIP_CRED_HOST_MAX);
		return EINVAL;
	}
	if (v[0] == '[') {
		char bare[64];
		struct in6_addr a6;
		if (len < 3 || v[len - 1] != ']' || len - 2 >= sizeof(bare)) {
			snprintf(why, whylen,
				 "must be a host name or an address ([v6] in brackets)");
			return EINVAL;
		}
		memcpy(bare, v + 1, len - 2);
		bare[len - 2] = '\0';
		if (inet_pton(AF_INET6, bare, &a6) != 1) {
			snprintf(why, whylen, "is not an IPv6 address");
			return EINVAL;
		}
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-')) {
			snprintf(why, whylen,
				 "must be a host name or an address ([v6] in brackets)");
			return EINVAL;
		}
	}
	if (v[0] == '.' || v[0] == '-' || v[len - 1] == '-' || strstr(v, "..")) {
		snprintf(why, whylen, "is not a valid host name");
		return EINVAL;
	}
	return 0;
}

int sip_credentials_check(enum sip_cred_field field, const char *value, size_t len, char *why,
			  size_t whylen)
{
	if (!value || len == 0) {
		snprintf(why, whylen, "must not be empty");
		return EINVAL;
	}
	if (memchr(value, 0, len)) {
		snprintf(why, whylen, "must not contain NUL");
		return EINVAL;
	}
	if (field == SIP_CRED_HOST)
		return host_check(value, len, why, whylen);
	size_t max = field == SIP_CRED_USERNAME ? SIP_CRED_USERNAME_MAX : SIP_CRED_PASSWORD_MAX;
	if (len > max) {
		snprintf(why, whylen, "must be at most %zu characters", max);
		return EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '\r' || c == '\n') {
			snprintf(why, whylen, "must not contain CR or LF");
			return EINVAL;
		}
		if (c < 0x20 || c > 0x7e) {
			snprintf(why, whylen, "must be printable ASCII");
			return EINVAL;
		}
		if (c == '"' || c == '<' || c == '>' || c == '\\') {
			snprintf(why, whylen, "must not contain '%c'", c);
			return EINVAL;
		}
		if (field == SIP_CRED_USERNAME && (c == ':' || c == ' ')) {
			snprintf(why, whylen,
				 c == ':' ? "must not contain ':'" : "must not contain spaces");
			return EINVAL;
		}
	}
	return 0;
}
