/* An Exotel call from dial job to INVITE (dial.c). */
#ifndef SIP_BRIDGE_DIAL_H
#define SIP_BRIDGE_DIAL_H

#include "event/event.h"
#include "publish.h"
#include "sdp/sdp.h"
#include "service/service.h"
#include "sip/sip.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#define JOB_STR_MAX   256
#define JOB_ADDRS_MAX 4

/* One dial.exotel job, validated. */
struct dial_job {
	char call_id[ID_UUID_LEN + 1];
	char room[EVENT_ROOM_MAX + 1];
	char to_number[32];
	char from_number[32];
	long ring_timeout_s;
	long max_duration_s;
	int64_t created_ms;      /* created_at; 0 when absent */
	int64_t dial_by_ms;      /* dial_by: not dialed after it; 0 = no limit */
	char sip_host[JOB_STR_MAX];
	long sip_port;
	char transport[8];       /* tcp | udp | tls */
	char sip_domain[JOB_STR_MAX];
	char username[JOB_STR_MAX];
	char password[JOB_STR_MAX];
	int naddrs;              /* the trunk's addresses, resolved by the puller */
	struct sockaddr_storage addrs[JOB_ADDRS_MAX];
};

struct secret_keys;
/* Parses and validates a job; on error writes "field: problem" into err.
 * *callidp gets the call id when it was readable (for the failure event).
 * The password comes sealed for "call:<call_id>" (trunk.password_sealed,
 * libs/secret) and is opened with `keys`; a clear trunk.password is refused.
 * Credentials pass sip_credentials_check() (libs/sip). Any thread. */
int dial_job_parse(struct dial_job *job, const struct secret_keys *keys, const char *json,
		   size_t len, char *err, size_t errlen, char callid[ID_UUID_LEN + 1]) CM_MUST_USE;
/* Zeroes the job's password and frees it. NULL-safe. */
void dial_job_free(struct dial_job *job);

/* ---- the puller: takes dial.exotel jobs from DIALS while below max_calls,
 * acks each before it is dialed (at most once), resolves the trunk and
 * hands the job on. Its own thread. */
struct dial_puller_handlers {
	/* the SIP side is up: jobs may be taken */
	bool (*ready)(void *arg);
	/* a job to dial; the handler takes ownership */
	void (*job)(struct dial_job *job, void *arg);
};
struct dial_puller_cfg {
	struct service *svc;
	struct bus *bus;
	struct publisher *pub;          /* call_failed of jobs that are not dialed */
	const struct secret_keys *keys;
	long max_calls;
	atomic_int *active;             /* jobs taken and not finished (the calls decrement it) */
	const struct dial_puller_handlers *h; /* borrowed, outlives the puller */
	void *arg;
};
struct dial_puller;
/* Allocates the puller and starts its thread; cfg's pointers are borrowed. */
int dial_puller_new(struct dial_puller **pp, const struct dial_puller_cfg *cfg) CM_MUST_USE;
/* Stops the thread (the fetch under way ends first), frees. NULL-safe. */
struct dial_puller *dial_puller_free(struct dial_puller *p);

/* ---- the INVITE (sofia thread): to job->to_number at the trunk, from
 * job->from_number, with digest credentials when the job has them and our
 * offer `local`. *legp on success; else *whyp says what failed (for
 * call_failed). */
int dial_invite(struct sip_leg **legp, struct sip_ua *ua, const struct dial_job *job,
		const struct sdp_local *local, sip_leg_h *h, void *arg,
		const char **whyp) CM_MUST_USE;

#endif
