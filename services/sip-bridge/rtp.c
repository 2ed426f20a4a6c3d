/* RTP ports towards the carrier: an even port in RTP_PORT_MIN..MAX, bound
 * now so the offer never names a port someone else holds. On the answer the
 * socket goes to the relay (relay.c), which reads and writes it. */
#include "bridge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

int rtp_port_open(struct bridge *br, int *fdp, uint16_t *portp)
{
	long min = br->cfg->rtp_port_min + (br->cfg->rtp_port_min & 1);
	long max = br->cfg->rtp_port_max - 1;
	long span = (max - min) / 2 + 1;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	if (span <= 0 || inet_pton(AF_INET, br->rtp_bind, &sa.sin_addr) != 1)
		return EINVAL;
	if (br->next_rtp_port < min || br->next_rtp_port > max)
		br->next_rtp_port = min;
	for (long i = 0; i < span; i++) {
		long port = br->next_rtp_port;
		br->next_rtp_port = port + 2 > max ? min : port + 2;
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errno;
		sa.sin_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			*fdp = fd;
			*portp = (uint16_t)port;
			return 0;
		}
		close(fd);
	}
	return EADDRNOTAVAIL;
}
