/* The CALLS persister: events → call_events, calls, transcript_segments. */
#include "persist.h"

#include "db/db.h"
#include "call_state.h"
#include "record_cache.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FETCH_BATCH      64
#define FETCH_WAIT_MS    1000
#define BACKOFF_MIN_MS   250
#define BACKOFF_MAX_MS   5000
#define TXN_ATTEMPTS     3
#define HOLD_EVENTS_MAX  4096

struct persist {
	struct bus *bus;
	char *url;
	char *source;
	struct record_cache *cache; /* borrowed; NULL: none */
	bool prepared;              /* db_set_prepared on its connection */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;

	/* persister thread only */
	struct db *db;
	struct bus_sub *sub;
	bool db_down; /* set by a message handler: nak the rest, back off */

	atomic_uint_fast64_t stored, duplicates, invalid, strays, batched;
	/* the same, process-wide, for /metrics */
	struct metric *m_stored, *m_duplicates, *m_invalid, *m_strays;
};

static void count(atomic_uint_fast64_t *n, struct metric *m)
{
	atomic_fetch_add(n, 1);
	metric_add(m, 1);
}

/* ---- shared helpers ---------------------------------------------------- */

int persist_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	int err = pthread_condattr_init(&attr);
	if (err)
		return err;
	err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return err;
}

bool persist_wait(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *stop, int timeout_ms)
{
	struct timespec ts;
	time_deadline(&ts, CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(mu);
	/* bounded: returns at the deadline at the latest */
	while (!*stop) {
		if (pthread_cond_timedwait(cv, mu, &ts) == ETIMEDOUT)
			break;
	}
	bool stop_now = *stop;
	pthread_mutex_unlock(mu);
	return stop_now;
}

int persist_event_id(char out[ID_UUID_LEN + 1], const char *scope, const char *key)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int err = 0;

	if (!out || !scope || !key)
		return EINVAL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, "callmesh", 9) != 1 ||
	    EVP_DigestUpdate(ctx, scope, strlen(scope) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, key, strlen(key)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < 16) {
		err = EIO;
		goto out;
	}
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 0x0f];
	}
	out[o] = '\0';
out:
	EVP_MD_CTX_free(ctx);
	return err;
}

/* ---- row <-> struct call_state ------------------------------------------- */

static int64_t col_ms(const struct db_result *res, int col)
{
	const char *v = db_result_get(res, 0, col);
	return v ? strtoll(v, NULL, 10) : 0;
}

static void col_str(char *dst, size_t cap, const struct db_result *res, int col)
{
	const char *v = db_result_get(res, 0, col);
	size_t n = v ? strnlen(v, cap - 1) : 0;
	if (n)
		memcpy(dst, v, n);
	dst[n] = '\0';
}

#define MS(col) "(extract(epoch from " col ") * 1000)::bigint"

static const char select_call_sql[] =
	"SELECT status, sip_code, sip_reason, " MS("answered_at") ", " MS("agent_ready_at") ", "
	MS("ended_at") ", end_reason, end_event, hold_count, hold_ms, " MS("hold_started_at")
	", recording_path FROM calls WHERE id = $1 FOR UPDATE";

static int row_to_call(struct call_state *c, const struct db_result *res)
{
	const char *st = db_result_get(res, 0, 0);
	const char *ee = db_result_get(res, 0, 7);
	call_state_init(c);
	if (!st || call_status_parse(&c->status, st) != 0)
		return EINVAL;
	c->sip_code = (int)col_ms(res, 1);
	col_str(c->sip_reason, sizeof(c->sip_reason), res, 2);
	c->answered_at = col_ms(res, 3);
	c->agent_ready_at = col_ms(res, 4);
	c->ended_at = col_ms(res, 5);
	col_str(c->end_reason, sizeof(c->end_reason), res, 6);
	c->end_event = !ee ? CALL_END_NONE : strcmp(ee, "call_ended") == 0 ? CALL_END_ENDED
									  : CALL_END_FAILED;
	c->hold_count = (int)col_ms(res, 8);
	c->hold_ms = col_ms(res, 9);
	c->hold_started_at = col_ms(res, 10);
	col_str(c->recording_path, sizeof(c->recording_path), res, 11);
	return 0;
}

static const char *ts_param(char buf[TIME_ISO_LEN + 1], int64_t ms)
{
	if (!ms)
		return NULL;
	time_iso8601(buf, ms);
	return buf;
}

static int update_call(struct db *db, const char *call_id, const struct call_state *c)
{
	static const char sql[] =
		"UPDATE calls SET status = $2, sip_code = $3::int, sip_reason = $4,"
		" answered_at = $5::timestamptz, agent_ready_at = $6::timestamptz,"
		" ended_at = $7::timestamptz, end_reason = $8, end_event = $9,"
		" hold_count = $10::int, hold_ms = $11::bigint,"
		" hold_started_at = $12::timestamptz, recording_path = $13, updated_at = now()"
		" WHERE id = $1";
	char code[16], count[16], hold_ms[24];
	char t_ans[TIME_ISO_LEN + 1], t_ready[TIME_ISO_LEN + 1], t_end[TIME_ISO_LEN + 1],
		t_hold[TIME_ISO_LEN + 1];
	snprintf(code, sizeof(code), "%d", c->sip_code);
	snprintf(count, sizeof(count), "%d", c->hold_count);
	snprintf(hold_ms, sizeof(hold_ms), "%lld", (long long)c->hold_ms);
	const char *params[] = {
		call_id,
		call_status_name(c->status),
		c->sip_code ? code : NULL,
		c->sip_reason[0] ? c->sip_reason : NULL,
		ts_param(t_ans, c->answered_at),
		ts_param(t_ready, c->agent_ready_at),
		ts_param(t_end, c->ended_at),
		c->end_reason[0] ? c->end_reason : NULL,
		c->end_event == CALL_END_ENDED ? "call_ended"
		: c->end_event == CALL_END_FAILED ? "call_failed" : NULL,
		count,
		hold_ms,
		ts_param(t_hold, c->hold_started_at),
		c->recording_path[0] ? c->recording_path : NULL,
	};
	return db_exec(db, NULL, sql, (int)CM_ARRAY_LEN(params), params);
}

/* Hold accounting from every stored hold/resume event of the call. */
static int recompute_holds(struct db *db, const char *call_id, struct call_state *c)
{
	static const char sql[] =
		"SELECT type, " MS("ts") " FROM call_events"
		" WHERE call_id = $1 AND type IN ('call_hold', 'call_resume')"
		" ORDER BY ts, received_at LIMIT 4096";
	struct db_result *res = NULL;
	struct call_state_event *evs = NULL;
	const char *params[] = { call_id };
	int err = db_exec(db, &res, sql, 1, params);
	if (err)
		return err;
	int n = db_result_rows(res);
	if (n > HOLD_EVENTS_MAX)
		n = HOLD_EVENTS_MAX;
	if (n > 0) {
		evs = calloc((size_t)n, sizeof(*evs));
		if (!evs) {
			err = ENOMEM;
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		const char *type = db_result_get(res, i, 0);
		const char *ts = db_result_get(res, i, 1);
		evs[i].type = type && strcmp(type, "call_hold") == 0 ? EV_CALL_HOLD
								     : EV_CALL_RESUME;
		evs[i].ts = ts ? strtoll(ts, NULL, 10) : 0;
	}
	struct call_state_holds h;
	call_state_holds(&h, evs, (size_t)n,
			call_status_is_terminal(c->status) ? c->ended_at : 0);
	(void)call_state_set_holds(c, &h);
out:
	free(evs);
	db_result_free(res);
	return err;
}

static bool affects_holds(enum event_type t)
{
	return t == EV_CALL_HOLD || t == EV_CALL_RESUME || t == EV_CALL_ENDED ||
	       t == EV_CALL_FAILED || t == EV_CALL_ANSWERED;
}

static int store_transcript(struct db *db, const struct event *ev)
{
	static const char sql[] =
		"INSERT INTO transcript_segments (call_id, seq, speaker, text, started_at, "
		"event_id)"
		" SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4::timestamptz, $5"
		" FROM transcript_segments WHERE call_id = $1"
		" ON CONFLICT (event_id) DO NOTHING";
	bool final = false;
	if (event_get_bool(&final, ev, "final") != 0 || !final)
		return 0; /* partial results are kept in call_events only */
	const char *params[] = {
		ev->call_id, event_get_str(ev, "speaker"), event_get_str(ev, "text"),
		event_get_str(ev, "started_at"), ev->id,
	};
	return db_exec(db, NULL, sql, (int)CM_ARRAY_LEN(params), params);
}

/* One event in one transaction (or one INSERT alone, below). *newp: the
 * event was not stored before. The transaction is bracketed on the record cache: from before BEGIN
 * to
 * after COMMIT/ROLLBACK no body of the call is served or stored, so a GET
 * never sees the record as it was before a committed event. */
static int store_event(struct db *db, struct record_cache *cache, const struct event *ev,
		       bool *newp, bool *strayp)
{
	/* Only events of calls that have a row join call_events; the others go
	 * to stray_events, apart from every call record. */
	static const char insert_sql[] =
		"INSERT INTO call_events (id, call_id, type, ts, source, data)"
		" SELECT $1, $2::uuid, $3, $4::timestamptz, $5, $6::jsonb"
		" WHERE EXISTS (SELECT 1 FROM calls WHERE id = $2::uuid) ON CONFLICT (id) DO "
		"NOTHING";
	static const char stray_sql[] =
		"INSERT INTO stray_events (id, call_id, type, ts, source, data)"
		" SELECT $1, $2::uuid, $3, $4::timestamptz, $5, $6::jsonb"
		" WHERE NOT EXISTS (SELECT 1 FROM calls WHERE id = $2::uuid) ON CONFLICT (id) DO "
		"NOTHING";
	struct db_result *res = NULL;
	char ts[TIME_ISO_LEN + 1];
	char *data = NULL;
	int err;

	*newp = false;
	*strayp = false;
	data = cJSON_PrintUnformatted(ev->data);
	if (!data)
		return ENOMEM;
	time_iso8601(ts, ev->ts_ms);
	/* An event that changes neither the calls row nor the transcript is one
	 * idempotent INSERT: on its own it is as atomic and as durable as in a
	 * transaction, in one round trip instead of three. */
	bool relevant = call_state_relevant(ev->type);
	bool txn = relevant || ev->type == EV_TRANSCRIPT;
	record_cache_write_begin(cache, ev->call_id);
	if (txn) {
		err = db_begin(db);
		if (err)
			goto out;
	}
	const char *params[] = { ev->id, ev->call_id, event_type_name(ev->type), ts, ev->source,
				 data };
	err = db_exec(db, &res, insert_sql, (int)CM_ARRAY_LEN(params), params);
	if (err)
		goto out;
	if (db_result_affected(res) == 0) {
		/* delivered before, or no such call */
		res = db_result_free(res);
		err = db_exec(db, &res, stray_sql, (int)CM_ARRAY_LEN(params), params);
		if (err)
			goto out;
		*strayp = db_result_affected(res) == 1;
		goto commit;
	}
	*newp = true;
	res = db_result_free(res);

	if (txn) {
		/* the row lock orders concurrent persisters per call */
		const char *idp[] = { ev->call_id };
		err = db_exec(db, &res, select_call_sql, 1, idp);
		if (err)
			goto out;
	}
	if (ev->type == EV_TRANSCRIPT) {
		err = store_transcript(db, ev);
		if (err)
			goto out;
	}
	if (relevant && db_result_rows(res) == 1) {
		struct call_state before, c;
		struct call_state_event le;
		if (row_to_call(&before, res) != 0) {
			log_warn("persist_bad_row", "call %s: unknown status %s", ev->call_id,
				 db_result_get(res, 0, 0));
			goto commit;
		}
		c = before;
		call_state_event_from(&le, ev);
		(void)call_state_apply(&c, &le);
		if (affects_holds(ev->type)) {
			err = recompute_holds(db, ev->call_id, &c);
			if (err)
				goto out;
		}
		if (!call_state_equal(&before, &c)) {
			err = update_call(db, ev->call_id, &c);
			if (err)
				goto out;
			if (c.status != before.status)
				log_info("call_status", "call %s: %s -> %s (%s)", ev->call_id,
					 call_status_name(before.status),
					 call_status_name(c.status), event_type_name(ev->type));
		}
	}
commit:
	if (txn)
		err = db_commit(db);
out:
	if (err)
		db_rollback(db); /* a no-op outside a transaction */
	record_cache_write_end(cache, ev->call_id);
	db_result_free(res);
	free(data);
	return err;
}

/* An event that adds its own row and nothing else: it changes neither the
 * calls row nor the transcript (store_transcript keeps finals only). */
static bool row_only(const struct event *ev)
{
	bool final = false;
	if (call_state_relevant(ev->type))
		return false;
	return ev->type != EV_TRANSCRIPT || event_get_bool(&final, ev, "final") != 0 || !final;
}

/* The message's event, or NULL with *howp set (terminated or nak'ed). */
static struct event *decode(struct persist *p, const struct bus_msg *msg, enum bus_ack *howp)
{
	struct event *ev = NULL;
	char why[256] = "";
	int err = event_decode(&ev, msg->data, msg->len > 0 ? (size_t)msg->len : 0, why,
			       sizeof(why));
	if (err == ENOMEM) {
		*howp = BUS_NAK;
		return NULL;
	}
	if (err) {
		log_warn("persist_invalid_event", "subject=%s seq=%llu: %s; terminated",
			 msg->subject, (unsigned long long)msg->seq, why);
		count(&p->invalid, p->m_invalid);
		*howp = BUS_TERM;
		return NULL;
	}
	return ev;
}

static void count_stray(struct persist *p, const struct event *ev)
{
	log_warn("persist_stray_event",
		 "event %s (%s from %s): call %s has no row; kept in stray_events", ev->id,
		 event_type_name(ev->type), ev->source, ev->call_id);
	count(&p->strays, p->m_strays);
}

/* One event, in its own transaction (store_event); what to do with its message. */
static enum bus_ack store_one(struct persist *p, const struct event *ev)
{
	bool fresh = false, stray = false;
	int err;
	for (int attempt = 0; attempt < TXN_ATTEMPTS; attempt++) {
		err = store_event(p->db, p->cache, ev, &fresh, &stray);
		/* serialization failure, or a transcript seq taken concurrently */
		if (err != EAGAIN && err != EEXIST)
			break;
	}
	if (!err && stray) {
		count_stray(p, ev);
	} else if (!err) {
		if (fresh)
			count(&p->stored, p->m_stored);
		else
			count(&p->duplicates, p->m_duplicates);
	} else if (err == EINVAL || err == EEXIST || err == ENOENT) {
		log_error("persist_event_refused", "event %s (%s, call %s): %s; terminated", ev->id,
			  event_type_name(ev->type), ev->call_id, cm_strerror(err));
		count(&p->invalid, p->m_invalid);
		return BUS_TERM;
	} else {
		log_warn("persist_db_unavailable", "event %s: %s; redelivering later", ev->id,
			 cm_strerror(err));
		p->db_down = true;
		return BUS_NAK;
	}
	return BUS_ACK;
}

/* ---- a run of row-only events in one statement --------------------------- */

#define RUN_COLUMNS                                                                         \
	" FROM jsonb_to_recordset($1::jsonb) AS v(n int, id uuid, call_id uuid, type text,"  \
	" ts timestamptz, source text, data jsonb)"

/* clock_timestamp() per row, after the sort: received_at keeps the order
 * the events were delivered in, as separate statements would. */
static const char run_insert_sql[] =
	"INSERT INTO call_events (id, call_id, type, ts, source, data, received_at)"
	" SELECT v.id, v.call_id, v.type, v.ts, v.source, v.data, clock_timestamp()" RUN_COLUMNS
	" WHERE EXISTS (SELECT 1 FROM calls c WHERE c.id = v.call_id)"
	" ORDER BY v.n ON CONFLICT (id) DO NOTHING RETURNING id, call_id";
static const char run_stray_sql[] =
	"INSERT INTO stray_events (id, call_id, type, ts, source, data, received_at)"
	" SELECT v.id, v.call_id, v.type, v.ts, v.source, v.data, clock_timestamp()" RUN_COLUMNS
	" WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = v.call_id)"
	" ORDER BY v.n ON CONFLICT (id) DO NOTHING RETURNING id, call_id";

enum run_fate { RUN_DUPLICATE, RUN_STORED, RUN_STRAY };

/* The events evs[idx[0..k-1]] whose fate is still RUN_DUPLICATE, as the
 * JSON array the statements read; *jsonp caller frees. */
static int run_rows(char **jsonp, struct event *const *evs, const int *idx, int k,
		    const enum run_fate *fates)
{
	cJSON *arr = cJSON_CreateArray();
	int err = arr ? 0 : ENOMEM;
	for (int j = 0; !err && j < k; j++) {
		const struct event *ev = evs[idx[j]];
		char ts[TIME_ISO_LEN + 1];
		if (fates[j] != RUN_DUPLICATE)
			continue;
		time_iso8601(ts, ev->ts_ms);
		cJSON *row = cJSON_CreateObject();
		if (!row || !cJSON_AddItemToArray(arr, row)) {
			cJSON_Delete(row);
			err = ENOMEM;
			break;
		}
		/* the event's data is borrowed (a reference item), not copied */
		if (!cJSON_AddNumberToObject(row, "n", j) ||
		    !cJSON_AddStringToObject(row, "id", ev->id) ||
		    !cJSON_AddStringToObject(row, "call_id", ev->call_id) ||
		    !cJSON_AddStringToObject(row, "type", event_type_name(ev->type)) ||
		    !cJSON_AddStringToObject(row, "ts", ts) ||
		    !cJSON_AddStringToObject(row, "source", ev->source) ||
		    !cJSON_AddItemReferenceToObject(row, "data", ev->data))
			err = ENOMEM;
	}
	if (!err && !(*jsonp = cJSON_PrintUnformatted(arr)))
		err = ENOMEM;
	cJSON_Delete(arr);
	return err;
}

/* Runs one of the run statements over the events still RUN_DUPLICATE and
 * marks those it inserted `fate`: for each id and call it returned, the
 * first such event with both (a second copy in the same run stays a
 * duplicate; a copy of the id under another call is not taken for it). */
static int run_statement(struct db *db, const char *sql, struct event *const *evs,
			 const int *idx, int k, enum run_fate *fates, enum run_fate fate)
{
	struct db_result *res = NULL;
	char *json = NULL;
	int err = run_rows(&json, evs, idx, k, fates);
	if (!err) {
		const char *params[] = { json };
		err = db_exec(db, &res, sql, 1, params);
	}
	for (int r = 0; !err && r < db_result_rows(res); r++) {
		const char *id = db_result_get(res, r, 0);
		const char *cid = db_result_get(res, r, 1);
		for (int j = 0; id && cid && j < k; j++) {
			if (fates[j] == RUN_DUPLICATE && strcasecmp(evs[idx[j]]->id, id) == 0 &&
			    strcasecmp(evs[idx[j]]->call_id, cid) == 0) {
				fates[j] = fate;
				break;
			}
		}
	}
	db_result_free(res);
	free(json);
	return err;
}

/* Stores the row-only events evs[idx[0..k-1]] with one INSERT for those of
 * calls that have a row (and one more for the strays, only when some event
 * was not inserted); each statement commits alone and is idempotent, as
 * each event's own INSERT was. Sets hows[idx[j]]. When PostgreSQL refuses
 * the statement as data, each event is stored alone, so one bad event is
 * terminated and the others are kept. */
static void store_run(struct persist *p, struct event *const *evs, const int *idx, int k,
		      enum bus_ack *hows)
{
	enum run_fate *fates = NULL;
	int err;

	if (k == 1) {
		hows[idx[0]] = store_one(p, evs[idx[0]]);
		return;
	}
	fates = calloc((size_t)k, sizeof(*fates)); /* RUN_DUPLICATE */
	if (!fates) {
		for (int j = 0; j < k; j++)
			hows[idx[j]] = BUS_NAK;
		return;
	}
	for (int j = 0; j < k; j++)
		record_cache_write_begin(p->cache, evs[idx[j]]->call_id);
	err = run_statement(p->db, run_insert_sql, evs, idx, k, fates, RUN_STORED);
	/* committed: acked and counted whatever the stray statement does */
	for (int j = 0; !err && j < k; j++) {
		if (fates[j] == RUN_STORED) {
			hows[idx[j]] = BUS_ACK;
			count(&p->stored, p->m_stored);
			atomic_fetch_add(&p->batched, 1);
		}
	}
	bool rest = false;
	for (int j = 0; !err && j < k; j++)
		rest = rest || fates[j] == RUN_DUPLICATE;
	if (!err && rest)
		err = run_statement(p->db, run_stray_sql, evs, idx, k, fates, RUN_STRAY);
	for (int j = 0; j < k; j++)
		record_cache_write_end(p->cache, evs[idx[j]]->call_id);

	if (err == EINVAL || err == ENOENT || err == EEXIST || err == EAGAIN) {
		log_warn("persist_run_refused", "%d events in one statement: %s; storing each"
			 " alone", k, cm_strerror(err));
		for (int j = 0; j < k && !p->db_down; j++) {
			if (fates[j] != RUN_STORED) /* those are committed */
				hows[idx[j]] = store_one(p, evs[idx[j]]);
		}
	} else if (err == ENOMEM) {
		log_warn("persist_run_failed", "%d events: %s; redelivering them later", k,
			 cm_strerror(err)); /* hows stay BUS_NAK */
	} else if (err) {
		log_warn("persist_db_unavailable", "%d events: %s; redelivering later", k,
			 cm_strerror(err));
		p->db_down = true;
	} else {
		for (int j = 0; j < k; j++) {
			if (fates[j] == RUN_STORED)
				continue; /* acked and counted above */
			hows[idx[j]] = BUS_ACK;
			if (fates[j] == RUN_STRAY)
				count_stray(p, evs[idx[j]]);
			else
				count(&p->duplicates, p->m_duplicates);
		}
	}
	free(fates);
}

/* A fetched batch, in order: each run of consecutive row-only events is one
 * statement, every other event its own transaction. A message stays nak'ed
 * (hows starts BUS_NAK) once the database is found down. */
static void on_batch(const struct bus_msg *msgs, int n, enum bus_ack *hows, void *arg)
{
	struct persist *p = arg;
	struct event **evs = calloc((size_t)n, sizeof(*evs));
	int *run = calloc((size_t)n, sizeof(*run));
	int k = 0;

	if (!evs || !run)
		goto out; /* every message nak'ed */
	for (int i = 0; i < n && !p->db_down; i++) {
		evs[i] = decode(p, &msgs[i], &hows[i]);
		if (!evs[i])
			continue;
		if (row_only(evs[i])) {
			run[k++] = i;
			continue;
		}
		if (k)
			store_run(p, evs, run, k, hows);
		k = 0;
		if (!p->db_down)
			hows[i] = store_one(p, evs[i]);
	}
	if (k && !p->db_down)
		store_run(p, evs, run, k, hows);
out:
	for (int i = 0; evs && i < n; i++)
		event_free(evs[i]);
	free(evs);
	free(run);
}

static bool stopping(struct persist *p)
{
	pthread_mutex_lock(&p->mu);
	bool s = p->stop;
	pthread_mutex_unlock(&p->mu);
	return s;
}

static void *persist_main(void *arg)
{
	struct persist *p = arg;
	int backoff = BACKOFF_MIN_MS;

	while (!stopping(p)) {
		int err;
		if (!p->db) {
			err = db_connect(&p->db, p->url);
			if (err) {
				persist_wait(&p->mu, &p->cv, &p->stop, backoff);
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
								       : backoff * 2;
				continue;
			}
			db_set_prepared(p->db, p->prepared);
		}
		if (!p->sub) {
			/* The DIALS workers' consumers are created here: with NATS auth
			 * on, their own identities may read them but not create them
			 * (so neither can point its consumer at the other's jobs). */
			err = bus_js_ensure_consumer(p->bus, "DIALS", "sip-bridge", "dial.exotel");
			if (!err)
				err = bus_js_ensure_consumer(p->bus, "DIALS", "twilio-dialer",
							     "dial.twilio");
			if (!err)
				err = bus_js_pull_sub(p->bus, &p->sub, "CALLS", PERSIST_DURABLE,
						      "calls.>");
			if (err) {
				persist_wait(&p->mu, &p->cv, &p->stop, backoff);
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
								       : backoff * 2;
				continue;
			}
			log_info("persist_consuming", "durable %s on CALLS", PERSIST_DURABLE);
		}
		p->db_down = false;
		err = bus_js_fetch_batch(p->sub, FETCH_BATCH, FETCH_WAIT_MS, on_batch, p, NULL);
		if (p->db_down) {
			/* The nak'ed messages come back once PostgreSQL answers. */
			p->db = db_close(p->db);
			persist_wait(&p->mu, &p->cv, &p->stop, backoff);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		if (err == EAGAIN) {
			persist_wait(&p->mu, &p->cv, &p->stop, BACKOFF_MIN_MS);
		} else if (err && err != ETIMEDOUT) {
			p->sub = bus_unsubscribe(p->sub);
			persist_wait(&p->mu, &p->cv, &p->stop, backoff);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		} else {
			backoff = BACKOFF_MIN_MS;
		}
	}
	p->sub = bus_unsubscribe(p->sub);
	p->db = db_close(p->db);
	return NULL;
}

int persist_new(struct persist **pp, struct bus *bus, const char *database_url,
		const char *source, struct record_cache *cache, bool prepared)
{
	struct persist *p = NULL;
	int err = 0;

	if (!pp || !bus || !database_url || !source)
		return EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return ENOMEM;
	p->bus = bus;
	p->cache = cache;
	p->m_stored = metric_counter("api_events_persisted_total",
				     "call events stored in call_events");
	p->m_duplicates = metric_counter("api_events_duplicate_total",
					 "call events delivered again after they were stored");
	p->m_invalid = metric_counter("api_events_refused_total",
				      "call events terminated: not decodable, or refused by "
				      "PostgreSQL (logged as persist_invalid_event or "
				      "persist_event_refused)");
	p->m_strays = metric_counter("api_events_stray_total",
				     "call events of calls that have no row, kept in stray_events");
	p->prepared = prepared;
	p->url = strdup(database_url);
	p->source = strdup(source);
	if (!p->url || !p->source) {
		err = ENOMEM;
		goto out;
	}
	pthread_mutex_init(&p->mu, NULL);
	err = persist_cond_init(&p->cv);
	if (err) {
		pthread_mutex_destroy(&p->mu);
		goto out;
	}
	err = pthread_create(&p->thread, NULL, persist_main, p);
	if (err) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		goto out;
	}
	p->started = true;
	*pp = p;
	p = NULL;
out:
	if (p) {
		free(p->url);
		free(p->source);
		free(p);
	}
	return err;
}

struct persist *persist_free(struct persist *p)
{
	if (!p)
		return NULL;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
	}
	free(p->url);
	free(p->source);
	free(p);
	return NULL;
}

void persist_stats(const struct persist *p, struct persist_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!p)
		return;
	st->stored = atomic_load(&p->stored);
	st->duplicates = atomic_load(&p->duplicates);
	st->invalid = atomic_load(&p->invalid);
	st->strays = atomic_load(&p->strays);
	st->batched = atomic_load(&p->batched);
}
