/* addr: the one host:port parser and the one E.164 check. */
#include "core/core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

/* "1".."65535" ("0" too when zero_ok), digits only */
static int parse_port(uint16_t *portp, const char *s, bool zero_ok)
{
	unsigned long v = 0;
	size_t n = 0;
	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 5)
			return EINVAL;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || (v == 0 && !zero_ok) || v > 65535)
		return EINVAL;
	*portp = (uint16_t)v;
	return 0;
}

/* a name or IPv4 literal: printable, no space, no ':' and none of "[]/@?#" */
static bool host_ok(const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(((struct hostport *)0)->host))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr(":[]/@?#\\", c))
			return false;
	}
	return true;
}

static int parse(struct hostport *hp, const char *s, uint16_t default_port, bool listen)
{
	struct hostport out = { .port = default_port };
	bool have_port = false;
	const char *rest;
	size_t n;

	if (!hp || !s)
		return EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		unsigned char v6[16];
		if (!close)
			return EINVAL;
		n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof(out.host))
			return EINVAL;
		memcpy(out.host, s + 1, n);
		out.host[n] = '\0';
		if (inet_pton(AF_INET6, out.host, v6) != 1)
			return EINVAL;
		rest = close + 1;
	} else {
		const char *colon = strchr(s, ':');
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (!host_ok(s, n))
			return EINVAL;
		memcpy(out.host, s, n);
		out.host[n] = '\0';
		rest = s + n;
	}
	if (*rest == ':') {
		if (parse_port(&out.port, rest + 1, listen))
			return EINVAL;
		have_port = true;
	} else if (*rest != '\0') {
		return EINVAL;
	}
	if (listen ? !have_port : out.port == 0)
		return EINVAL;
	*hp = out;
	return 0;
}

int addr_parse(struct hostport *hp, const char *s, uint16_t default_port)
{
	return parse(hp, s, default_port, false);
}

int addr_parse_listen(struct hostport *hp, const char *s)
{
	return parse(hp, s, 0, true);
}

bool e164_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 8 || n > E164_MAX || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	for (size_t i = 2; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}
