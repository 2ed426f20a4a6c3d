/* RTP ports towards the carrier, on the sofia thread: an even port in
 * RTP_PORT_MIN..MAX, bound now so the offer never names a port someone else
 * holds. On the answer the socket goes to the relay (relay.c), which reads
 * and writes it. */
#include "rtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

void rtp_ports_init(struct rtp_ports *ports, const char *bind, long min, long max)
{
	ports->min = min;
	ports->max = max;
	ports->next = 0;
	snprintf(ports->bind, sizeof(ports->bind), "%s", bind);
}

int rtp_port_open(struct rtp_ports *ports, int *fdp, uint16_t *portp)
{
	long min = ports->min + (ports->min & 1);
	long max = ports->max - 1;
	long span = (max - min) / 2 + 1;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	if (span <= 0 || inet_pton(AF_INET, ports->bind, &sa.sin_addr) != 1)
		return EINVAL;
	if (ports->next < min || ports->next > max)
		ports->next = min;
	for (long i = 0; i < span; i++) {
		long port = ports->next;
		ports->next = port + 2 > max ? min : port + 2;
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
