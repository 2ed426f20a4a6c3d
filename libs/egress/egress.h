/*
 * egress — where callmesh may send requests it is told to send (the
 * end-of-call webhook, provider base URLs): never to this machine or its
 * private networks unless the deployment allows it (OUTBOUND_ALLOW_PRIVATE),
 * so that an API user cannot aim the services at loopback, a metadata
 * address or the internal network.
 *
 * Refused destinations: unspecified (0.0.0.0/8, ::), loopback (127/8, ::1),
 * private (10/8, 172.16/12, 192.168/16, fc00::/7), shared/CGN (100.64/10),
 * link-local (169.254/16, fe80::/10), multicast (224/4, ff00::/8), broadcast
 * and reserved (240/4); IPv4-mapped IPv6 addresses are judged as IPv4.
 *
 * Checked twice: when a URL is accepted (egress_url_check: a literal
 * address or "localhost" is refused at once) and at every connection, after
 * DNS resolution (egress_curl_guard: libcurl's open-socket callback sees the
 * address it is about to connect to, so a name that resolves, or is rebound,
 * to a refused address is refused too).
 */
#ifndef CALLMESH_EGRESS_H
#define CALLMESH_EGRESS_H

#include "core/core.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* True when `sa` is one of the refused destinations above. */
bool egress_addr_refused(const struct sockaddr *sa);

/* 0 when `url` (http, https, ws or wss, read by httpc_url_parse as libcurl
 * reads it) may be used: its host is a name other than "localhost", or a
 * literal address that is not refused, or anything when allow_private.
 * EINVAL with `why` ("127.0.0.1 is a loopback address; …", or "is not an
 * http, https, ws or wss URL with a host") otherwise; ENOMEM. */
int egress_url_check(const char *url, bool allow_private, char *why, size_t whylen) CM_MUST_USE;

/* Makes every connection `c` opens go through egress_addr_refused() (unless
 * allow_private): a refused one fails with CURLE_COULDNT_CONNECT and, when
 * `err` is given, a sentence naming the address in err (errlen bytes; it
 * must live until curl_easy_perform returns). */
struct egress_guard {
	bool allow_private;
	char *err;
	size_t errlen;
};
void egress_curl_guard(CURL *c, struct egress_guard *g);
/* The same check as an httpc_req.allow hook: arg is a struct egress_guard;
 * false (with the sentence in g->err) for a refused address. */
bool egress_allow(const struct sockaddr *sa, void *arg);

/* Resolves host (blocking) and refuses when any address is refused (for
 * connections not made by libcurl: check right before connecting, and
 * connect to *addr — the first address, numeric, addrlen >= 46 — so that a
 * second resolution cannot answer otherwise). addr may be NULL. */
int egress_host_check(const char *host, bool allow_private, char *addr, size_t addrlen, char *why,
		      size_t whylen) CM_MUST_USE;

#endif
