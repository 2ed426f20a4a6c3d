/* End-of-call webhooks: claim a settled terminal call, POST its record. */
#include "webhook.h"

#include "db/db.h"
#include "egress/egress.h"
#include "httpc/httpc.h"
#include "persist.h"
#include "record.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS         1000
#define WORKERS_MAX     16
#define PUBLISH_TRIES   3
#define URL_MAX         2048
#define SWEEP_MS        60000 /* how often worker 0 looks for interrupted deliveries */

struct webhook;

struct wh_worker {
	struct webhook *wh;
	int index;
	pthread_t thread;
	bool started;
	struct db *db;
	char unloaded[ID_UUID_LEN + 1]; /* the call whose record last failed to load */
	int unloaded_tries;
	char unloaded_why[200];          /* PostgreSQL's reason, "" when it gave none */
};

#define LOAD_TRIES 5 /* a record that fails to load this often is given up */

struct webhook {
	struct bus *bus;
	char *url;
	char *source;
	struct webhook_opts opts;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool kicked;
	int nworkers;
	int stale_s; /* a claim this old without an outcome was interrupted */
	struct wh_worker workers[WORKERS_MAX];
};

#define TERMINAL_SQL \
	"('completed','busy','no_answer','rejected','cancelled','unreachable','timeout','failed')"

/* Calls c2 (joined to their assistant a2) whose webhook is due. */
#define SETTLED_SQL                                                                         \
	" FROM calls c2 JOIN assistants a2 ON a2.id = c2.assistant_id"                      \
	"   WHERE c2.webhook_claimed_at IS NULL AND c2.status IN " TERMINAL_SQL              \
	"     AND a2.end_call_url IS NOT NULL AND a2.end_call_url <> ''"                     \
	"     AND ((c2.kind = 'outbound' AND c2.answered_at IS NULL)"                        \
	"       OR coalesce(c2.ended_at, c2.updated_at) <= now() - make_interval(secs => $1::int)" \
	"       OR EXISTS (SELECT 1 FROM call_events e WHERE e.call_id = c2.id"              \
	"                   AND e.type = 'recording_ready')"                                 \
	"       OR (SELECT e.type FROM call_events e WHERE e.call_id = c2.id"                \
	"            AND e.type IN ('recording_started', 'recording_failed')"                \
	"            ORDER BY e.ts DESC, e.received_at DESC LIMIT 1) = 'recording_failed')"

/* Whether any is due: one round trip while idle instead of a transaction's three. */
static const char due_sql[] = "SELECT 1" SETTLED_SQL " LIMIT 1";

/* These touch only webhook_* columns, which the call record does not show
 * (record.c), so they need no record_cache bracket; the outcome reaches the
 * record as a webhook_delivered/webhook_failed event through the persister. */
static const char claim_sql[] =
	"UPDATE calls c SET webhook_claimed_at = now(),"
	" webhook_stale_at = now() + make_interval(secs => $2::int)"
	"  FROM assistants a"
	" WHERE a.id = c.assistant_id AND c.id = ("
	"  SELECT c2.id" SETTLED_SQL
	"   ORDER BY c2.ended_at NULLS FIRST LIMIT 1"
	"   FOR UPDATE OF c2 SKIP LOCKED)"
	" RETURNING c.id, c.room, a.end_call_url";

static const char skip_sql[] =
	"UPDATE calls c SET webhook_claimed_at = now(), webhook_status = 'skipped'"
	" WHERE c.webhook_claimed_at IS NULL AND c.status IN " TERMINAL_SQL
	"   AND NOT EXISTS (SELECT 1 FROM assistants a WHERE a.id = c.assistant_id"
	"                    AND a.end_call_url IS NOT NULL AND a.end_call_url <> '')";

/* Claims past their webhook_stale_at (set by the claimer: longer than any
 * of its deliveries takes; for older claims, the sweeper's own $1 seconds
 * after the claim), with no outcome: their api-gateway died mid-delivery.
 * Recorded, never sent again (at most once); a call whose outcome event was
 * stored (only done_sql failed) gets that outcome. */
static const char sweep_sql[] =
	"UPDATE calls c SET webhook_done_at = now(), webhook_status = CASE WHEN EXISTS"
	"   (SELECT 1 FROM call_events e WHERE e.call_id = c.id"
	"     AND e.type = 'webhook_delivered') THEN 'delivered' ELSE 'failed' END"
	"  FROM assistants a"
	" WHERE a.id = c.assistant_id AND c.webhook_claimed_at IS NOT NULL"
	"   AND c.webhook_status IS NULL"
	"   AND coalesce(c.webhook_stale_at,"
	"                c.webhook_claimed_at + make_interval(secs => $1::int)) < now()"
	" RETURNING c.id, c.room, a.end_call_url, EXISTS (SELECT 1 FROM call_events e"
	"   WHERE e.call_id = c.id AND e.type IN ('webhook_delivered', 'webhook_failed')),"
	"   (extract(epoch from now() - c.webhook_claimed_at))::bigint";

static const char done_sql[] =
	"UPDATE calls SET webhook_status = $2, webhook_attempts = $3::int, webhook_done_at = now()"
	" WHERE id = $1";

/* The receiver's answer is not read, only its status: the body is dropped
 * as it arrives, whatever its size. */
static bool discard(const char *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(void)arg;
	return true;
}

int webhook_sign(char out[72], const char *secret, long long ts, const char *body, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char prefix[32];
	int n = snprintf(prefix, sizeof(prefix), "%lld.", ts);
	int rc = EIO;
	/* HMAC over "<ts>." then the body, without copying the body */
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
				OSSL_PARAM_construct_end() };
	size_t outl = 0;
	if (ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)n) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)body, len) == 1 &&
	    EVP_MAC_final(ctx, md, &outl, sizeof(md)) == 1 && outl == 32) {
		mdlen = (unsigned int)outl;
		memcpy(out, "v1=", 3);
		for (unsigned int i = 0; i < mdlen; i++)
			snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
		rc = 0;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

int webhook_post(long *statusp, const char *url, const char *body, size_t len,
		 const struct webhook_target *t, char *err, size_t errlen)
{
	char refused[256] = "";
	char ts_hdr[64], sig_hdr[128], sig[72];
	const char *hdrs[5] = { "Content-Type: application/json", "Expect:" };
	struct egress_guard guard = { t->allow_private, refused, sizeof(refused) };
	struct httpc_resp resp;
	int timeout_s = t->timeout_s > 0 ? t->timeout_s : 10;

	*statusp = 0;
	if (err && errlen)
		err[0] = '\0';
	if (egress_url_check(url, t->allow_private, refused, sizeof(refused))) {
		if (err && errlen)
			snprintf(err, errlen, "%s", refused);
		return EACCES;
	}
	if (t->signing_secret) {
		long long ts = (long long)(time_now_ms() / 1000);
		if (webhook_sign(sig, t->signing_secret, ts, body, len))
			return EIO;
		snprintf(ts_hdr, sizeof(ts_hdr), "X-Callmesh-Timestamp: %lld", ts);
		snprintf(sig_hdr, sizeof(sig_hdr), "X-Callmesh-Signature: %s", sig);
		hdrs[2] = ts_hdr;
		hdrs[3] = sig_hdr;
	}
	const struct httpc_req req = {
		.method = "POST",
		.url = url,
		.headers = hdrs,
		.body = body,
		.body_len = len,
		.timeout_ms = (long)timeout_s * 1000L,
		.max_response = SIZE_MAX,
		.allow = egress_allow,
		.allow_arg = &guard,
		.user_agent = "callmesh-webhook/1",
		.on_body = discard,
	};
	int rc = httpc_do(&resp, &req, err, errlen);
	if (rc == 0)
		*statusp = resp.status;
	else if (rc == EACCES && refused[0] && err && errlen)
		snprintf(err, errlen, "%s", refused);
	httpc_resp_fini(&resp);
	return rc;
}

static bool wh_stopping(struct webhook *wh)
{
	pthread_mutex_lock(&wh->mu);
	bool s = wh->stop;
	pthread_mutex_unlock(&wh->mu);
	return s;
}

/* Waits until kicked, stopped or timeout_ms; consumes a kick. */
static void wh_idle(struct webhook *wh, int timeout_ms)
{
	struct timespec ts;
	time_deadline(&ts, CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&wh->mu);
	while (!wh->stop && !wh->kicked) {
		if (pthread_cond_timedwait(&wh->cv, &wh->mu, &ts) == ETIMEDOUT)
			break;
	}
	wh->kicked = false;
	pthread_mutex_unlock(&wh->mu);
}

/* The URL as events name it: calls.> is read by identities that may not read
 * the assistant (the viewer), so no userinfo, query or fragment, where
 * receivers put their credentials. */
static void publish_outcome(struct webhook *wh, const char *call_id, const char *room,
			    const char *url, bool delivered, long status, int attempts,
			    const char *error)
{
	char shown[URL_MAX];
	struct event *ev = NULL;
	int err = event_new(&ev, delivered ? EV_WEBHOOK_DELIVERED : EV_WEBHOOK_FAILED, call_id,
			    room, wh->source);
	if (!err)
		err = persist_event_id(ev->id, "webhook", call_id);
	if (httpc_url_public(shown, sizeof(shown), url))
		shown[0] = '\0'; /* not a URL: nothing of it is shown */
	if (!err)
		err = event_set_str(ev, "url", shown);
	if (!err && status >= 100 && status <= 599)
		err = event_set_int(ev, "status_code", status);
	if (!err && attempts > 0)
		err = event_set_int(ev, "attempts", attempts);
	if (!err && !delivered)
		err = event_set_str(ev, "error", error && *error ? error : "failed");
	for (int i = 0; !err && i < PUBLISH_TRIES; i++) {
		err = bus_publish_event(wh->bus, ev);
		if (err != EAGAIN && err != ETIMEDOUT)
			break;
		if (i + 1 < PUBLISH_TRIES && persist_wait(&wh->mu, &wh->cv, &wh->stop, 500))
			break;
	}
	if (err)
		log_warn("webhook_event_failed", "call %s: %s event not published: %s", call_id,
			 delivered ? "webhook_delivered" : "webhook_failed", cm_strerror(err));
	event_free(ev);
}

static bool url_ok(const char *url)
{
	return url && strlen(url) < URL_MAX &&
	       (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
}

/* Delivers one claimed call whose record claim() loaded (rec, taken), or
 * reports why it could not be loaded (load_err, w->unloaded_why). */
static void deliver(struct wh_worker *w, const char *call_id, const char *room, const char *url,
		    cJSON *rec, int load_err)
{
	struct webhook *wh = w->wh;
	char *body = NULL;
	char error[256] = "";
	long status = 0;
	int attempts = 0, err = 0;
	bool delivered = false;

	if (!url_ok(url)) {
		snprintf(error, sizeof(error), "end_call_url is not an http(s) URL");
		goto done;
	}
	if (load_err || !rec)
		err = load_err ? load_err : EIO;
	else if (!(body = cJSON_PrintUnformatted(rec)))
		err = ENOMEM;
	if (err) {
		snprintf(error, sizeof(error), "record not loaded: %s",
			 load_err && w->unloaded_why[0] ? w->unloaded_why : cm_strerror(err));
		goto done;
	}
	int delay = wh->opts.backoff_ms;
	struct webhook_target t = { wh->opts.timeout_s, wh->opts.signing_secret,
				    wh->opts.allow_private };
	while (attempts < wh->opts.attempts) {
		attempts++;
		err = webhook_post(&status, url, body, strlen(body), &t, error, sizeof(error));
		if (err == EACCES)
			break; /* the destination is refused: final */
		if (!err && status >= 200 && status < 300) {
			delivered = true;
			break;
		}
		if (!err) {
			snprintf(error, sizeof(error), "HTTP %ld", status);
			if (status != 429 && status < 500)
				break; /* the receiver refused it: final */
		}
		log_warn("webhook_attempt_failed", "call %s attempt %d: %s", call_id, attempts,
			 error);
		if (attempts >= wh->opts.attempts)
			break;
		if (persist_wait(&wh->mu, &wh->cv, &wh->stop, delay)) {
			snprintf(error, sizeof(error), "stopped while retrying (last: HTTP %ld)",
				 status);
			break;
		}
		delay *= 2;
	}
done:
	if (delivered)
		log_info("webhook_delivered", "call %s: HTTP %ld after %d attempt(s)", call_id,
			 status, attempts);
	else
		log_warn("webhook_failed", "call %s: %s after %d attempt(s)", call_id, error,
			 attempts);
	char att[16];
	snprintf(att, sizeof(att), "%d", attempts);
	const char *params[] = { call_id, delivered ? "delivered" : "failed", att };
	int derr = db_exec(w->db, NULL, done_sql, 3, params);
	if (derr)
		log_warn("webhook_record_failed", "call %s: %s", call_id, cm_strerror(derr));
	if (url_ok(url))
		publish_outcome(wh, call_id, room, url, delivered, status,
				attempts > 0 ? attempts : 1, error);
	cJSON_Delete(rec);
	cJSON_free(body);
}

/* Claims one settled call and loads its record (*recp) in one transaction:
 * a claim is committed only with the record in hand, so a database that goes
 * away between the two leaves the call unclaimed, for a later try, instead
 * of claimed and never sent. A record that fails to load for another reason,
 * or LOAD_TRIES times in a row, is claimed with the reason (*load_errp), so
 * one bad row cannot hold a worker. ENOENT when there is no call to claim.
 * Strings copied out. */
static int claim(struct wh_worker *w, char id[ID_UUID_LEN + 1], char room[EVENT_ROOM_MAX + 1],
		 char **urlp, cJSON **recp, int *load_errp)
{
	struct db_result *res = NULL;
	char settle[16];
	*recp = NULL;
	*urlp = NULL;
	*load_errp = 0;
	char stale[16];
	snprintf(settle, sizeof(settle), "%d", w->wh->opts.settle_s);
	snprintf(stale, sizeof(stale), "%d", w->wh->stale_s);
	const char *params[] = { settle, stale };
	int err = db_exec(w->db, &res, due_sql, 1, params);
	int due = err ? 0 : db_result_rows(res);
	res = db_result_free(res);
	if (err || !due)
		return err ? err : ENOENT;
	err = db_begin(w->db);
	if (err)
		return err;
	err = db_exec(w->db, &res, claim_sql, 2, params);
	if (err)
		goto out;
	if (db_result_rows(res) != 1) {
		err = ENOENT;
		goto out;
	}
	const char *cid = db_result_get(res, 0, 0), *r = db_result_get(res, 0, 1),
		   *url = db_result_get(res, 0, 2);
	if (!cid || strlen(cid) != ID_UUID_LEN || !r || !url) {
		err = EINVAL;
		goto out;
	}
	memcpy(id, cid, ID_UUID_LEN + 1);
	snprintf(room, EVENT_ROOM_MAX + 1, "%s", r);
	*urlp = strdup(url);
	if (!*urlp)
		err = ENOMEM;
	/* a statement that fails aborts the transaction: the claim is kept
	 * past a failed load by rolling back to this savepoint */
	if (!err)
		err = db_exec(w->db, NULL, "SAVEPOINT record_load", 0, NULL);
	if (!err) {
		int lerr = record_load(w->db, recp, id);
		snprintf(w->unloaded_why, sizeof(w->unloaded_why), "%s",
			 lerr ? db_last_error(w->db) : "");
		bool again = strcmp(w->unloaded, id) == 0;
		w->unloaded_tries = lerr ? (again ? w->unloaded_tries : 0) + 1 : 0;
		snprintf(w->unloaded, sizeof(w->unloaded), "%s", lerr ? id : "");
		if ((lerr == EIO || lerr == EAGAIN || lerr == ETIMEDOUT) &&
		    w->unloaded_tries < LOAD_TRIES)
			err = lerr; /* rolled back: claimed again once the database answers */
		else if (lerr)
			err = db_exec(w->db, NULL, "ROLLBACK TO SAVEPOINT record_load", 0, NULL);
		*load_errp = err ? 0 : lerr;
	}
	if (!err)
		err = db_commit(w->db);
out:
	if (err) {
		db_rollback(w->db);
		cJSON_Delete(*recp);
		*recp = NULL;
		free(*urlp);
		*urlp = NULL;
	}
	db_result_free(res);
	return err;
}

/* Records interrupted deliveries (sweep_sql) and tells of them. */
static int sweep(struct wh_worker *w)
{
	struct webhook *wh = w->wh;
	struct db_result *res = NULL;
	char stale[16];
	snprintf(stale, sizeof(stale), "%d", wh->stale_s);
	const char *params[] = { stale };
	int err = db_exec(w->db, &res, sweep_sql, 1, params);
	for (int r = 0; !err && r < db_result_rows(res); r++) {
		const char *id = db_result_get(res, r, 0), *room = db_result_get(res, r, 1);
		const char *url = db_result_get(res, r, 2), *told = db_result_get(res, r, 3);
		const char *age = db_result_get(res, r, 4);
		if (!id || !room || (told && strcmp(told, "t") == 0))
			continue;
		log_warn("webhook_interrupted",
			 "call %s: claimed %s s ago and never finished (its api-gateway "
			 "stopped mid-delivery); recorded as failed, not sent again",
			 id, age ? age : "?");
		publish_outcome(wh, id, room, url, false, 0, 0,
				"interrupted: the api-gateway delivering it stopped; not sent "
				"again (at most once)");
	}
	db_result_free(res);
	return err;
}

static void *worker_main(void *arg)
{
	struct wh_worker *w = arg;
	struct webhook *wh = w->wh;
	int backoff = 250;
	int64_t swept_ms = -1; /* -1: never, so the first sweep runs at once */

	while (!wh_stopping(wh)) {
		if (!w->db && db_connect(&w->db, wh->url) != 0) {
			persist_wait(&wh->mu, &wh->cv, &wh->stop, backoff);
			backoff = backoff >= 5000 ? 5000 : backoff * 2;
			continue;
		}
		if (w->index == 0 && (swept_ms < 0 || time_mono_ms() - swept_ms >= SWEEP_MS)) {
			swept_ms = time_mono_ms();
			if (sweep(w) == EIO) {
				w->db = db_close(w->db);
				continue;
			}
		}
		if (w->index == 0) {
			int serr = db_exec(w->db, NULL, skip_sql, 0, NULL);
			if (serr == EIO) {
				w->db = db_close(w->db);
				continue;
			}
		}
		char id[ID_UUID_LEN + 1], room[EVENT_ROOM_MAX + 1];
		char *url = NULL;
		cJSON *rec = NULL;
		int load_err = 0;
		int err = claim(w, id, room, &url, &rec, &load_err);
		if (err == ENOENT) {
			backoff = 250;
			wh_idle(wh, POLL_MS);
			continue;
		}
		if (err) {
			if (err == EIO)
				w->db = db_close(w->db);
			persist_wait(&wh->mu, &wh->cv, &wh->stop, backoff);
			backoff = backoff >= 5000 ? 5000 : backoff * 2;
			continue;
		}
		deliver(w, id, room, url, rec, load_err);
		free(url);
	}
	w->db = db_close(w->db);
	return NULL;
}

int webhook_new(struct webhook **whp, struct bus *bus, const char *database_url,
		const char *source, const struct webhook_opts *opts)
{
	struct webhook *wh = NULL;
	int err = 0;

	if (!whp || !bus || !database_url || !source)
		return EINVAL;
	wh = calloc(1, sizeof(*wh));
	if (!wh)
		return ENOMEM;
	wh->bus = bus;
	if (opts)
		wh->opts = *opts;
	if (wh->opts.settle_s <= 0)
		wh->opts.settle_s = 10;
	if (wh->opts.timeout_s <= 0)
		wh->opts.timeout_s = 10;
	if (wh->opts.workers <= 0)
		wh->opts.workers = 2;
	if (wh->opts.workers > WORKERS_MAX)
		wh->opts.workers = WORKERS_MAX;
	if (wh->opts.attempts <= 0)
		wh->opts.attempts = 4;
	if (wh->opts.backoff_ms <= 0)
		wh->opts.backoff_ms = 1000;
	/* twice the longest delivery: every attempt's timeout and the backoffs */
	long longest = (long)wh->opts.attempts * wh->opts.timeout_s +
		       (long)wh->opts.backoff_ms * ((1L << (wh->opts.attempts - 1)) - 1) / 1000;
	wh->stale_s = wh->opts.stale_s > 0 ? wh->opts.stale_s : (int)(2 * longest + 60);
	wh->url = strdup(database_url);
	wh->source = strdup(source);
	if (!wh->url || !wh->source) {
		free(wh->url);
		free(wh->source);
		free(wh);
		return ENOMEM;
	}
	pthread_mutex_init(&wh->mu, NULL);
	err = persist_cond_init(&wh->cv);
	if (err) {
		pthread_mutex_destroy(&wh->mu);
		free(wh->url);
		free(wh->source);
		free(wh);
		return err;
	}
	for (int i = 0; i < wh->opts.workers; i++) {
		struct wh_worker *w = &wh->workers[i];
		w->wh = wh;
		w->index = i;
		err = pthread_create(&w->thread, NULL, worker_main, w);
		if (err)
			break;
		w->started = true;
		wh->nworkers++;
	}
	if (err) {
		webhook_free(wh);
		return err;
	}
	*whp = wh;
	return 0;
}

void webhook_kick(struct webhook *wh)
{
	if (!wh)
		return;
	pthread_mutex_lock(&wh->mu);
	wh->kicked = true;
	pthread_cond_broadcast(&wh->cv);
	pthread_mutex_unlock(&wh->mu);
}

struct webhook *webhook_free(struct webhook *wh)
{
	if (!wh)
		return NULL;
	pthread_mutex_lock(&wh->mu);
	wh->stop = true;
	pthread_cond_broadcast(&wh->cv);
	pthread_mutex_unlock(&wh->mu);
	for (int i = 0; i < wh->nworkers; i++)
		if (wh->workers[i].started)
			pthread_join(wh->workers[i].thread, NULL);
	pthread_cond_destroy(&wh->cv);
	pthread_mutex_destroy(&wh->mu);
	free(wh->url);
	free(wh->source);
	free(wh);
	return NULL;
}
