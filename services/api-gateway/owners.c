/* Owner liveness: heartbeats in, owner-lost failures out. */
#include "owners.h"

#include "db/db.h"
#include "persist.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEARTBEAT_CALLS_MAX 20000
#define REPUBLISH_MS        30000

struct owned {
	char id[ID_UUID_LEN + 1]; /* "" = free slot */
	int64_t last_ms;          /* last listed (local wall clock) */
	int64_t failed_at;        /* owner-lost call_failed published at, 0 = not */
};

struct owners {
	struct bus *bus;
	char *url;
	char *source;
	int64_t timeout_ms;
	int64_t dial_queue_ms; /* queued this long (+ timeout_ms): not dialed */
	int scan_ms;
	int64_t started_ms;     /* start, or when NATS came back: owners judged from then */
	bool deaf;              /* the scan found our NATS connection down */

	pthread_mutex_t mu; /* table, stop */
	pthread_cond_t cv;
	bool stop;
	struct owned *tab;  /* open addressing, power-of-two size */
	size_t cap, used;

	struct bus_sub *sub;
	pthread_t thread;
	bool started;
	struct db *db;      /* scan thread only */
	unsigned scans;
	atomic_uint_fast64_t failed;
};


static struct owned *slot_of(struct owned *tab, size_t cap, const char *id)
{
	size_t i = (size_t)id_hash(id) & (cap - 1);
	for (size_t n = 0; n < cap; n++, i = (i + 1) & (cap - 1)) {
		if (!tab[i].id[0] || strcmp(tab[i].id, id) == 0)
			return &tab[i];
	}
	return NULL;
}

/* Rebuilds the table with room for `want` entries, dropping entries last
 * seen before `drop_before` (0 keeps all). mu held. */
static int rebuild(struct owners *o, size_t want, int64_t drop_before)
{
	size_t cap = 1024;
	while (cap < want * 2)
		cap *= 2;
	struct owned *tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return ENOMEM;
	size_t used = 0;
	for (size_t i = 0; i < o->cap; i++) {
		const struct owned *e = &o->tab[i];
		if (!e->id[0] || (drop_before && e->last_ms < drop_before && !e->failed_at))
			continue;
		if (drop_before && e->failed_at && e->failed_at < drop_before)
			continue;
		*slot_of(tab, cap, e->id) = *e;
		used++;
	}
	free(o->tab);
	o->tab = tab;
	o->cap = cap;
	o->used = used;
	return 0;
}

/* The entry for id, created when missing; NULL when the table is full. mu held. */
static struct owned *entry(struct owners *o, const char *id)
{
	struct owned *e = slot_of(o->tab, o->cap, id);
	if (e && e->id[0])
		return e;
	if ((o->used + 1) * 2 > o->cap) {
		if (o->used >= OWNERS_TRACKED_MAX || rebuild(o, o->used + 1, 0) != 0)
			return NULL;
		e = slot_of(o->tab, o->cap, id);
	}
	if (!e)
		return NULL;
	memcpy(e->id, id, ID_UUID_LEN + 1);
	e->last_ms = 0;
	e->failed_at = 0;
	o->used++;
	return e;
}

int owners_heartbeat(struct owners *o, const char *json, size_t len, int64_t now_ms)
{
	int err = 0;
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(root, "calls");
	if (!cJSON_IsObject(root) || !cJSON_IsArray(calls)) {
		err = EINVAL;
		goto out;
	}
	pthread_mutex_lock(&o->mu);
	int n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, calls) {
		if (++n > HEARTBEAT_CALLS_MAX)
			break;
		if (!cJSON_IsString(it) || !id_is_uuid(it->valuestring) ||
		    strlen(it->valuestring) != ID_UUID_LEN)
			continue;
		char id[ID_UUID_LEN + 1];
		for (int i = 0; i <= ID_UUID_LEN; i++) {
			char c = it->valuestring[i];
			id[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		struct owned *e = entry(o, id);
		if (e && now_ms > e->last_ms)
			e->last_ms = now_ms;
	}
	pthread_mutex_unlock(&o->mu);
out:
	cJSON_Delete(root);
	return err;
}

static void on_heartbeat(const struct bus_msg *msg, void *arg)
{
	struct owners *o = arg;
	if (msg->len <= 0 || owners_heartbeat(o, msg->data, (size_t)msg->len, time_now_ms()) != 0)
		log_warn("owners_bad_heartbeat", "subject=%s: not a heartbeat", msg->subject);
}

/* call_failed for a call: its owner lost (waited_ms < 0) or, queued
 * waited_ms, never dialed. A deterministic id per call and cause. */
static int publish_failed(struct owners *o, const char *call_id, const char *room,
			  int64_t waited_ms)
{
	bool lost = waited_ms < 0;
	struct event *ev = NULL;
	int err = event_new(&ev, EV_CALL_FAILED, call_id, room, o->source);
	if (!err)
		err = persist_event_id(ev->id, lost ? "owner-lost" : "not-dialed", call_id);
	if (!err && lost)
		err = event_set_str(ev, "status", "failed");
	if (!err && lost)
		err = event_set_str(ev, "sip_reason", "owner lost");
	if (!err && lost)
		err = event_set_str(ev, "reason", "owner_lost");
	if (!err && !lost)
		err = event_set_not_dialed(ev, waited_ms);
	if (!err)
		err = bus_publish_event(o->bus, ev);
	event_free(ev);
	return err;
}

/* Whether to publish a failure of id now: once, then again every
 * REPUBLISH_MS until the persister has ended the call. */
static bool claim_failure(struct owners *o, const char *id, int64_t now)
{
	bool publish = false;
	pthread_mutex_lock(&o->mu);
	struct owned *e = o->cap ? slot_of(o->tab, o->cap, id) : NULL;
	if (!e || !e->id[0])
		e = entry(o, id);
	if (e && (!e->failed_at || now - e->failed_at >= REPUBLISH_MS)) {
		e->failed_at = now;
		publish = true;
	} else if (!e) {
		publish = true; /* table full: publish anyway; ids dedupe */
	}
	pthread_mutex_unlock(&o->mu);
	return publish;
}

/* A failure that could not be published: tried again on the next scan. */
static void unclaim_failure(struct owners *o, const char *id)
{
	pthread_mutex_lock(&o->mu);
	struct owned *e = o->cap ? slot_of(o->tab, o->cap, id) : NULL;
	if (e && e->id[0])
		e->failed_at = 0;
	pthread_mutex_unlock(&o->mu);
}

/* The later of `since` and when an owner last listed id. */
static int64_t last_heard(struct owners *o, const char *id, int64_t since)
{
	pthread_mutex_lock(&o->mu);
	const struct owned *e = o->cap ? slot_of(o->tab, o->cap, id) : NULL;
	if (e && e->id[0] && e->last_ms > since)
		since = e->last_ms;
	pthread_mutex_unlock(&o->mu);
	return since;
}

/* Fails a call once (again every REPUBLISH_MS until the persister has
 * ended it): its owner lost, unlisted for ms, or never dialed, queued ms. */
static void fail_call(struct owners *o, const char *id, const char *room, int64_t now, bool lost,
		      int64_t ms)
{
	if (!claim_failure(o, id, now))
		return;
	int err = publish_failed(o, id, room, lost ? -1 : ms);
	if (err) {
		log_warn(lost ? "owner_lost_publish_failed" : "not_dialed_publish_failed",
			 "call %s: %s", id, cm_strerror(err));
		unclaim_failure(o, id);
		return;
	}
	atomic_fetch_add(&o->failed, 1);
	if (lost)
		log_warn("owner_lost", "call %s: not listed by any owner for %lld ms; failed", id,
			 (long long)ms);
	else
		log_warn("not_dialed", "call %s: queued %lld ms and no dialer took its job; failed",
			 id, (long long)ms);
}

/* Outbound calls from their call_dialing (a worker took the job); web calls,
 * owned by their agent-worker, from their creation (dispatched at once). */
static const char live_sql[] =
	"SELECT c.id, c.room, CASE WHEN c.kind = 'web'"
	"   THEN (extract(epoch from c.created_at) * 1000)::bigint"
	"   ELSE (SELECT (extract(epoch from max(e.ts)) * 1000)::bigint"
	"   FROM call_events e WHERE e.call_id = c.id AND e.type = 'call_dialing') END"
	" FROM calls c WHERE (c.kind = 'outbound'"
	"   AND c.status IN ('dialing', 'ringing', 'in_progress', 'on_hold'))"
	"   OR (c.kind = 'web' AND c.status IN ('queued', 'in_progress', 'on_hold'))"
	" LIMIT 20000";

/* Outbound calls still queued (no dialer took the job) a heartbeat
 * timeout past their dial job's dial_by (stored with the row): a dialer
 * that took the job just before dial_by lists it by then. Rows from before
 * dial_by was stored count from created_at. */
static const char queued_sql[] =
	"SELECT id, room, (extract(epoch from now() - created_at) * 1000)::bigint"
	" FROM calls WHERE kind = 'outbound' AND status = 'queued'"
	"   AND coalesce(dial_by, created_at + make_interval(secs => $2::float8))"
	"       < now() - make_interval(secs => $1::float8)"
	" LIMIT 20000";

static int scan_queued(struct owners *o)
{
	char secs[32], queue[32];
	snprintf(secs, sizeof(secs), "%.3f", (double)o->timeout_ms / 1000.0);
	snprintf(queue, sizeof(queue), "%.3f", (double)o->dial_queue_ms / 1000.0);
	const char *params[] = { secs, queue };
	struct db_result *res = NULL;
	int err = db_exec(o->db, &res, queued_sql, 2, params);
	if (err)
		return err;
	int64_t now = time_now_ms();
	for (int r = 0; r < db_result_rows(res); r++) {
		const char *id = db_result_get(res, r, 0), *room = db_result_get(res, r, 1);
		const char *age = db_result_get(res, r, 2);
		int64_t waited = age ? strtoll(age, NULL, 10) : 0;
		if (!id || !room || strlen(id) != ID_UUID_LEN)
			continue;
		/* a dialer lists it (its call_dialing is not persisted yet):
		 * not "not dialed"; nor before we have listened a full timeout */
		int64_t last = last_heard(o, id, o->started_ms);
		if (now - last >= o->timeout_ms)
			fail_call(o, id, room, now, false, waited < 0 ? 0 : waited);
	}
	db_result_free(res);
	return 0;
}

static int scan(struct owners *o)
{
	/* Cut off from NATS, we hear no heartbeat: silence says nothing about
	 * an owner until we have listened a full timeout again. */
	if (!bus_connected(o->bus)) {
		if (!o->deaf)
			log_warn("owners_deaf", "NATS is away: no call is judged owner-lost until "
				 "heartbeats have been heard for %lld ms again",
				 (long long)o->timeout_ms);
		o->deaf = true;
		return 0;
	}
	if (o->deaf) {
		o->deaf = false;
		o->started_ms = time_now_ms();
	}
	struct db_result *res = NULL;
	int err = db_exec(o->db, &res, live_sql, 0, NULL);
	if (err)
		return err;
	int64_t now = time_now_ms();
	for (int r = 0; r < db_result_rows(res); r++) {
		const char *id = db_result_get(res, r, 0), *room = db_result_get(res, r, 1);
		const char *dial = db_result_get(res, r, 2);
		if (!id || !room || strlen(id) != ID_UUID_LEN)
			continue;
		int64_t dial_ms = dial ? strtoll(dial, NULL, 10) : 0;
		int64_t last = last_heard(o, id, dial_ms > o->started_ms ? dial_ms : o->started_ms);
		if (now - last >= o->timeout_ms)
			fail_call(o, id, room, now, true, now - last);
	}
	/* forget ids nobody listed for a while (every 10th scan) */
	pthread_mutex_lock(&o->mu);
	if (o->used > 0 && ++o->scans % 10 == 0 &&
	    rebuild(o, o->used, now - 3 * o->timeout_ms - REPUBLISH_MS) != 0)
		log_warn("owners_prune_failed", "out of memory");
	pthread_mutex_unlock(&o->mu);
	db_result_free(res);
	return 0;
}

static void *owners_main(void *arg)
{
	struct owners *o = arg;
	int wait = o->scan_ms;
	for (;;) {
		if (persist_wait(&o->mu, &o->cv, &o->stop, wait))
			break;
		wait = o->scan_ms;
		if (!o->db && db_connect(&o->db, o->url) != 0)
			continue;
		int err = scan(o);
		if (!err && !o->deaf)
			err = scan_queued(o);
		if (err == EIO)
			o->db = db_close(o->db);
	}
	o->db = db_close(o->db);
	return NULL;
}

int owners_new(struct owners **op, struct bus *bus, const char *database_url,
	       const char *source, const struct owners_opts *opts)
{
	int err = 0;
	if (!op || !bus || !database_url || !source)
		return EINVAL;
	struct owners *o = calloc(1, sizeof(*o));
	if (!o)
		return ENOMEM;
	o->bus = bus;
	o->timeout_ms = 1000LL * (opts && opts->timeout_s > 0 ? opts->timeout_s : 10);
	int queue_s = opts && opts->dial_queue_timeout_s > 0 ? opts->dial_queue_timeout_s : 300;
	o->dial_queue_ms = 1000LL * queue_s;
	o->scan_ms = opts && opts->scan_ms > 0 ? opts->scan_ms : 1000;
	o->started_ms = time_now_ms();
	o->url = strdup(database_url);
	o->source = strdup(source);
	pthread_mutex_init(&o->mu, NULL);
	if (!o->url || !o->source) {
		err = ENOMEM;
		goto fail_mu;
	}
	err = persist_cond_init(&o->cv);
	if (err)
		goto fail_mu;
	pthread_mutex_lock(&o->mu);
	err = rebuild(o, 1, 0);
	pthread_mutex_unlock(&o->mu);
	if (err)
		goto fail_cv;
	err = bus_subscribe(bus, &o->sub, OWNERS_SUBJECT, NULL, on_heartbeat, o);
	if (err)
		goto fail_cv;
	err = pthread_create(&o->thread, NULL, owners_main, o);
	if (err) {
		o->sub = bus_unsubscribe(o->sub);
		goto fail_cv;
	}
	o->started = true;
	*op = o;
	return 0;
fail_cv:
	pthread_cond_destroy(&o->cv);
fail_mu:
	pthread_mutex_destroy(&o->mu);
	free(o->tab);
	free(o->url);
	free(o->source);
	free(o);
	return err;
}

struct owners *owners_free(struct owners *o)
{
	if (!o)
		return NULL;
	o->sub = bus_unsubscribe(o->sub);
	if (o->started) {
		pthread_mutex_lock(&o->mu);
		o->stop = true;
		pthread_cond_broadcast(&o->cv);
		pthread_mutex_unlock(&o->mu);
		pthread_join(o->thread, NULL);
	}
	pthread_cond_destroy(&o->cv);
	pthread_mutex_destroy(&o->mu);
	free(o->tab);
	free(o->url);
	free(o->source);
	free(o);
	return NULL;
}

uint64_t owners_failed_count(const struct owners *o)
{
	return o ? atomic_load(&o->failed) : 0;
}
