/* Private to libs/bus: the structs behind struct bus and struct bus_sub. */
#ifndef CALLMESH_BUS_PRIV_H
#define CALLMESH_BUS_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <nats/nats.h>

#include "bus.h"

struct bus {
	natsConnection *nc;
	jsCtx *js;
	char name[64];
	pthread_mutex_t mu;  /* guards closing/closed */
	pthread_cond_t cond; /* signalled by the closed callback */
	bool closing;
	bool closed;
	atomic_ullong js_async_failed; /* since the last bus_js_publish_async_wait() */
	atomic_ullong denied;          /* permissions / authorization violations */
	pthread_mutex_t pub_mu;        /* guards pubs, npubs, pubs_max */
	pthread_cond_t pub_cv;         /* CLOCK_MONOTONIC; broadcast when an ack comes in */
	struct bus_js_pub *pubs;       /* pipelined publishes not yet freed */
	int npubs;
	int pubs_max;
};

/* One pipelined JetStream publish (bus_js_pub_send), linked from send to
 * free; the ack handler finds it by the natsMsg it sent, which stays alive
 * until the handler returns. */
struct bus_js_pub {
	struct bus *bus;
	natsMsg *msg;            /* key only: nats.c owns it once sent */
	struct bus_js_pub *next; /* in bus->pubs while linked (until freed) */
	bool linked;
	bool done;               /* the ack (or its failure) came in */
	int err;
	int timeout_ms;
};

struct bus_sub {
	struct bus *bus;      /* borrowed */
	natsSubscription *ns; /* owned */
	bus_msg_h *h;
	void *arg;
	bool pull;            /* JetStream pull subscription (bus_js_pull_sub) */
};

/* A message handed to a bus_js_fetch() handler; bus_msg.priv points here. */
struct bus_js_msg {
	natsMsg *nm; /* borrowed from the fetched list */
	bool acked;
};

/* natsStatus → errno value (see bus.h). */
int bus_status_err(natsStatus s);
/* Fills *m from nm; every pointer borrows from nm. */
void bus_msg_fill(struct bus_msg *m, natsMsg *nm);

#endif
