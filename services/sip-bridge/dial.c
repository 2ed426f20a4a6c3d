/* An Exotel call from dial job to INVITE:
 *   dial_job_parse  validates a dial.exotel job (any thread);
 *   the puller      its own thread: takes jobs from DIALS only while below
 *                   MAX_CALLS, acks each before it is dialed (at most once),
 *                   resolves the trunk and hands the job on (to the sofia
 *                   thread's inbox, through its handler);
 *   dial_invite     the sofia thread: the INVITE to the trunk (call.c then
 *                   follows the call). */
#include "dial.h"
#include "secret/secret.h"
#include "taken.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FETCH_BATCH_MAX 16
#define FETCH_WAIT_MS   500
#define JOB_JSON_MAX    16384

struct dial_puller {
	struct dial_puller_cfg cfg;
	struct taken_ids *taken;
	struct metric *m_dials;
	atomic_bool stopping;
	pthread_t thread;
};

static int get_str(char *out, size_t outlen, const cJSON *obj, const char *name, bool required,
		   char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!it || cJSON_IsNull(it)) {
		if (!required) {
			out[0] = '\0';
			return 0;
		}
		snprintf(err, errlen, "%s: required", name);
		return EINVAL;
	}
	if (!cJSON_IsString(it) || !it->valuestring) {
		snprintf(err, errlen, "%s: must be a string", name);
		return EINVAL;
	}
	size_t n = strlen(it->valuestring);
	if (n >= outlen || (required && n == 0)) {
		snprintf(err, errlen, "%s: must be 1..%zu characters", name, outlen - 1);
		return EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)it->valuestring[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '<' || c == '>') {
			snprintf(err, errlen, "%s: contains a forbidden character", name);
			return EINVAL;
		}
	}
	memcpy(out, it->valuestring, n + 1);
	return 0;
}

static int get_int(long *out, const cJSON *obj, const char *name, long def, long min, long max,
		   char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!it || cJSON_IsNull(it)) {
		*out = def;
		return 0;
	}
	/* range first: converting a double outside long's range is undefined */
	if (!cJSON_IsNumber(it) || it->valuedouble < (double)min || it->valuedouble > (double)max ||
	    it->valuedouble != (double)(long)it->valuedouble) {
		snprintf(err, errlen, "%s: must be an integer %ld..%ld", name, min, max);
		return EINVAL;
	}
	*out = (long)it->valuedouble;
	return 0;
}

/* An optional RFC 3339 time (0 when absent). */
static int get_time(int64_t *out, const cJSON *obj, const char *name, char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	*out = 0;
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it) || time_parse_iso8601(out, it->valuestring) != 0) {
		snprintf(err, errlen, "%s: must be an RFC 3339 time", name);
		return EINVAL;
	}
	return 0;
}

static bool is_host(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
			return false;
	}
	return true;
}

/* trunk.<name> through the shared credential rules (libs/sip). */
static int cred_check(const char *name, const char *v, enum sip_cred_field f, char *err,
		      size_t errlen)
{
	char why[96];
	if (!v[0] || !sip_credentials_check(f, v, strlen(v), why, sizeof(why)))
		return 0;
	snprintf(err, errlen, "trunk.%s: %s", name, why);
	return EINVAL;
}

void dial_job_free(struct dial_job *job)
{
	if (job)
		memset(job->password, 0, sizeof(job->password));
	free(job);
}

/* trunk.password_sealed, opened for this call into job->password. */
static int password_open(struct dial_job *job, const struct secret_keys *keys, const cJSON *trunk,
			 char *err, size_t errlen)
{
	const cJSON *sealed = cJSON_GetObjectItemCaseSensitive(trunk, "password_sealed");
	if (cJSON_GetObjectItemCaseSensitive(trunk, "password")) {
		snprintf(err, errlen, "trunk.password: a clear-text password is refused; "
			 "api-gateway sends trunk.password_sealed");
		return EINVAL;
	}
	if (!sealed || cJSON_IsNull(sealed))
		return 0;
	if (!cJSON_IsString(sealed) || !secret_is_sealed(sealed->valuestring)) {
		snprintf(err, errlen, "trunk.password_sealed: not a sealed secret");
		return EINVAL;
	}
	char aad[16 + ID_UUID_LEN], *clear = NULL;
	snprintf(aad, sizeof(aad), "call:%s", job->call_id);
	int rc = secret_open(&clear, NULL, keys, aad, sealed->valuestring);
	if (rc) {
		snprintf(err, errlen, "trunk.password_sealed: %s",
			 rc == ENOKEY ? "sealed under a key this bridge does not hold (SECRETS_KEY)"
			 : rc == EBADMSG ? "does not open for this call (tampered or moved)"
					 : "malformed");
		return EINVAL;
	}
	size_t n = strlen(clear);
	if (n >= sizeof(job->password)) {
		secret_wipe_free(clear);
		snprintf(err, errlen, "trunk.password: longer than %zu characters",
			 sizeof(job->password) - 1);
		return EINVAL;
	}
	memcpy(job->password, clear, n + 1);
	secret_wipe_free(clear);
	return 0;
}

int dial_job_parse(struct dial_job *job, const struct secret_keys *keys, const char *json,
		   size_t len, char *err, size_t errlen, char callid[ID_UUID_LEN + 1])
{
	int rc = EINVAL;
	cJSON *root = NULL;
	callid[0] = '\0';
	memset(job, 0, sizeof(*job));
	if (len > JOB_JSON_MAX) {
		snprintf(err, errlen, "job: larger than %d bytes", JOB_JSON_MAX);
		goto out;
	}
	root = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "job: not a JSON object");
		goto out;
	}
	long v;
	if (get_int(&v, root, "v", 0, 1, 1, err, errlen) || v != 1) {
		snprintf(err, errlen, "v: must be 1");
		goto out;
	}
	if (get_str(job->call_id, sizeof(job->call_id), root, "call_id", true, err, errlen))
		goto out;
	if (!id_is_uuid(job->call_id)) {
		snprintf(err, errlen, "call_id: not a UUID");
		goto out;
	}
	memcpy(callid, job->call_id, sizeof(job->call_id));
	const cJSON *trunk = cJSON_GetObjectItemCaseSensitive(root, "trunk");
	if (get_str(job->room, sizeof(job->room), root, "room", true, err, errlen) ||
	    get_str(job->to_number, sizeof(job->to_number), root, "to_number", true, err, errlen) ||
	    get_str(job->from_number, sizeof(job->from_number), root, "from_number", true, err,
		    errlen) ||
	    get_int(&job->ring_timeout_s, root, "ring_timeout_s", 0, 1, 600, err, errlen) ||
	    get_int(&job->max_duration_s, root, "max_duration_s", 3600, 1, 86400, err, errlen) ||
	    get_time(&job->created_ms, root, "created_at", err, errlen) ||
	    get_time(&job->dial_by_ms, root, "dial_by", err, errlen))
		goto out;
	for (const char *p = job->room; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f) {
			snprintf(err, errlen, "room: must be printable ASCII without spaces");
			goto out;
		}
	}
	if (!e164_valid(job->to_number)) {
		snprintf(err, errlen, "to_number: not E.164");
		goto out;
	}
	if (!e164_valid(job->from_number)) {
		snprintf(err, errlen, "from_number: not E.164");
		goto out;
	}
	if (!cJSON_IsObject(trunk)) {
		snprintf(err, errlen, "trunk: required object");
		goto out;
	}
	char provider[16];
	if (get_str(provider, sizeof(provider), trunk, "provider", false, err, errlen) ||
	    (provider[0] && strcmp(provider, "exotel") != 0)) {
		snprintf(err, errlen, "trunk.provider: must be exotel");
		goto out;
	}
	if (get_str(job->sip_host, sizeof(job->sip_host), trunk, "sip_host", true, err, errlen) ||
	    get_int(&job->sip_port, trunk, "sip_port", 5060, 1, 65535, err, errlen) ||
	    get_str(job->transport, sizeof(job->transport), trunk, "transport", false, err,
		    errlen) ||
	    get_str(job->sip_domain, sizeof(job->sip_domain), trunk, "sip_domain", false, err,
		    errlen) ||
	    get_str(job->username, sizeof(job->username), trunk, "username", false, err, errlen)) {
		char inner[200];
		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "trunk.%s", inner);
		goto out;
	}
	if (!is_host(job->sip_host)) {
		snprintf(err, errlen, "trunk.sip_host: not a host name or address");
		goto out;
	}
	if (job->sip_domain[0] && !is_host(job->sip_domain)) {
		snprintf(err, errlen, "trunk.sip_domain: not a host name");
		goto out;
	}
	if (!job->transport[0])
		snprintf(job->transport, sizeof(job->transport), "tcp");
	if (strcmp(job->transport, "tcp") && strcmp(job->transport, "udp") &&
	    strcmp(job->transport, "tls")) {
		snprintf(err, errlen, "trunk.transport: must be tcp, tls or udp");
		goto out;
	}
	if (password_open(job, keys, trunk, err, errlen) ||
	    cred_check("username", job->username, SIP_CRED_USERNAME, err, errlen) ||
	    cred_check("password", job->password, SIP_CRED_PASSWORD, err, errlen) ||
	    cred_check("sip_host", job->sip_host, SIP_CRED_HOST, err, errlen) ||
	    cred_check("sip_domain", job->sip_domain, SIP_CRED_HOST, err, errlen))
		goto out;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/* Blocking DNS happens here, never on the sofia thread. */
static int resolve(struct dial_job *job)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	const char *host = job->sip_host;
	char bare[JOB_STR_MAX];
	size_t n = strlen(host);
	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		snprintf(bare, sizeof(bare), "%.*s", (int)(n - 2), host + 1);
		host = bare;
	}
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return ENOENT;
	for (struct addrinfo *ai = res; ai && job->naddrs < JOB_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen <= sizeof(job->addrs[0]))
			memcpy(&job->addrs[job->naddrs++], ai->ai_addr, ai->ai_addrlen);
	}
	freeaddrinfo(res);
	return job->naddrs ? 0 : ENOENT;
}

/* Queued past its dial_by (every line was busy, or no bridge ran): the
 * person is not called late; call_failed not_dialed is queued. */
static bool past_dial_by(const struct dial_puller_cfg *cfg, const struct dial_job *job)
{
	int64_t now = time_now_ms();
	if (!job->dial_by_ms || now <= job->dial_by_ms)
		return false;
	log_warn("dial_job_expired", "%s: dial_by passed %lld ms ago; not dialing", job->call_id,
		 (long long)(now - job->dial_by_ms));
	struct event *ev = publisher_draft(cfg->pub, EV_CALL_FAILED, job->call_id, job->room);
	if (ev && event_set_not_dialed(ev, job->created_ms ? now - job->created_ms : -1) == 0)
		publisher_event(cfg->pub, ev);
	else
		event_free(ev);
	return true;
}

static enum bus_ack on_job(const struct bus_msg *msg, void *arg)
{
	struct dial_puller *p = arg;
	const struct dial_puller_cfg *cfg = &p->cfg;
	char err[256] = "", callid[ID_UUID_LEN + 1];
	struct dial_job *job = calloc(1, sizeof(*job));
	if (!job)
		return BUS_NAK;
	if (dial_job_parse(job, cfg->keys, msg->data, (size_t)msg->len, err, sizeof(err), callid)) {
		log_warn("dial_job_invalid", "%s: %s", callid[0] ? callid : "?", err);
		if (callid[0])
			publisher_call_failed(cfg->pub, callid,
					      job->room[0] ? job->room : "unknown", "failed", 0,
					      "invalid dial job");
		dial_job_free(job);
		return BUS_TERM;
	}
	/* The same call delivered again (re-enqueued under another message id,
	 * or redelivered while its first copy was being acked): dialed once. */
	if (taken_has(p->taken, job->call_id)) {
		log_warn("dial_job_duplicate",
			 "%s: already taken (delivery %llu); not dialing again", job->call_id,
			 (unsigned long long)msg->delivered);
		dial_job_free(job);
		return BUS_TERM;
	}
	if (past_dial_by(cfg, job)) {
		dial_job_free(job);
		return BUS_TERM;
	}
	/* At most once: the ack is confirmed before anything is dialed. */
	int rc = bus_js_ack(msg, BUS_ACK_SYNC);
	if (rc) {
		log_warn("dial_job_ack_failed", "%s: %s; not dialing", job->call_id,
			 cm_strerror(rc));
		dial_job_free(job);
		return BUS_ACK;
	}
	taken_add(p->taken, job->call_id);
	if (msg->delivered > 1)
		log_info("dial_job_redelivered", "%s: delivery %llu, never acked before: dialing",
			 job->call_id, (unsigned long long)msg->delivered);
	atomic_fetch_add(cfg->active, 1);
	metric_add(p->m_dials, 1);
	if (resolve(job)) {
		log_warn("dial_resolve_failed", "%s: cannot resolve %s", job->call_id,
			 job->sip_host);
		publisher_call_failed(cfg->pub, job->call_id, job->room, "unreachable", 0,
				      "trunk host does not resolve");
		atomic_fetch_sub(cfg->active, 1);
		dial_job_free(job);
		return BUS_ACK;
	}
	/* the ack and the lookup may have taken a while (DNS timeouts): past
	 * its dial_by now, it is not dialed either (api-gateway fails such a
	 * call OWNER_TIMEOUT_S after dial_by unless a heartbeat lists it) */
	if (past_dial_by(cfg, job)) {
		atomic_fetch_sub(cfg->active, 1);
		dial_job_free(job);
		return BUS_ACK;
	}
	cfg->h->job(job, cfg->arg);
	return BUS_ACK;
}

static void nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *puller_main(void *arg)
{
	struct dial_puller *p = arg;
	const struct dial_puller_cfg *cfg = &p->cfg;
	struct bus_sub *sub = NULL;
	pthread_setname_np(pthread_self(), "sb-dials");
	while (!atomic_load(&p->stopping)) {
		if (!cfg->h->ready(cfg->arg) || !service_bus_ready(cfg->svc)) {
			nap_ms(100);
			continue;
		}
		if (!sub) {
			int err = bus_js_pull_sub(cfg->bus, &sub, "DIALS", "sip-bridge",
						  "dial.exotel");
			if (err) {
				log_warn("dials_consumer_failed", "%s", cm_strerror(err));
				sub = NULL;
				nap_ms(500);
				continue;
			}
			log_info("dials_consumer_ready", "taking dial.exotel jobs (max %ld calls)",
				 cfg->max_calls);
		}
		int free_slots = (int)cfg->max_calls - atomic_load(cfg->active);
		if (free_slots <= 0) {
			nap_ms(20);
			continue;
		}
		int count = 0;
		int err = bus_js_fetch(sub,
				       free_slots < FETCH_BATCH_MAX ? free_slots : FETCH_BATCH_MAX,
				       FETCH_WAIT_MS, on_job, p, &count);
		if (err && err != ETIMEDOUT)
			nap_ms(200);
	}
	sub = bus_unsubscribe(sub);
	return NULL;
}

int dial_puller_new(struct dial_puller **pp, const struct dial_puller_cfg *cfg)
{
	struct dial_puller *p = calloc(1, sizeof(*p));
	int err;
	if (!p)
		return ENOMEM;
	p->cfg = *cfg;
	p->m_dials = metric_counter("sip_bridge_dials_total", "dial jobs taken");
	if ((err = taken_new(&p->taken)) ||
	    (err = pthread_create(&p->thread, NULL, puller_main, p))) {
		p->taken = taken_free(p->taken);
		free(p);
		return err;
	}
	*pp = p;
	return 0;
}

struct dial_puller *dial_puller_free(struct dial_puller *p)
{
	if (!p)
		return NULL;
	atomic_store(&p->stopping, true);
	pthread_join(p->thread, NULL);
	p->taken = taken_free(p->taken);
	free(p);
	return NULL;
}

/* ---- the INVITE (sofia thread) ------------------------------------------- */

static void uri_host(char *out, size_t len, const char *host)
{
	/* a bare IPv6 address needs brackets in a URI */
	if (strchr(host, ':') && host[0] != '[')
		snprintf(out, len, "[%s]", host);
	else
		snprintf(out, len, "%s", host);
}

int dial_invite(struct sip_leg **legp, struct sip_ua *ua, const struct dial_job *job,
		const struct sdp_local *local, sip_leg_h *h, void *arg, const char **whyp)
{
	char sdp[1536], ruri[600], from[600], to[600], host[300], domain[300];
	uri_host(host, sizeof(host), job->sip_host);
	uri_host(domain, sizeof(domain), job->sip_domain[0] ? job->sip_domain : job->sip_host);
	/* sip: with transport=tls rather than sips: — many carriers and UAs
	 * (libre/baresip) do not take requests to a sips: Contact */
	snprintf(ruri, sizeof(ruri), "sip:%s@%s:%ld;transport=%s", job->to_number, host,
		 job->sip_port, job->transport);
	snprintf(from, sizeof(from), "<sip:%s@%s>", job->from_number, domain);
	snprintf(to, sizeof(to), "<sip:%s@%s>", job->to_number, domain);
	int err = sdp_offer_build(sdp, sizeof(sdp), local);
	if (err) {
		*whyp = "offer too large";
		return err;
	}
	struct sip_dial d = { ruri, from, to, job->username[0] ? job->username : NULL,
			      job->password[0] ? job->password : NULL, sdp };
	err = sip_leg_invite(legp, ua, &d, h, arg);
	if (err) {
		*whyp = "cannot send INVITE";
		return err;
	}
	log_info("call_dialing", "%s: %s -> %s via %s", job->call_id, job->from_number,
		 job->to_number, ruri);
	return 0;
}
