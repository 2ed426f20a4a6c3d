/* The bridge: owns the sofia thread (the struct sip_ua, and through call.c
 * every call), the inbox that feeds it, and the NATS subscriptions (their
 * callbacks run on nats.c's threads and only enqueue). It builds the parts
 * below it (publisher, relay, calls, dial puller) and is their one listener:
 * whatever they report from their own threads comes back here as an inbox
 * item, run on the sofia thread. */
#include "bridge.h"
#include "call.h"
#include "dial.h"
#include "publish.h"
#include "relay.h"
#include "command/command.h"
#include "secret/secret.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 50
#define SIP_SHUTDOWN_MS 3000
#define INBOX_MAX ((size_t)1 << 20) /* items waiting for the sofia thread */
/* sofia keeps every finished INVITE client transaction (its request and the
 * response, with the receive buffer that held it) for Timer D, 32 s whatever
 * the transport, and each ACK for 64*T1 = 32 s. Once that long has passed
 * with no call, the heap is back to its start but glibc keeps the freed
 * pages of the sofia thread's arena: they go back to the kernel then. */
#define TRIM_IDLE_MS 34000

/* ---- inbox: other threads → sofia thread (an mqueue whose eventfd the
 * sofia loop watches) ---- */
enum inbox_kind {
	INBOX_DIAL, INBOX_HANGUP, INBOX_MEDIA_TIMEOUT, INBOX_ENDED_ELSEWHERE,
	INBOX_WAKE, /* nothing to do: bridge_stop wakes the loop to see `stopping` */
};
struct inbox_item {
	enum inbox_kind kind;
	struct dial_job *job;              /* INBOX_DIAL, owned */
	char call_id[ID_UUID_LEN + 1];     /* every kind but INBOX_DIAL */
	char reason[64];
	char source[EVENT_SOURCE_MAX + 1]; /* INBOX_ENDED_ELSEWHERE: who said so */
};

struct bridge {
	const struct bridge_cfg *cfg;
	struct service *svc;
	struct bus *bus;
	struct publisher *pub;
	struct relay *relay;
	struct calls *calls;           /* sofia thread once it runs */
	struct dial_puller *puller;
	const char *source;
	char rtp_bind[256];           /* RTP sockets bind here (SIP_BIND's host) */
	char rtp_host[256];           /* and the SDP names this (SIP_ADVERTISE) */

	struct mqueue *inbox;

	atomic_bool stopping;
	atomic_bool sip_up;
	atomic_int active;       /* jobs taken and not finished */

	pthread_t sofia_thread;
	bool sofia_started;
	struct bus_sub *hangup_sub;
	struct bus_sub *ended_sub, *failed_sub; /* call_ended / call_failed of others */
	struct secret_keys *keys;    /* immutable after start */

	/* sofia thread only */
	struct sip_ua *ua;
	int64_t next_tick_ms, next_heartbeat_ms;
	int64_t trimmed_for;         /* the idle period (its start) already trimmed */
};

static struct inbox_item *item_new(enum inbox_kind kind, const char *call_id, const char *reason);

static void inbox_item_free(void *arg)
{
	struct inbox_item *it = arg;
	if (it)
		dial_job_free(it->job);
	free(it);
}

/* A job that will never be dialed: call_failed, and it no longer counts. */
static void job_refuse(struct bridge *br, struct dial_job *job, const char *reason)
{
	publisher_call_failed(br->pub, job->call_id, job->room, "failed", 0, reason);
	atomic_fetch_sub(&br->active, 1);
	dial_job_free(job);
}

/* Hands an item to the sofia thread (takes ownership in every case). 0, or
 * the queue's error when it was refused (and dropped; a dial job fails). */
static int bridge_post(struct bridge *br, struct inbox_item *it)
{
	int err = mqueue_push(br->inbox, it);
	if (!err)
		return 0;
	log_warn("inbox_push_failed", "%s", cm_strerror(err));
	if (it->kind == INBOX_DIAL)
		job_refuse(br, it->job, err == EPIPE ? "bridge shutting down" : "out of memory");
	free(it);
	return err;
}

/* On the sofia thread: runs one item (stopping: fails dial jobs instead). */
static void inbox_run(struct bridge *br, struct inbox_item *it, bool stopping)
{
	if (it->kind == INBOX_DIAL) {
		if (stopping)
			job_refuse(br, it->job, "bridge shutting down");
		else
			call_start(br->calls, it->job);
	} else if (it->kind == INBOX_HANGUP) {
		call_hangup(br->calls, it->call_id, it->reason);
	} else if (it->kind == INBOX_MEDIA_TIMEOUT) {
		call_media_timeout(br->calls, it->call_id);
	} else if (it->kind == INBOX_ENDED_ELSEWHERE) {
		call_ended_elsewhere(br->calls, it->call_id, it->reason, it->source);
	}
	free(it);
}

static void inbox_run_h(void *item, void *arg)
{
	inbox_run(arg, item, false);
}

static void inbox_stopping_h(void *item, void *arg)
{
	inbox_run(arg, item, true);
}

static void on_inbox(int fd, void *arg)
{
	struct bridge *br = arg;
	(void)fd;
	mqueue_drain(br->inbox, inbox_run_h, br);
}

static bool peer_allowed(const struct sockaddr *sa, socklen_t len, void *arg)
{
	struct bridge *br = arg;
	return calls_peer_allowed(br->calls, sa, len);
}

/* Sofia thread: hands the pages freed by the expired transactions back to
 * the kernel, once per idle period. */
static void memory_trim(struct bridge *br, int64_t now_ms)
{
	int64_t since;
	if (!calls_idle_since(br->calls, &since) || since == br->trimmed_for ||
	    now_ms - since < TRIM_IDLE_MS)
		return;
	br->trimmed_for = since;
	int64_t t0 = time_mono_us();
	malloc_trim(0);
	log_debug("memory_trimmed", "idle %lld ms: heap trimmed in %lld us",
		  (long long)(now_ms - since), (long long)(time_mono_us() - t0));
}

static void *sofia_main(void *arg)
{
	struct bridge *br = arg;
	pthread_setname_np(pthread_self(), "sb-sofia");
	struct sip_ua_cfg ucfg = { br->cfg->sip_bind, "callmesh-sip-bridge", peer_allowed, br,
				   (unsigned)br->cfg->session_min_se_s, br->cfg->sip_tls_bind,
				   br->cfg->sip_tls_cert_dir, br->cfg->sip_tls_verify,
				   br->cfg->sip_advertise };
	int err;
	while (!atomic_load(&br->stopping)) {
		err = sip_ua_new(&br->ua, &ucfg);
		if (err == 0)
			break;
		/* the port may be released in a moment (a restart): retry */
		for (int i = 0; i < 10 && !atomic_load(&br->stopping); i++)
			usleep(100000);
	}
	if (!br->ua)
		return NULL;
	calls_use_ua(br->calls, br->ua);
	err = sip_ua_watch(br->ua, mqueue_fd(br->inbox), on_inbox, br);
	if (err) {
		log_error("inbox_watch_failed", "%s", cm_strerror(err));
		br->ua = sip_ua_free(br->ua, 0);
		return NULL;
	}
	atomic_store(&br->sip_up, true);
	while (!atomic_load(&br->stopping)) {
		sip_ua_step(br->ua, TICK_MS);
		int64_t now = time_mono_ms();
		if (now >= br->next_tick_ms) {
			br->next_tick_ms = now + TICK_MS;
			calls_tick(br->calls, now);
		}
		if (now >= br->next_heartbeat_ms) {
			br->next_heartbeat_ms = now + 2000;
			calls_heartbeat(br->calls);
			memory_trim(br, now);
		}
	}
	atomic_store(&br->sip_up, false);
	mqueue_drain(br->inbox, inbox_stopping_h, br);
	br->ua = sip_ua_free(br->ua, SIP_SHUTDOWN_MS);
	calls_heartbeat(br->calls);
	return NULL;
}

static void on_hangup(const struct bus_msg *msg, void *arg)
{
	struct bridge *br = arg;
	char call_id[ID_UUID_LEN + 1];
	if (cmd_subject_call_id(call_id, sizeof(call_id), msg->subject))
		return;
	struct inbox_item *it = item_new(INBOX_HANGUP, call_id, "hangup");
	if (!it)
		return;
	cJSON *root = msg->len > 0 && msg->len < 4096
			      ? cJSON_ParseWithLength(msg->data, (size_t)msg->len)
			      : NULL;
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(root, "reason");
	if (cJSON_IsString(reason) && reason->valuestring && *reason->valuestring)
		snprintf(it->reason, sizeof(it->reason), "%s", reason->valuestring);
	cJSON_Delete(root);
	(void)bridge_post(br, it);
}

/* calls.<call_id>.call_ended / call_failed: ours come back too and are
 * skipped by source; anyone else's ends the leg (call_ended_elsewhere). */
static void on_call_over(const struct bus_msg *msg, void *arg)
{
	struct bridge *br = arg;
	struct event *ev = NULL;
	char err[128];
	if (msg->len <= 0 ||
	    event_decode(&ev, msg->data, (size_t)msg->len, err, sizeof(err)) != 0) {
		log_warn("call_over_unreadable", "subject=%s: %s", msg->subject,
			 msg->len > 0 ? err : "empty");
		return;
	}
	/* the subject names the call too: both must agree */
	char sub_id[ID_UUID_LEN + 1];
	bool same_call = cmd_subject_call_id(sub_id, sizeof(sub_id), msg->subject) == 0 &&
			 strcmp(sub_id, ev->call_id) == 0;
	if (same_call && strcmp(ev->source, br->source) != 0 &&
	    (ev->type == EV_CALL_ENDED || ev->type == EV_CALL_FAILED)) {
		struct inbox_item *it = item_new(INBOX_ENDED_ELSEWHERE, ev->call_id,
						 event_type_name(ev->type));
		if (it) {
			snprintf(it->source, sizeof(it->source), "%s", ev->source);
			(void)bridge_post(br, it);
		}
	}
	ev = event_free(ev);
}

/* ---- what the parts below report, from their threads ---- */

static struct inbox_item *item_new(enum inbox_kind kind, const char *call_id, const char *reason)
{
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it)
		return NULL;
	it->kind = kind;
	snprintf(it->call_id, sizeof(it->call_id), "%s", call_id);
	snprintf(it->reason, sizeof(it->reason), "%s", reason);
	return it;
}

/* media thread */
static void on_dtmf(const char *call_id, const char *room, char digit, uint32_t duration_ms,
		    void *arg)
{
	struct bridge *br = arg;
	char d[2] = { digit, '\0' };
	struct event *ev = publisher_draft(br->pub, EV_CALL_DTMF, call_id, room);
	if (ev && (event_set_str(ev, "digit", d) || event_set_int(ev, "duration_ms", duration_ms)))
		ev = event_free(ev);
	publisher_event(br->pub, ev);
}

/* media thread */
static int on_media_timeout(const char *call_id, void *arg)
{
	struct inbox_item *it = item_new(INBOX_MEDIA_TIMEOUT, call_id, "media_timeout");
	if (!it)
		return ENOMEM;
	return bridge_post(arg, it);
}

/* a room thread: the call cannot go on without its agent, so the leg is
 * hung up like a media timeout */
static void on_room_lost(const char *call_id, void *arg)
{
	struct inbox_item *it = item_new(INBOX_HANGUP, call_id, "room_lost");
	if (it)
		(void)bridge_post(arg, it);
}

static const struct relay_handlers relay_handlers = {
	.dtmf = on_dtmf, .media_timeout = on_media_timeout, .room_lost = on_room_lost,
};

/* puller thread */
static bool sip_ready(void *arg)
{
	struct bridge *br = arg;
	return atomic_load(&br->sip_up);
}

/* puller thread: a job, acked and resolved, for the sofia thread to dial */
static void on_job(struct dial_job *job, void *arg)
{
	struct bridge *br = arg;
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it) {
		job_refuse(br, job, "out of memory");
		return;
	}
	it->kind = INBOX_DIAL;
	it->job = job;
	(void)bridge_post(br, it);
}

static const struct dial_puller_handlers puller_handlers = { .ready = sip_ready, .job = on_job };

static bool ready_check(char *why, size_t whylen, void *arg)
{
	struct bridge *br = arg;
	if (!atomic_load(&br->sip_up)) {
		snprintf(why, whylen, "sip: listener on %s not up", br->cfg->sip_bind);
		return false;
	}
	return true;
}

int bridge_new(struct bridge **brp, const struct bridge_cfg *cfg, struct service *svc)
{
	struct bridge *br = calloc(1, sizeof(*br));
	if (!br)
		return ENOMEM;
	br->cfg = cfg;
	br->svc = svc;
	*brp = br;
	return 0;
}

int bridge_start(struct bridge *br)
{
	int err;
	const char *bind = br->cfg->sip_bind;
	struct hostport hp;
	if (addr_parse(&hp, bind, 0)) {
		log_error("config", "SIP_BIND: \"%s\" is not host:port", bind);
		return EINVAL;
	}
	snprintf(br->rtp_bind, sizeof(br->rtp_bind), "%s", hp.host);
	bool wildcard = strcmp(br->rtp_bind, "0.0.0.0") == 0 || strcmp(br->rtp_bind, "*") == 0;
	if (wildcard)
		snprintf(br->rtp_bind, sizeof(br->rtp_bind), "0.0.0.0");
	if (br->cfg->sip_advertise) {
		snprintf(br->rtp_host, sizeof(br->rtp_host), "%s", br->cfg->sip_advertise);
	} else if (wildcard) {
		snprintf(br->rtp_host, sizeof(br->rtp_host), "127.0.0.1");
		log_warn("sip_advertise_unset",
			 "SIP_BIND %s listens on every address but carriers are "
			 "told 127.0.0.1: set SIP_ADVERTISE to the address they reach",
			 bind);
	} else {
		snprintf(br->rtp_host, sizeof(br->rtp_host), "%s", br->rtp_bind);
	}
	br->bus = service_bus(br->svc);
	br->source = service_source(br->svc);
	err = mqueue_new(&br->inbox, INBOX_MAX);
	if (err)
		return err;
	char why[160];
	err = secret_keys_load(&br->keys, br->cfg->secrets_key, br->cfg->secrets_key_previous, why,
			       sizeof(why));
	if (err) {
		log_error("config", "%s", why);
		return err;
	}
	err = publisher_new(&br->pub, br->bus, br->source);
	if (err)
		return err;
	const struct bridge_cfg *cfg = br->cfg;
	struct relay_cfg rcfg = { br->bus, cfg->room_backend, cfg->livekit_url,
				  cfg->livekit_api_key,
				  cfg->livekit_api_secret, cfg->media_timeout_s, cfg->media_threads,
				  &relay_handlers, br };
	err = relay_new(&br->relay, &rcfg);
	if (err)
		return err;
	struct calls_cfg ccfg = { cfg->ring_timeout_s, cfg->media_timeout_s, cfg->rtp_port_min,
				  cfg->rtp_port_max, br->rtp_bind, br->rtp_host, br->source,
				  cfg->max_calls, br->pub, br->relay, &br->active };
	err = calls_new(&br->calls, &ccfg);
	if (err)
		return err;
	service_set_ready_check(br->svc, ready_check, br);
	err = bus_subscribe(br->bus, &br->hangup_sub, "cmd.calls.*.hangup", NULL, on_hangup, br);
	if (err)
		log_warn("hangup_subscribe_failed", "%s (retrying is up to the bus)",
			 cm_strerror(err));
	if (bus_subscribe(br->bus, &br->ended_sub, "calls.*.call_ended", NULL, on_call_over, br) ||
	    bus_subscribe(br->bus, &br->failed_sub, "calls.*.call_failed", NULL, on_call_over, br))
		log_warn("call_over_subscribe_failed",
			 "call_ended/call_failed of others not followed");
	err = pthread_create(&br->sofia_thread, NULL, sofia_main, br);
	if (err)
		return err;
	br->sofia_started = true;
	struct dial_puller_cfg pcfg = { br->svc, br->bus, br->pub, br->keys, cfg->max_calls,
					&br->active, &puller_handlers, br };
	return dial_puller_new(&br->puller, &pcfg);
}

void bridge_stop(struct bridge *br)
{
	atomic_store(&br->stopping, true);
	br->puller = dial_puller_free(br->puller);
	br->hangup_sub = bus_unsubscribe(br->hangup_sub);
	br->ended_sub = bus_unsubscribe(br->ended_sub);
	br->failed_sub = bus_unsubscribe(br->failed_sub);
	if (br->sofia_started) {
		struct inbox_item *wake = item_new(INBOX_WAKE, "", "");
		if (wake)
			(void)bridge_post(br, wake); /* else the loop's next tick sees `stopping` */
		pthread_join(br->sofia_thread, NULL);
	}
	/* anything posted after the sofia thread left */
	struct inbox_item *it;
	while (br->inbox && (it = mqueue_pop(br->inbox))) {
		if (it->kind == INBOX_DIAL) {
			publisher_call_failed(br->pub, it->job->call_id, it->job->room, "failed", 0,
					      "bridge shutting down");
			dial_job_free(it->job);
		}
		free(it);
	}
	/* after the sofia thread: it no longer hands legs over */
	br->sofia_started = false;
	br->calls = calls_free(br->calls);
	br->relay = relay_free(br->relay);
	/* the relay's threads are gone: nobody posts any more */
	br->inbox = mqueue_free(br->inbox, inbox_item_free);
	br->pub = publisher_free(br->pub);
	br->keys = secret_keys_free(br->keys);
}

struct bridge *bridge_free(struct bridge *br)
{
	if (!br)
		return NULL;
	bridge_stop(br);
	free(br);
	return NULL;
}
