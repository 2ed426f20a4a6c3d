/* The sofia thread, the inbox that feeds it, the hangup subscription. */
#include "bridge.h"
#include "secret/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define TICK_MS 50
#define SIP_SHUTDOWN_MS 3000

void *dial_puller_main(void *arg);

struct event *bridge_event(struct bridge *br, enum event_type type, const char *call_id,
			   const char *room)
{
	struct event *ev = NULL;
	if (event_new(&ev, type, call_id, room, br->source))
		return NULL;
	return ev;
}

void call_fail_job(struct bridge *br, const char *call_id, const char *room, const char *status,
		   int sip_code, const char *reason)
{
	struct event *ev = bridge_event(br, EV_CALL_FAILED, call_id, room);
	if (!ev)
		return;
	if (event_set_str(ev, "status", status) ||
	    (sip_code >= 100 && sip_code <= 699 && event_set_int(ev, "sip_code", sip_code)) ||
	    (reason && event_set_str(ev, "sip_reason", reason))) {
		event_free(ev);
		return;
	}
	metric_add(br->m_failed, 1);
	publisher_event(br->pub, ev);
}

void bridge_post(struct bridge *br, struct inbox_item *item)
{
	uint64_t one = 1;
	item->next = NULL;
	pthread_mutex_lock(&br->mu);
	if (br->tail)
		br->tail->next = item;
	else
		br->head = item;
	br->tail = item;
	pthread_mutex_unlock(&br->mu);
	if (write(br->efd, &one, sizeof(one)) != sizeof(one))
		log_warn("inbox_wake_failed", "%s", strerror(errno));
}

static struct inbox_item *inbox_take_all(struct bridge *br)
{
	pthread_mutex_lock(&br->mu);
	struct inbox_item *all = br->head;
	br->head = br->tail = NULL;
	pthread_mutex_unlock(&br->mu);
	return all;
}

/* On the sofia thread: runs everything queued. */
static void inbox_drain(struct bridge *br, bool stopping)
{
	struct inbox_item *it = inbox_take_all(br);
	while (it) {
		struct inbox_item *next = it->next;
		if (it->kind == INBOX_DIAL) {
			if (stopping) {
				call_fail_job(br, it->job->call_id, it->job->room, "failed", 0,
					      "bridge shutting down");
				atomic_fetch_sub(&br->active, 1);
				dial_job_free(it->job);
			} else {
				call_start(br, it->job);
			}
		} else if (it->kind == INBOX_HANGUP) {
			call_hangup(br, it->call_id, it->reason);
		} else if (it->kind == INBOX_MEDIA_TIMEOUT) {
			call_media_timeout(br, it->call_id);
		} else if (it->kind == INBOX_ENDED_ELSEWHERE) {
			call_ended_elsewhere(br, it->call_id, it->reason, it->source);
		}
		free(it);
		it = next;
	}
}

static void on_inbox(int fd, void *arg)
{
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("inbox_read_failed", "%s", strerror(errno));
	inbox_drain(arg, false);
}

static bool peer_allowed(const struct sockaddr *sa, socklen_t len, void *arg)
{
	return calls_peer_allowed(arg, sa, len);
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
		err = sip_ua_alloc(&br->ua, &ucfg);
		if (err == 0)
			break;
		/* the port may be released in a moment (a restart): retry */
		for (int i = 0; i < 10 && !atomic_load(&br->stopping); i++)
			usleep(100000);
	}
	if (!br->ua)
		return NULL;
	err = sip_ua_watch(br->ua, br->efd, on_inbox, br);
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
			calls_tick(br, now);
		}
		if (now >= br->next_heartbeat_ms) {
			br->next_heartbeat_ms = now + 2000;
			calls_heartbeat(br);
		}
	}
	atomic_store(&br->sip_up, false);
	inbox_drain(br, true);
	br->ua = sip_ua_free(br->ua, SIP_SHUTDOWN_MS);
	calls_heartbeat(br);
	return NULL;
}

static void on_hangup(const struct bus_msg *msg, void *arg)
{
	struct bridge *br = arg;
	/* cmd.calls.<call_id>.hangup */
	const char *p = msg->subject + strlen("cmd.calls.");
	const char *dot = strchr(p, '.');
	if (!dot || dot - p != ID_UUID_LEN)
		return;
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->kind = INBOX_HANGUP;
	memcpy(it->call_id, p, ID_UUID_LEN);
	it->call_id[ID_UUID_LEN] = '\0';
	snprintf(it->reason, sizeof(it->reason), "hangup");
	cJSON *root = msg->len > 0 && msg->len < 4096 ? cJSON_ParseWithLength(msg->data, (size_t)msg->len) : NULL;
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(root, "reason");
	if (cJSON_IsString(reason) && reason->valuestring && *reason->valuestring)
		snprintf(it->reason, sizeof(it->reason), "%s", reason->valuestring);
	cJSON_Delete(root);
	if (!id_is_uuid(it->call_id)) {
		free(it);
		return;
	}
	bridge_post(br, it);
}

/* calls.<call_id>.call_ended / call_failed: ours come back too and are
 * skipped by source; anyone else's ends the leg (call_ended_elsewhere). */
static void on_call_over(const struct bus_msg *msg, void *arg)
{
	struct bridge *br = arg;
	struct event *ev = NULL;
	char err[128];
	if (msg->len <= 0 || event_decode(&ev, msg->data, (size_t)msg->len, err, sizeof(err)) != 0) {
		log_warn("call_over_unreadable", "subject=%s: %s", msg->subject, msg->len > 0 ? err : "empty");
		return;
	}
	/* the subject names the call too: both must agree */
	const char *sub_id = msg->subject + strlen("calls.");
	bool same_call = strncmp(sub_id, ev->call_id, ID_UUID_LEN) == 0 && sub_id[ID_UUID_LEN] == '.';
	if (same_call && strcmp(ev->source, br->source) != 0 && id_is_uuid(ev->call_id) &&
	    (ev->type == EV_CALL_ENDED || ev->type == EV_CALL_FAILED)) {
		struct inbox_item *it = calloc(1, sizeof(*it));
		if (it) {
			it->kind = INBOX_ENDED_ELSEWHERE;
			snprintf(it->call_id, sizeof(it->call_id), "%s", ev->call_id);
			snprintf(it->reason, sizeof(it->reason), "%s", event_type_name(ev->type));
			snprintf(it->source, sizeof(it->source), "%s", ev->source);
			bridge_post(br, it);
		}
	}
	ev = event_free(ev);
}

static bool ready_check(char *why, size_t whylen, void *arg)
{
	struct bridge *br = arg;
	if (!atomic_load(&br->sip_up)) {
		snprintf(why, whylen, "sip: listener on %s not up", br->cfg->sip_bind);
		return false;
	}
	return true;
}

int bridge_start(struct bridge *br)
{
	int err;
	const char *bind = br->cfg->sip_bind;
	const char *colon = strrchr(bind, ':');
	snprintf(br->rtp_bind, sizeof(br->rtp_bind), "%.*s", (int)(colon - bind), bind);
	bool wildcard = strcmp(br->rtp_bind, "0.0.0.0") == 0 || strcmp(br->rtp_bind, "*") == 0;
	if (wildcard)
		snprintf(br->rtp_bind, sizeof(br->rtp_bind), "0.0.0.0");
	if (br->cfg->sip_advertise) {
		snprintf(br->rtp_host, sizeof(br->rtp_host), "%s", br->cfg->sip_advertise);
	} else if (wildcard) {
		snprintf(br->rtp_host, sizeof(br->rtp_host), "127.0.0.1");
		log_warn("sip_advertise_unset", "SIP_BIND %s listens on every address but carriers are "
			 "told 127.0.0.1: set SIP_ADVERTISE to the address they reach", bind);
	} else {
		snprintf(br->rtp_host, sizeof(br->rtp_host), "%s", br->rtp_bind);
	}
	br->bus = service_bus(br->svc);
	br->source = service_source(br->svc);
	pthread_mutex_init(&br->mu, NULL);
	br->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (br->efd < 0)
		return errno;
	br->m_dials = metric_counter("sip_bridge_dials_total", "dial jobs taken");
	br->m_answered = metric_counter("sip_bridge_answered_total", "calls answered");
	br->m_failed = metric_counter("sip_bridge_failed_total", "calls failed");
	br->m_holds = metric_counter("sip_bridge_holds_total", "remote holds detected");
	br->m_active = metric_gauge("sip_bridge_active_calls", "calls in progress");
	err = taken_alloc(&br->taken);
	if (err)
		return err;
	char why[160];
	err = secret_keys_load(&br->keys, br->cfg->secrets_key, br->cfg->secrets_key_previous, why,
			       sizeof(why));
	if (err) {
		log_error("config", "%s", why);
		return err;
	}
	err = publisher_start(&br->pub, br->bus);
	if (err)
		return err;
	err = relay_start(&br->relay, br);
	if (err)
		return err;
	service_set_ready_check(br->svc, ready_check, br);
	err = bus_subscribe(br->bus, &br->hangup_sub, "cmd.calls.*.hangup", NULL, on_hangup, br);
	if (err)
		log_warn("hangup_subscribe_failed", "%s (retrying is up to the bus)", cm_strerror(err));
	if (bus_subscribe(br->bus, &br->ended_sub, "calls.*.call_ended", NULL, on_call_over, br) ||
	    bus_subscribe(br->bus, &br->failed_sub, "calls.*.call_failed", NULL, on_call_over, br))
		log_warn("call_over_subscribe_failed", "call_ended/call_failed of others not followed");
	err = pthread_create(&br->sofia_thread, NULL, sofia_main, br);
	if (err)
		return err;
	br->sofia_started = true;
	err = pthread_create(&br->puller_thread, NULL, dial_puller_main, br);
	if (err)
		return err;
	br->puller_started = true;
	return 0;
}

void bridge_stop(struct bridge *br)
{
	atomic_store(&br->stopping, true);
	if (br->puller_started)
		pthread_join(br->puller_thread, NULL);
	br->hangup_sub = bus_unsubscribe(br->hangup_sub);
	br->ended_sub = bus_unsubscribe(br->ended_sub);
	br->failed_sub = bus_unsubscribe(br->failed_sub);
	if (br->sofia_started) {
		uint64_t one = 1;
		if (write(br->efd, &one, sizeof(one)) < 0)
			log_warn("inbox_wake_failed", "%s", strerror(errno));
		pthread_join(br->sofia_thread, NULL);
	}
	/* anything posted after the sofia thread left */
	struct inbox_item *it = inbox_take_all(br);
	while (it) {
		struct inbox_item *next = it->next;
		if (it->kind == INBOX_DIAL) {
			call_fail_job(br, it->job->call_id, it->job->room, "failed", 0, "bridge shutting down");
			dial_job_free(it->job);
		}
		free(it);
		it = next;
	}
	/* after the sofia thread: it no longer hands legs over */
	br->relay = relay_stop(br->relay);
	br->pub = publisher_stop(br->pub, 5000);
	br->taken = taken_free(br->taken);
	br->keys = secret_keys_free(br->keys);
	if (br->efd >= 0)
		close(br->efd);
	pthread_mutex_destroy(&br->mu);
}
