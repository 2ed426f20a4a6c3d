/* api-gateway: REST API, the only Postgres writer, event persister, webhooks. */
#include "service/service.h"

#include "api.h"
#include "auth.h"
#include "db/db.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct gw_cfg {
	struct core_cfg core;
	const char *api_addr;
	const char *api_keys;
	const char *database_url;
	const char *migrations_dir;
};

static const struct cfg_var gw_cfg_vars[] = {
	{ "API_ADDR", CFG_ADDR, "127.0.0.1:8080", true, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, api_addr), "REST API listener" },
	{ "API_KEYS", CFG_STR, NULL, true, true, 0, 0, NULL,
	  offsetof(struct gw_cfg, api_keys), "bearer keys, comma-separated" },
	{ "DATABASE_URL", CFG_URL, NULL, true, true, 0, 0, "postgres|postgresql",
	  offsetof(struct gw_cfg, database_url), "PostgreSQL connection URL" },
	{ "MIGRATIONS_DIR", CFG_STR, "services/api-gateway/migrations", true, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, migrations_dir), "ordered NNN_name.sql files applied at start" },
	{ 0 }
};

struct gateway {
	struct gw_cfg cfg;
	struct service *svc;
	struct auth *auth;
	struct db *db;       /* main thread only */
	bool migrated;
	atomic_bool db_ok;
	struct api *api;
};

static int gw_cfg_check(void *arg, char *err, size_t errlen)
{
	struct gw_cfg *cfg = arg;
	struct auth *a = NULL;
	int e = auth_alloc(&a, cfg->api_keys, err, errlen);
	auth_free(a);
	return e;
}

static const struct service_def gw_def = {
	"api-gateway", gw_cfg_vars, "127.0.0.1:9100", gw_cfg_check
};

static bool gw_ready(char *why, size_t whylen, void *arg)
{
	struct gateway *gw = arg;
	if (!atomic_load(&gw->db_ok)) {
		snprintf(why, whylen, "postgres: %s", gw->migrated ? "unreachable" : "not migrated");
		return false;
	}
	return true;
}

/* Runs on the main thread about once a second: (re)connects to Postgres,
 * applies migrations once, and keeps db_ok current for /readyz. A migration
 * that fails is fatal: serving on a half-migrated schema loses data. */
static void gw_tick(void *arg)
{
	struct gateway *gw = arg;
	if (!gw->db && db_connect(&gw->db, gw->cfg.database_url)) {
		atomic_store(&gw->db_ok, false);
		return;
	}
	if (!gw->migrated) {
		int applied = 0;
		int err = db_migrate(gw->db, gw->cfg.migrations_dir, &applied);
		if (err == EIO) {
			gw->db = db_close(gw->db);
			return;
		}
		if (err) {
			log_error("migrations_failed", "%s: %s; stopping", gw->cfg.migrations_dir,
				  cm_strerror(err));
			lifecycle_request_stop();
			return;
		}
		log_info("migrations_applied", "%d new migration(s) from %s", applied,
			 gw->cfg.migrations_dir);
		gw->migrated = true;
	}
	atomic_store(&gw->db_ok, db_ping(gw->db) == 0);
}

int main(void)
{
	struct gateway gw = { 0 };
	char err[256] = "";
	int rc = 1;

	if (service_start(&gw.svc, &gw_def, &gw.cfg))
		return 1;
	if (auth_alloc(&gw.auth, gw.cfg.api_keys, err, sizeof(err)))
		goto out;
	service_set_ready_check(gw.svc, gw_ready, &gw);
	if (api_start(&gw.api, gw.cfg.api_addr, gw.auth, gw_ready, &gw, gw.svc))
		goto out;
	gw_tick(&gw);
	service_wait(gw.svc, gw_tick, &gw);
	rc = gw.migrated ? 0 : 1;
out:
	gw.api = api_stop(gw.api);
	gw.svc = service_stop(gw.svc);
	gw.db = db_close(gw.db);
	gw.auth = auth_free(gw.auth);
	return rc;
}
