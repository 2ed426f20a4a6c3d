/* Destination policy for requests the services are told to send (egress.h). */
#include "egress.h"

#include "httpc/httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const char *v4_kind(uint32_t a)
{
	if ((a >> 24) == 0)
		return "an unspecified";
	if ((a >> 24) == 127)
		return "a loopback";
	if ((a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168))
		return "a private";
	if ((a >> 22) == (100u << 2 | 1))
		return "a shared (CGN)";
	if ((a >> 16) == (169u << 8 | 254))
		return "a link-local";
	if ((a >> 28) == 0xe)
		return "a multicast";
	if ((a >> 28) == 0xf)
		return "a reserved or broadcast";
	/* 192.0.0/24 IETF protocol assignments, 192.0.2/24, 198.51.100/24 and
	 * 203.0.113/24 documentation, 198.18/15 benchmarking, 192.88.99/24 the
	 * old 6to4 relay (RFC 6890): nothing a user's webhook lives on */
	if ((a >> 8) == (192u << 16 | 0 << 8 | 0) || (a >> 8) == (192u << 16 | 0 << 8 | 2) ||
	    (a >> 8) == (198u << 16 | 51 << 8 | 100) || (a >> 8) == (203u << 16 | 0 << 8 | 113) ||
	    (a >> 17) == (198u << 7 | 18 >> 1) || (a >> 8) == (192u << 16 | 88 << 8 | 99))
		return "a special-purpose (RFC 6890)";
	return NULL;
}

static uint32_t v4_at(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static const char *addr_kind(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_kind(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family != AF_INET6)
		return "a non-IP";
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	const uint8_t *b = a->s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
		uint32_t v4 = v4_at(b + 12);
		if (IN6_IS_ADDR_V4MAPPED(a) || v4 > 1)
			return v4_kind(v4);
	}
	/* IPv4 inside IPv6 that a gateway may carry to it: NAT64's well-known
	 * prefix 64:ff9b::/96 (RFC 6052) and 6to4's 2002::/16 (RFC 3056) by
	 * the address they embed; a local NAT64 prefix 64:ff9b:1::/48 (RFC
	 * 8215) and Teredo 2001::/32 (RFC 4380, the address obfuscated) at all */
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	if (memcmp(b, nat64, sizeof(nat64)) == 0)
		return v4_kind(v4_at(b + 12));
	if (b[0] == 0x20 && b[1] == 0x02)
		return v4_kind(v4_at(b + 2));
	if (memcmp(b, nat64, 4) == 0 && b[4] == 0 && b[5] == 1)
		return "a local NAT64";
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
		return "a Teredo";
	/* 2001:db8::/32 documentation, 100::/64 discard-only (RFC 6666) */
	if ((b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) ||
	    (b[0] == 1 && !b[1] && !b[2] && !b[3] && !b[4] && !b[5] && !b[6] && !b[7]))
		return "a special-purpose (RFC 6890)";
	if (IN6_IS_ADDR_UNSPECIFIED(a))
		return "an unspecified";
	if (IN6_IS_ADDR_LOOPBACK(a))
		return "a loopback";
	if ((b[0] & 0xfe) == 0xfc)
		return "a private (unique local)";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "a link-local";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "a site-local";
	if (b[0] == 0xff)
		return "a multicast";
	return NULL;
}

bool egress_addr_refused(const struct sockaddr *sa)
{
	return addr_kind(sa) != NULL;
}

static void describe(char *why, size_t whylen, const char *host, const struct sockaddr *sa)
{
	snprintf(why, whylen,
		 "%s is %s address; outbound requests go only to public addresses "
		 "(OUTBOUND_ALLOW_PRIVATE=true allows others)",
		 host, addr_kind(sa));
}

static bool literal(struct sockaddr_storage *ss, const char *host)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

int egress_url_check(const char *url, bool allow_private, char *why, size_t whylen)
{
	struct httpc_url u;
	struct sockaddr_storage ss;
	int err = httpc_url_parse(&u, url);
	if (err) {
		snprintf(why, whylen, "%s",
			 err == ENOMEM ? "out of memory"
				       : "is not an http, https, ws or wss URL with a host");
		return err;
	}
	if (allow_private)
		return 0;
	const char *host = u.host;
	size_t n = strlen(host);
	if (n > 1 && host[n - 1] == '.')
		n--; /* "localhost." is localhost */
	if ((n == 9 && strncmp(host, "localhost", 9) == 0) ||
	    (n > 10 && strncmp(host + n - 10, ".localhost", 10) == 0)) {
		snprintf(why, whylen,
			 "%s is this machine; outbound requests go only to public addresses "
			 "(OUTBOUND_ALLOW_PRIVATE=true allows others)",
			 host);
		return EINVAL;
	}
	/* libcurl already writes IPv4 shorthands (127.1, 0x7f.1, 2130706433)
	 * out in full; inet_aton reads them the same way should it not */
	struct in_addr a4;
	if (!literal(&ss, host) && inet_aton(host, &a4)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_addr = a4;
	}
	if (ss.ss_family && egress_addr_refused((struct sockaddr *)&ss)) {
		describe(why, whylen, host, (struct sockaddr *)&ss);
		return EINVAL;
	}
	return 0;
}

bool egress_allow(const struct sockaddr *sa, void *arg)
{
	struct egress_guard *g = arg;
	if (g->allow_private || !egress_addr_refused(sa))
		return true;
	char host[INET6_ADDRSTRLEN] = "?";
	const void *src = sa->sa_family == AF_INET
				  ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
				  : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	inet_ntop(sa->sa_family, src, host, sizeof(host));
	if (g->err && g->errlen)
		describe(g->err, g->errlen, host, sa);
	return false;
}

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)purpose;
	if (!egress_allow(&a->addr, arg))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

void egress_curl_guard(CURL *c, struct egress_guard *g)
{
	if (g->err && g->errlen)
		g->err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, g);
}

int egress_host_check(const char *host, bool allow_private, char *addr, size_t addrlen, char *why,
		      size_t whylen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
		snprintf(why, whylen, "%s does not resolve", host);
		return ENOENT;
	}
	int err = 0;
	if (addr && addrlen &&
	    getnameinfo(res->ai_addr, res->ai_addrlen, addr, (socklen_t)addrlen, NULL, 0,
			NI_NUMERICHOST))
		err = ENOENT;
	for (struct addrinfo *ai = res; ai && !err && !allow_private; ai = ai->ai_next) {
		if (egress_addr_refused(ai->ai_addr)) {
			describe(why, whylen, host, ai->ai_addr);
			err = EINVAL;
		}
	}
	freeaddrinfo(res);
	return err;
}
