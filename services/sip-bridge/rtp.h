/* RTP ports towards the carrier (rtp.c; the sofia thread only). */
#ifndef SIP_BRIDGE_RTP_H
#define SIP_BRIDGE_RTP_H

#include "core/core.h"

#include <stdint.h>

struct rtp_ports {
	long min, max;     /* RTP_PORT_MIN..MAX */
	long next;
	char bind[64];     /* IPv4 literal the sockets bind to */
};
/* bind is copied. */
void rtp_ports_init(struct rtp_ports *ports, const char *bind, long min, long max);
/* Binds a UDP socket on an even port in min..max (RTCP = +1 kept free by
 * stepping 2). *fdp, *portp on success; EADDRNOTAVAIL when none is free. */
int rtp_port_open(struct rtp_ports *ports, int *fdp, uint16_t *portp) CM_MUST_USE;

#endif
