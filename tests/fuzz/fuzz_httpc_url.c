/* libFuzzer target for libs/httpc URLs: what httpc_url_parse accepts has a
 * lower-case host without brackets or delimiters, a port in range and a
 * path without query; httpc_url_public of it parses to the same scheme,
 * host, port and path, and carries no userinfo. */
#include "httpc/httpc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[4096], shown[4096];
	struct httpc_url u, v;
	if (size >= sizeof(url))
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	int pub = httpc_url_public(shown, sizeof(shown), url);
	if (httpc_url_parse(&u, url) != 0)
		return 0;
	if (!u.host[0] || strpbrk(u.host, "[]@/?#\\ ") || u.port < 1 || u.port > 65535 ||
	    u.path[0] != '/' || strpbrk(u.path, "?#"))
		abort();
	for (const char *p = u.host; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
	if (pub != 0 || httpc_url_parse(&v, shown) != 0 || v.userinfo ||
	    strcmp(u.scheme, v.scheme) != 0 || strcmp(u.host, v.host) != 0 || u.port != v.port ||
	    strcmp(u.path, v.path) != 0)
		abort();
	return 0;
}
