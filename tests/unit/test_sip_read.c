/* libs/sip's cap on what sofia reads from a TCP connection at once
 * (su_getmsgsize interposed): stream sockets get at most
 * SIP_STREAM_READ_MAX, datagrams are never cut. */
#include "harness/test.h"
#include "sip/sip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <sofia-sip/su.h>
#pragma GCC diagnostic pop

static char payload[3 * SIP_STREAM_READ_MAX];

static int test_stream_capped(void)
{
	int err = 0, sv[2] = { -1, -1 };
	TEST_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	TEST_EQ_INT(su_getmsgsize(sv[1]), 0);
	TEST_EQ_INT(send(sv[0], payload, 100, 0), 100);
	TEST_EQ_INT(su_getmsgsize(sv[1]), 100);
	TEST_EQ_INT(send(sv[0], payload, sizeof(payload) - 100, 0), (long)sizeof(payload) - 100);
	TEST_EQ_INT(su_getmsgsize(sv[1]), SIP_STREAM_READ_MAX);
	/* what is left after a capped read is reported on the next call */
	TEST_EQ_INT(recv(sv[1], payload, sizeof(payload) - 10, 0), (long)sizeof(payload) - 10);
	TEST_EQ_INT(su_getmsgsize(sv[1]), 10);
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return err;
}

static int test_datagram_whole(void)
{
	int err = 0, a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	size_t big = 2 * SIP_STREAM_READ_MAX + 1;
	TEST_ASSERT(a >= 0 && b >= 0);
	TEST_EQ_INT(bind(b, (struct sockaddr *)&sa, sizeof(sa)), 0);
	TEST_EQ_INT(getsockname(b, (struct sockaddr *)&sa, &len), 0);
	TEST_EQ_INT(sendto(a, payload, big, 0, (struct sockaddr *)&sa, sizeof(sa)), (long)big);
	struct pollfd p = { b, POLLIN, 0 };
	TEST_EQ_INT(poll(&p, 1, 2000), 1);
	TEST_EQ_INT(su_getmsgsize(b), (long)big);
out:
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return err;
}

static const struct test tests[] = {
	{ "stream_capped", test_stream_capped },
	{ "datagram_whole", test_datagram_whole },
};
TEST_MAIN(tests)
