/* Config, NATS, streams, health and signals for every service binary. */
#include "service.h"

#include "httpd/httpd.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct service {
	const char *name;
	char source[EVENT_SOURCE_MAX + 1];
	char instance[96]; /* "<host>-<pid>" when INSTANCE is unset */
	struct bus *bus;
	struct httpd *health;
	service_ready_h *ready;
	void *ready_arg;
	atomic_bool streams_ok;
	atomic_bool serving; /* main reached service_wait(): its subscriptions exist */
	struct metric *up;
	struct httpd_opts http_limits; /* HTTP_MAX_* and HTTP_REQUEST_TIMEOUT_S */
};

static bool health_ready(char *why, size_t whylen, void *arg)
{
	struct service *svc = arg;
	if (!bus_connected(svc->bus)) {
		snprintf(why, whylen, "nats: not connected");
		return false;
	}
	if (!atomic_load(&svc->streams_ok)) {
		snprintf(why, whylen, "nats: JetStream streams not ready");
		return false;
	}
	if (!atomic_load(&svc->serving)) {
		snprintf(why, whylen, "starting");
		return false;
	}
	if (svc->ready && !svc->ready(why, whylen, svc->ready_arg))
		return false;
	return true;
}

/* Streams are created on first connection and re-checked after a reconnect
 * (a fresh server may have lost them). */
static void ensure_streams(struct service *svc)
{
	bool connected = bus_connected(svc->bus);
	if (!connected) {
		atomic_store(&svc->streams_ok, false);
		return;
	}
	if (atomic_load(&svc->streams_ok))
		return;
	int err = bus_ensure_streams(svc->bus);
	if (err == 0) {
		atomic_store(&svc->streams_ok, true);
		log_info("streams_ready", "CALLS and DIALS streams present");
	}
}

void service_args(const struct service_def *def, int argc, char **argv)
{
	if (argc <= 1)
		return;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: %s\n\n%s takes no arguments; it reads these environment "
		       "variables:\n",
		       def->name, def->name);
		cfg_help(stdout, core_cfg_vars, def->default_health_addr);
		cfg_help(stdout, def->vars, def->default_health_addr);
		exit(0);
	}
	fprintf(stderr, "%s: unexpected argument \"%s\" (configuration comes from the environment; "
		"%s --help lists it)\n", def->name, argv[1], def->name);
	exit(2);
}

int service_new(struct service **svcp, const struct service_def *def, void *cfg)
{
	struct core_cfg *core = cfg;
	struct service *svc = NULL;
	const char *name = def->name;
	int err = core_init(name, cfg, def->vars, def->default_health_addr);
	if (err)
		return err;
	if (def->check) {
		char msg[512] = "";
		err = def->check(cfg, msg, sizeof(msg));
		if (err) {
			fprintf(stderr, "%s: config: %s\n", name, msg);
			return err;
		}
	}
	lifecycle_install();

	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return ENOMEM;
	svc->name = name;
	if (!core->instance || !*core->instance) {
		char host[64] = "localhost";
		gethostname(host, sizeof(host) - 1);
		snprintf(svc->instance, sizeof(svc->instance), "%.64s-%ld", host, (long)getpid());
		core->instance = svc->instance; /* lives as long as svc */
	}
	snprintf(svc->source, sizeof(svc->source), "%s/%s", name, core->instance);
	/* after the check and the instance: defaults derived from other
	 * variables (ROOM_BACKEND, INSTANCE) are logged as they are used */
	cfg_log(cfg, core_cfg_vars);
	cfg_log(cfg, def->vars);
	svc->up = metric_gauge("service_up", "1 while the service runs");
	metric_set(svc->up, 1);

	struct bus_auth auth;
	bus_auth_from_cfg(&auth, core);
	err = bus_connect_auth(&svc->bus, core->nats_url, svc->source, &auth);
	if (err) {
		char shown[512];
		log_error("nats_connect_failed", "%s: %s",
			  cfg_url_redact(shown, sizeof(shown), core->nats_url), cm_strerror(err));
		goto out;
	}
	ensure_streams(svc);
	svc->http_limits.max_conns = (unsigned)core->http_max_connections;
	svc->http_limits.max_per_client = (unsigned)core->http_max_per_client;
	svc->http_limits.request_timeout_s = (unsigned)core->http_request_timeout_s;
	err = httpd_health_new(&svc->health, core->health_addr, health_ready, svc,
				 &svc->http_limits);
	if (err) {
		log_error("health_listen_failed", "HEALTH_ADDR %s: %s", core->health_addr,
			  cm_strerror(err));
		goto out;
	}
	log_info("started", "%s up; health on http://%s", svc->source, core->health_addr);
out:
	if (err)
		svc = service_free(svc);
	*svcp = svc;
	return err;
}

void service_set_ready_check(struct service *svc, service_ready_h *ready, void *arg)
{
	svc->ready = ready;
	svc->ready_arg = arg;
}

struct bus *service_bus(struct service *svc)
{
	return svc->bus;
}

const char *service_name(const struct service *svc)
{
	return svc->name;
}

const struct httpd_opts *service_http_limits(const struct service *svc)
{
	return &svc->http_limits;
}

const char *service_source(const struct service *svc)
{
	return svc->source;
}

bool service_bus_ready(struct service *svc)
{
	return bus_connected(svc->bus) && atomic_load(&svc->streams_ok);
}

void service_wait(struct service *svc, void (*tick)(void *arg), void *arg)
{
	atomic_store(&svc->serving, true);
	while (!lifecycle_wait(1000)) {
		ensure_streams(svc);
		if (tick)
			tick(arg);
	}
	log_info("stopping", "stop signal received");
}

struct service *service_free(struct service *svc)
{
	if (!svc)
		return NULL;
	svc->health = httpd_free(svc->health);
	svc->bus = bus_close(svc->bus);
	log_info("stopped", "%s stopped", svc->source);
	free(svc);
	return NULL;
}

int service_run(const struct service_def *def, void *cfg)
{
	struct service *svc = NULL;
	if (service_new(&svc, def, cfg))
		return 1;
	service_wait(svc, NULL, NULL);
	service_free(svc);
	return 0;
}
