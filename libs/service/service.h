/*
 * service — what every callmesh binary does around its own logic: load and
 * validate its config, connect to NATS, make sure the JetStream streams
 * exist, serve /healthz /readyz /metrics on HEALTH_ADDR, and stop cleanly on
 * SIGTERM/SIGINT.
 *
 *   static const struct service_def def = { "room-manager", room_cfg_vars,
 *                                           "127.0.0.1:9101", room_cfg_check };
 *   struct service *svc = NULL;
 *   if (service_new(&svc, &def, &cfg))
 *           return 1;                 // config error already printed
 *   ... subscribe with service_bus(svc) ...
 *   service_wait(svc);                // until a stop signal
 *   svc = service_free(svc);
 */
#ifndef CALLMESH_SERVICE_H
#define CALLMESH_SERVICE_H

#include "bus/bus.h"
#include "core/core.h"

struct httpd_opts;

struct service;

/* A service's own readiness: false with a short reason when a dependency of
 * its own (Postgres, a listener) is not up. Called from the health thread. */
typedef bool (service_ready_h)(char *why, size_t whylen, void *arg);

struct service_def {
	const char *name;
	const struct cfg_var *vars;        /* the service's own variables */
	const char *default_health_addr;
	/* Rules across variables that a table cannot say; writes "NAME: problem"
	 * into err and returns EINVAL. May fill derived defaults. May be NULL. */
	int (*check)(void *cfg, char *err, size_t errlen);
};

/* The command line: --help (or -h) prints the variables the service reads
 * from the environment (core_cfg_vars, then def->vars) and exits 0; any
 * other argument is an error (exit 2). Called first in main(). */
void service_args(const struct service_def *def, int argc, char **argv);

/* Loads core_cfg_vars + def->vars into `cfg` (first member a struct
 * core_cfg) and runs def->check, all before touching the network; then
 * installs signal handlers, connects to NATS (returns even while NATS is
 * down: readiness waits for it) and starts the health listener.
 * Returns EINVAL for a bad config (message on stderr naming the variable). */
int service_new(struct service **svcp, const struct service_def *def, void *cfg) CM_MUST_USE;

/* Adds a readiness check of the service's own (borrowed `arg`). */
void service_set_ready_check(struct service *svc, service_ready_h *ready, void *arg);

/* Borrowed; valid until service_free(). */
struct bus *service_bus(struct service *svc);
const char *service_name(const struct service *svc);
/* "<service>/<instance>", the `source` of events this process publishes. */
const char *service_source(const struct service *svc);
/* HTTP_MAX_CONNECTIONS, HTTP_MAX_PER_CLIENT and HTTP_REQUEST_TIMEOUT_S as
 * the limit fields of an httpd_opts (its other fields zero), for every
 * listener the service runs. */
const struct httpd_opts *service_http_limits(const struct service *svc);

/* True once NATS is connected and the CALLS/DIALS streams exist. */
bool service_bus_ready(struct service *svc);

/* Readiness waits for this call: a service calls it once everything it
 * serves (subscriptions, listeners) is set up.
 * Blocks until a stop signal, calling `tick` (may be NULL) about once a
 * second from this thread (for work that belongs to the main thread, such
 * as a per-thread database connection's health). */
void service_wait(struct service *svc, void (*tick)(void *arg), void *arg);

/* start → wait → stop, for a service with nothing of its own on the main
 * thread. Returns the process exit code. */
int service_run(const struct service_def *def, void *cfg);

/* Stops the health listener, drains NATS, frees. NULL-safe, returns NULL. */
struct service *service_free(struct service *svc);

#endif
