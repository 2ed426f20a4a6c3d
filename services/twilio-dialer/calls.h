/* Private to twilio-dialer: the dialer context and one owned call. */
#ifndef TWILIO_DIALER_PRIV_H
#define TWILIO_DIALER_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>

#include "dialer.h"

#define E164_MAX 16

enum call_state { CALL_ST_DIALING, CALL_ST_ANSWERED };

/* A call this process owns, from its dial job until it ends. Guarded by
 * dialer.lock; freed by its own thread. */
struct call {
	struct dialer *d;
	char call_id[ID_UUID_LEN + 1];
	char room[EVENT_ROOM_MAX + 1];
	char identity[LIVEKIT_IDENTITY_MAX + 1];
	char to[E164_MAX + 1];
	char from[E164_MAX + 1];
	char trunk_id[128];
	bool krisp;
	long ring_timeout_s;
	long max_duration_s;
	enum call_state state;
	bool hangup;            /* cmd.calls.<id>.hangup received */
	char hangup_reason[64];
	bool ended_elsewhere;   /* a call_ended/call_failed from another source */
	int64_t answered_ms;    /* monotonic */
	pthread_cond_t cond;
	struct call *next;
};

struct dialer {
	const struct dialer_cfg *cfg;
	struct service *svc;
	struct bus *bus;
	struct livekit *lk;          /* NULL: dialing is off (no LIVEKIT_URL) */
	pthread_mutex_t lock;
	pthread_cond_t changed;      /* a call ended or a thread finished */
	struct call *calls;
	long ncalls;
	long nthreads;               /* call + cancel threads running */
	bool stopping;
	pthread_t puller;
	bool puller_running;
	struct bus_sub *pull_sub;
	struct bus_sub *hangup_sub, *ended_sub, *failed_sub, *trunk_sub;
	int64_t last_heartbeat_ms;
	struct metric *m_jobs, *m_answered, *m_failed, *m_active, *m_hangups;
};

/* Takes a dial.twilio job (already acked): validates it and starts the
 * call's thread, or publishes call_failed for a bad job. */
void calls_take_job(struct dialer *d, const char *data, size_t len);
/* cmd.calls.<id>.hangup; and call_ended / call_failed seen on the bus. */
void calls_on_hangup(const struct bus_msg *msg, void *arg);
void calls_on_ended(const struct bus_msg *msg, void *arg);
/* The ids of the calls owned now, as a JSON array (caller cJSON_Delete). */
cJSON *calls_owned(struct dialer *d);

/* sip.trunks.create (request/reply). */
void trunks_on_create(const struct bus_msg *msg, void *arg);

#endif
