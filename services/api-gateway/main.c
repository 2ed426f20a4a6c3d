/* api-gateway: REST API, the only Postgres writer, event persister, webhooks. */
#include "service/service.h"

#include "api.h"
#include "auth.h"
#include "db/db.h"
#include "lkwebhook.h"
#include "owners.h"
#include "persist.h"
#include "record_cache.h"
#include "secret/secret.h"
#include "trunks.h"
#include "webhook.h"


#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct gw_cfg {
	struct core_cfg core;
	const char *api_addr;
	const char *api_keys;
	const char *database_url;
	const char *migrations_dir;
	long api_threads;
	bool db_prepared;
	long js_pending_max;
	const char *livekit_api_key;
	const char *livekit_api_secret;
	long webhook_settle_s;
	long webhook_timeout_s;
	long owner_timeout_s;
	long dial_queue_timeout_s;
	const char *console_dir;
	const char *recordings_dir;
	long events_max;
	const char *secrets_key;
	const char *secrets_key_previous;
	const char *webhook_signing_secret;
	bool outbound_allow_private;
};

static const struct cfg_var gw_cfg_vars[] = {
	{ "API_ADDR", CFG_ADDR, "127.0.0.1:8080", true, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, api_addr), "REST API listener" },
	{ "API_KEYS", CFG_STR, NULL, true, true, 0, 0, NULL, offsetof(struct gw_cfg, api_keys),
	  "bearer keys, comma-separated" },
	{ "DATABASE_URL", CFG_URL, NULL, true, true, 0, 0, "postgres|postgresql",
	  offsetof(struct gw_cfg, database_url), "PostgreSQL connection URL" },
	{ "MIGRATIONS_DIR", CFG_STR, "services/api-gateway/migrations", true, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, migrations_dir), "ordered NNN_name.sql files applied at start" },
	{ "API_THREADS", CFG_INT, "8", true, false, 1, 64, NULL,
	  offsetof(struct gw_cfg, api_threads),
	  "REST handler threads, each with its own PostgreSQL connection" },
	{ "DB_PREPARED", CFG_BOOL, "true", false, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, db_prepared),
	  "the REST handlers prepare their statements once per connection; false behind a "
	  "transaction-mode pooler (PgBouncer)" },
	{ "API_JS_PENDING_MAX", CFG_INT, "1024", true, false, 1, 65536, NULL,
	  offsetof(struct gw_cfg, js_pending_max),
	  "call events sent to JetStream whose ack a request still awaits; past it a new call is "
	  "refused 503 overloaded" },
	{ "LIVEKIT_API_KEY", CFG_STR, "", false, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, livekit_api_key),
	  "verifies POST /livekit/webhook (unset: every webhook is refused)" },
	{ "LIVEKIT_API_SECRET", CFG_STR, "", false, true, 0, 0, NULL,
	  offsetof(struct gw_cfg, livekit_api_secret), "LiveKit API secret (webhook signatures)" },
	{ "WEBHOOK_SETTLE_S", CFG_INT, "10", true, false, 1, 600, NULL,
	  offsetof(struct gw_cfg, webhook_settle_s),
	  "end-of-call webhook: longest wait for recording/transcript after the end" },
	{ "WEBHOOK_TIMEOUT_S", CFG_INT, "10", true, false, 1, 120, NULL,
	  offsetof(struct gw_cfg, webhook_timeout_s), "end-of-call webhook: per attempt" },
	{ "OWNER_TIMEOUT_S", CFG_INT, "10", true, false, 2, 600, NULL,
	  offsetof(struct gw_cfg, owner_timeout_s),
	  "a call its owner stops listing for this long ends failed (owner_lost)" },
	{ "DIAL_QUEUE_TIMEOUT_S", CFG_INT, "300", true, false, 1, 86400, NULL,
	  offsetof(struct gw_cfg, dial_queue_timeout_s),
	  "an outbound call no dialer takes within this is not dialed: dialers drop its job and "
	  "the call ends failed (not_dialed)" },
	{ "CONSOLE_DIR", CFG_STR, "console", true, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, console_dir), "the console's static files, served at /" },
	{ "RECORDINGS_DIR", CFG_STR, "var/recordings", true, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, recordings_dir),
	  "GET /calls/{id}/recording serves files inside this folder only" },
	{ "EVENTS_MAX_CLIENTS", CFG_INT, "32", true, false, 1, 1024, NULL,
	  offsetof(struct gw_cfg, events_max), "GET /events streams open at once" },
	{ "SECRETS_KEY", CFG_STR, NULL, true, true, 0, 0, NULL,
	  offsetof(struct gw_cfg, secrets_key),
	  "seals trunk passwords (AES-256-GCM) in PostgreSQL and in dial jobs: base64 of 32 random "
	  "bytes, the same in sip-bridge" },
	{ "SECRETS_KEY_PREVIOUS", CFG_STR, "", false, true, 0, 0, NULL,
	  offsetof(struct gw_cfg, secrets_key_previous),
	  "the key before a rotation: still opens what it sealed; rows are re-sealed at start" },
	{ "WEBHOOK_SIGNING_SECRET", CFG_STR, NULL, true, true, 0, 0, NULL,
	  offsetof(struct gw_cfg, webhook_signing_secret),
	  "signs end-of-call webhooks (HMAC-SHA256, X-Callmesh-Signature); at least 32 "
	  "characters" },
	{ "OUTBOUND_ALLOW_PRIVATE", CFG_BOOL, "false", false, false, 0, 0, NULL,
	  offsetof(struct gw_cfg, outbound_allow_private),
	  "let webhooks and provider base URLs reach loopback, private and link-local addresses "
	  "(local development only)" },
	{ 0 }
};

struct gateway {
	struct gw_cfg cfg;
	struct service *svc;
	struct auth *auth;
	struct db *db;       /* main thread only */
	struct db_pool *pool; /* the API handlers' connections */
	struct lkwebhook *lk;
	/* GET /calls/{id} bodies; the API threads and the persister bracket
	 * their writes on it. Another instance's writes reach it only through
	 * its TTL (record_cache.h, docs/decisions.md). */
	struct record_cache *cache;
	struct persist *persist;   /* started once migrations are applied */
	struct webhook *webhook;
	struct owners *owners;
	struct secret_keys *keys;
	bool migrated;
	atomic_bool db_ok;
	struct api *api;
};

static int gw_cfg_check(void *arg, char *err, size_t errlen)
{
	struct gw_cfg *cfg = arg;
	struct auth *a = NULL;
	struct secret_keys *k = NULL;
	int e = auth_new(&a, cfg->api_keys, err, errlen);
	auth_free(a);
	if (!e)
		e = secret_keys_load(&k, cfg->secrets_key, cfg->secrets_key_previous, err, errlen);
	secret_keys_free(k);
	if (!e && strlen(cfg->webhook_signing_secret) < 32) {
		snprintf(err, errlen, "WEBHOOK_SIGNING_SECRET: at least 32 characters "
			 "(e.g. `openssl rand -hex 32`)");
		e = EINVAL;
	}
	return e;
}

static const struct service_def gw_def = {
	"api-gateway", gw_cfg_vars, "127.0.0.1:9100", gw_cfg_check
};

static bool gw_ready(char *why, size_t whylen, void *arg)
{
	struct gateway *gw = arg;
	if (!atomic_load(&gw->db_ok)) {
		snprintf(why, whylen, "postgres: %s",
			 gw->migrated ? "unreachable" : "not migrated");
		return false;
	}
	return true;
}

/* The workers that need the schema: the CALLS persister, end-of-call
 * webhooks and owner liveness. Each retries its own connections. A worker
 * that cannot start at all (out of memory, no thread) stops the service. */
static void gw_start_workers(struct gateway *gw)
{
	const char *url = gw->cfg.database_url, *src = service_source(gw->svc);
	struct bus *bus = service_bus(gw->svc);
	struct webhook_opts wo = { .settle_s = (int)gw->cfg.webhook_settle_s,
				   .timeout_s = (int)gw->cfg.webhook_timeout_s,
				   .signing_secret = gw->cfg.webhook_signing_secret,
				   .allow_private = gw->cfg.outbound_allow_private };
	struct owners_opts oo = { .timeout_s = (int)gw->cfg.owner_timeout_s,
				  .dial_queue_timeout_s = (int)gw->cfg.dial_queue_timeout_s };
	int err = persist_new(&gw->persist, bus, url, src, gw->cache, gw->cfg.db_prepared);
	if (!err)
		err = webhook_new(&gw->webhook, bus, url, src, &wo);
	if (!err)
		err = owners_new(&gw->owners, bus, url, src, &oo);
	if (err) {
		log_error("workers_failed", "persister/webhooks/owners: %s; stopping",
			  cm_strerror(err));
		lifecycle_request_stop();
	}
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
		/* rows from before sealing, or sealed under the previous key */
		int sealed = 0;
		err = trunks_seal_stored(gw->db, gw->keys, &sealed);
		if (err == EIO) {
			gw->db = db_close(gw->db);
			return;
		}
		if (err) {
			log_error("trunk_sealing_failed", "%s; stopping", cm_strerror(err));
			lifecycle_request_stop();
			return;
		}
		if (sealed)
			log_info("trunk_secrets_sealed",
				 "%d trunk password(s) sealed with SECRETS_KEY", sealed);
		gw->migrated = true;
		gw_start_workers(gw);
	}
	atomic_store(&gw->db_ok, db_ping(gw->db) == 0);
}

int main(int argc, char **argv)
{
	service_args(&gw_def, argc, argv);
	struct gateway gw = { 0 };
	char err[256] = "";
	int rc = 1;

	if (service_new(&gw.svc, &gw_def, &gw.cfg))
		return 1;
	if (auth_new(&gw.auth, gw.cfg.api_keys, err, sizeof(err)))
		goto out;
	if (secret_keys_load(&gw.keys, gw.cfg.secrets_key, gw.cfg.secrets_key_previous, err,
			     sizeof(err)))
		goto out;
	service_set_ready_check(gw.svc, gw_ready, &gw);
	if (db_pool_new(&gw.pool, gw.cfg.database_url, (int)gw.cfg.api_threads,
			gw.cfg.db_prepared))
		goto out;
	bus_js_pub_limit(service_bus(gw.svc), (int)gw.cfg.js_pending_max);
	if (lkwebhook_new(&gw.lk, service_bus(gw.svc), gw.cfg.livekit_api_key,
			  gw.cfg.livekit_api_secret, service_source(gw.svc)))
		goto out;
	if (record_cache_new(&gw.cache, RECORD_CACHE_ENTRIES, RECORD_CACHE_BYTES,
			     RECORD_CACHE_TTL_MS))
		goto out;
	if (api_new(&gw.api, gw.cfg.api_addr, (unsigned)gw.cfg.api_threads, gw.auth, gw.pool,
		    gw.lk, gw.cache, gw.keys,
		    &(struct api_policy){ gw.cfg.outbound_allow_private,
					  (int)gw.cfg.dial_queue_timeout_s },
		    gw_ready, &gw, gw.svc,
		    &(struct api_console_cfg){ gw.cfg.console_dir, gw.cfg.recordings_dir,
					       (unsigned)gw.cfg.events_max }))
		goto out;
	gw_tick(&gw);
	service_wait(gw.svc, gw_tick, &gw);
	rc = gw.migrated ? 0 : 1;
out:
	gw.api = api_free(gw.api);
	gw.owners = owners_free(gw.owners);
	gw.webhook = webhook_free(gw.webhook);
	gw.persist = persist_free(gw.persist);
	gw.cache = record_cache_free(gw.cache);
	gw.lk = lkwebhook_free(gw.lk);
	gw.pool = db_pool_free(gw.pool);
	gw.svc = service_free(gw.svc);
	gw.db = db_close(gw.db);
	gw.auth = auth_free(gw.auth);
	gw.keys = secret_keys_free(gw.keys);
	return rc;
}
