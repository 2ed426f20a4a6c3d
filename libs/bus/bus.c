/* The connection, core publish/subscribe and request/reply over nats.c. */
#include "bus_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUS_PING_INTERVAL_MS 2000
#define BUS_MAX_PINGS_OUT    2
#define BUS_RECONNECT_WAIT   250
#define BUS_RECONNECT_BUF    (8 * 1024 * 1024)
#define BUS_CONNECT_TIMEOUT  2000
#define BUS_JS_API_WAIT_MS   5000
#define BUS_CLOSE_WAIT_MS    5000
#define BUS_UNSUB_DRAIN_MS   2000
#define BUS_JS_ASYNC_MAX_PENDING 4096
#define BUS_JS_ASYNC_STALL_MS    5000
/* nats.c spins up to 2000 times on a taken lock before it sleeps on it; on
 * a machine with fewer cores than busy threads the spinning only burns the
 * core the holder needs (bench_api, docs/decisions.md). Takes effect when
 * this is the process's first use of the library. */
#define BUS_LOCK_SPIN_COUNT      0
#define BUS_JS_PUB_MAX           1024 /* pipelined publishes awaiting acks */

int bus_status_err(natsStatus s)
{
	switch (s) {
	case NATS_OK:
		return 0;
	case NATS_TIMEOUT:
		return ETIMEDOUT;
	case NATS_NO_RESPONDERS:
	case NATS_NOT_FOUND:
		return ENOENT;
	case NATS_NO_MEMORY:
		return ENOMEM;
	case NATS_INVALID_ARG:
	case NATS_INVALID_SUBJECT:
	case NATS_INVALID_QUEUE_NAME:
	case NATS_INVALID_TIMEOUT:
		return EINVAL;
	case NATS_MAX_PAYLOAD:
		return EMSGSIZE;
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_NOT_YET_CONNECTED:
	case NATS_NO_SERVER:
	case NATS_IO_ERROR:
	case NATS_STALE_CONNECTION:
	case NATS_DRAINING:
		return EAGAIN;
	default:
		return EIO;
	}
}

/* ---- connection callbacks (nats.c's async callback thread) ------------ */

static void on_connected(natsConnection *nc, void *closure)
{
	struct bus *bus = closure;
	char url[256] = "", shown[256];
	(void)natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	log_info("bus_connected", "name=%s url=%s", bus->name,
		 cfg_url_redact(shown, sizeof(shown), url));
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct bus *bus = closure;
	(void)nc;
	pthread_mutex_lock(&bus->mu);
	bool closing = bus->closing;
	pthread_mutex_unlock(&bus->mu);
	if (!closing)
		log_warn("bus_disconnected", "name=%s reconnecting", bus->name);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct bus *bus = closure;
	char url[256] = "", shown[256];
	(void)natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	log_info("bus_reconnected", "name=%s url=%s", bus->name,
		 cfg_url_redact(shown, sizeof(shown), url));
}

static void on_closed(natsConnection *nc, void *closure)
{
	struct bus *bus = closure;
	const char *text = NULL;
	natsStatus last = natsConnection_GetLastError(nc, &text);
	pthread_mutex_lock(&bus->mu);
	if (!bus->closing && (last == NATS_NOT_PERMITTED || last == NATS_CONNECTION_AUTH_FAILED ||
			      last == NATS_NO_SERVER)) {
		/* Reconnects are unlimited: nats.c gives up on a server only
		 * when it refused the identity (twice in a row). */
		atomic_fetch_add(&bus->denied, 1);
		log_error("bus_auth_failed",
			  "name=%s: the server refused this connection for good (%s); "
			  "check NATS_USER/NATS_PASSWORD, NATS_CREDS or NATS_NKEY, and NATS_TLS_* "
			  "against the server's TLS settings",
			  bus->name, text ? text : natsStatus_GetText(last));
	} else if (!bus->closing) {
		log_warn("bus_closed", "name=%s connection closed (%s: %s)", bus->name,
			 natsStatus_GetText(last), text ? text : "");
	}
	bus->closed = true;
	pthread_cond_broadcast(&bus->cond);
	pthread_mutex_unlock(&bus->mu);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	struct bus *bus = closure;
	const char *subj = sub ? "subscription" : "connection";
	char last[256] = "";
	const char *text = NULL;
	/* A permissions violation names the subject the server refused. */
	if (err == NATS_NOT_PERMITTED)
		atomic_fetch_add(&bus->denied, 1);
	if (natsConnection_GetLastError(nc, &text) != NATS_OK && text)
		snprintf(last, sizeof(last), ": %s", text);
	log_warn(err == NATS_NOT_PERMITTED ? "bus_not_permitted" : "bus_async_error",
		 "name=%s %s: %s%s", bus->name, subj, natsStatus_GetText(err), last);
}

static int pub_ack_err(const jsPubAckErr *pae)
{
	if (!pae)
		return 0;
	if (pae->Err == NATS_TIMEOUT)
		return ETIMEDOUT;
	if (pae->Err == NATS_NO_RESPONDERS)
		return EAGAIN;
	int err = bus_status_err(pae->Err);
	return err == EAGAIN ? EAGAIN : EIO;
}

/* Every async publish's ack or failure (nats.c's reply thread). A pipelined
 * publish (bus_js_pub) is handed its result; a bulk one is only counted
 * when it failed. nats.c leaves the message to us. */
static void on_js_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct bus *bus = closure;
	bool mine = false;
	(void)js;
	(void)pa;
	pthread_mutex_lock(&bus->pub_mu);
	for (struct bus_js_pub *p = bus->pubs; p; p = p->next) {
		if (p->done || p->msg != msg)
			continue;
		p->msg = NULL;
		p->done = true;
		p->err = pub_ack_err(pae);
		mine = true;
		pthread_cond_broadcast(&bus->pub_cv);
		break;
	}
	pthread_mutex_unlock(&bus->pub_mu);
	if (pae) {
		const char *id = NULL;
		(void)natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
		if (!mine)
			atomic_fetch_add(&bus->js_async_failed, 1);
		log_warn("bus_js_async_publish_failed", "subject=%s msg_id=%s: %s (js error %d)",
			 natsMsg_GetSubject(msg), id ? id : "", natsStatus_GetText(pae->Err),
			 (int)pae->ErrCode);
	}
	natsMsg_Destroy(msg);
}

/* ---- connect / close ---------------------------------------------------- */

void bus_auth_from_cfg(struct bus_auth *auth, const struct core_cfg *core)
{
	memset(auth, 0, sizeof(*auth));
	auth->creds_file = core->nats_creds;
	auth->nkey = core->nats_nkey;
	auth->nkey_seed_file = core->nats_nkey_seed;
	auth->user = core->nats_user;
	auth->password = core->nats_password;
	auth->tls_ca = core->nats_tls_ca;
	auth->tls_cert = core->nats_tls_cert;
	auth->tls_key = core->nats_tls_key;
	auth->inbox_prefix = core->nats_inbox_prefix;
}

static natsStatus set_auth(natsOptions *opts, const struct bus_auth *a, const char **whatp)
{
	natsStatus s = NATS_OK;
	if (!a)
		return NATS_OK;
	int ways = !!a->creds_file + !!(a->nkey || a->nkey_seed_file) + !!(a->user || a->password);
	if (ways > 1 || !a->nkey != !a->nkey_seed_file || !a->user != !a->password ||
	    !a->tls_cert != !a->tls_key) {
		*whatp = "identity: one of creds, nkey + seed, user + password";
		return NATS_INVALID_ARG;
	}
	if (a->creds_file) {
		*whatp = "NATS_CREDS";
		s = natsOptions_SetUserCredentialsFromFiles(opts, a->creds_file, NULL);
	} else if (a->nkey) {
		*whatp = "NATS_NKEY_SEED";
		s = natsOptions_SetNKeyFromSeed(opts, a->nkey, a->nkey_seed_file);
	} else if (a->user) {
		*whatp = "NATS_USER";
		s = natsOptions_SetUserInfo(opts, a->user, a->password);
	}
	if (s == NATS_OK && (a->tls_ca || a->tls_cert)) {
		*whatp = "NATS TLS";
		s = natsOptions_SetSecure(opts, true);
		if (s == NATS_OK && a->tls_ca) {
			*whatp = "NATS_TLS_CA";
			s = natsOptions_LoadCATrustedCertificates(opts, a->tls_ca);
		}
		if (s == NATS_OK && a->tls_cert) {
			*whatp = "NATS_TLS_CERT/NATS_TLS_KEY";
			s = natsOptions_LoadCertificatesChain(opts, a->tls_cert, a->tls_key);
		}
	}
	if (s == NATS_OK && a->inbox_prefix && *a->inbox_prefix &&
	    strcmp(a->inbox_prefix, "_INBOX")) {
		*whatp = "NATS_INBOX_PREFIX";
		s = natsOptions_SetCustomInboxPrefix(opts, a->inbox_prefix);
	}
	return s;
}

int bus_connect(struct bus **busp, const char *url, const char *name)
{
	return bus_connect_auth(busp, url, name, NULL);
}

int bus_connect_auth(struct bus **busp, const char *url, const char *name,
		     const struct bus_auth *auth)
{
	struct bus *bus = NULL;
	char shown[512];
	const char *what = "options";
	natsOptions *opts = NULL;
	natsStatus s;
	int err = 0;

	if (!busp || !url || !*url)
		return EINVAL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return ENOMEM;
	pthread_mutex_init(&bus->mu, NULL);
	pthread_cond_init(&bus->cond, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&bus->pub_mu, NULL);
	pthread_cond_init(&bus->pub_cv, &ca);
	pthread_condattr_destroy(&ca);
	bus->pubs_max = BUS_JS_PUB_MAX;
	snprintf(bus->name, sizeof(bus->name), "%s", name ? name : "callmesh");

	s = nats_Open(BUS_LOCK_SPIN_COUNT);
	if (s == NATS_OK) s = natsOptions_Create(&opts);
	if (s == NATS_OK) s = natsOptions_SetURL(opts, url);
	if (s == NATS_OK) s = natsOptions_SetName(opts, bus->name);
	if (s == NATS_OK) s = natsOptions_SetTimeout(opts, BUS_CONNECT_TIMEOUT);
	if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, BUS_RECONNECT_WAIT);
	if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, BUS_RECONNECT_BUF);
	if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, BUS_PING_INTERVAL_MS);
	if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, BUS_MAX_PINGS_OUT);
	/* Events are small and latency matters more than batching: write each
	 * publish at once instead of waiting for the flusher thread (~1 ms). */
	if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
	if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, bus);
	if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, bus);
	if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, bus);
	if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, on_closed, bus);
	if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, on_error, bus);
	if (s == NATS_OK) s = set_auth(opts, auth, &what);
	if (s != NATS_OK) {
		const char *detail = nats_GetLastError(NULL);
		log_error("bus_options_failed", "%s: %s%s%s", what, natsStatus_GetText(s),
			  detail ? ": " : "", detail ? detail : "");
		err = bus_status_err(s);
		goto out;
	}

	cfg_url_redact(shown, sizeof(shown), url);
	s = natsConnection_Connect(&bus->nc, opts);
	if (s == NATS_NOT_YET_CONNECTED) {
		log_warn("bus_not_yet_connected", "name=%s url=%s: retrying in the background",
			 bus->name, shown);
	} else if (s != NATS_OK) {
		const char *detail = nats_GetLastError(NULL);
		log_error("bus_connect_failed", "name=%s url=%s: %s%s%s", bus->name, shown,
			  natsStatus_GetText(s), detail ? ": " : "", detail ? detail : "");
		err = s == NATS_ADDRESS_MISSING ? EINVAL : bus_status_err(s);
		goto out;
	} else {
		log_info("bus_connected", "name=%s url=%s", bus->name, shown);
	}

	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = BUS_JS_API_WAIT_MS;
	jo.PublishAsync.MaxPending = BUS_JS_ASYNC_MAX_PENDING;
	jo.PublishAsync.AckHandler = on_js_ack;
	jo.PublishAsync.AckHandlerClosure = bus;
	jo.PublishAsync.StallWait = BUS_JS_ASYNC_STALL_MS;
	s = natsConnection_JetStream(&bus->js, bus->nc, &jo);
	if (s != NATS_OK) {
		log_error("bus_jetstream_failed", "%s", natsStatus_GetText(s));
		err = bus_status_err(s);
		goto out;
	}

out:
	natsOptions_Destroy(opts);
	if (err) {
		bus_close(bus);
		return err;
	}
	*busp = bus;
	return 0;
}

uint64_t bus_denied(struct bus *bus)
{
	return bus ? atomic_load(&bus->denied) : 0;
}

bool bus_connected(struct bus *bus)
{
	return bus && bus->nc && natsConnection_Status(bus->nc) == NATS_CONN_STATUS_CONNECTED;
}

struct bus *bus_close(struct bus *bus)
{
	if (!bus)
		return NULL;
	if (bus->nc) {
		if (bus_connected(bus))
			(void)natsConnection_FlushTimeout(bus->nc, 1000);
		pthread_mutex_lock(&bus->mu);
		bus->closing = true;
		pthread_mutex_unlock(&bus->mu);
		natsConnection_Close(bus->nc);
		/* The closed callback is the last one that touches `bus`. */
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += BUS_CLOSE_WAIT_MS / 1000;
		pthread_mutex_lock(&bus->mu);
		while (!bus->closed) {
			if (pthread_cond_timedwait(&bus->cond, &bus->mu, &deadline) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&bus->mu);
	}
	jsCtx_Destroy(bus->js);
	natsConnection_Destroy(bus->nc);
	pthread_cond_destroy(&bus->cond);
	pthread_mutex_destroy(&bus->mu);
	pthread_cond_destroy(&bus->pub_cv);
	pthread_mutex_destroy(&bus->pub_mu);
	free(bus);
	return NULL;
}

void bus_library_shutdown(int timeout_ms)
{
	(void)nats_CloseAndWait(timeout_ms);
}

/* ---- core publish / subscribe ------------------------------------------ */

int bus_publish(struct bus *bus, const char *subject, const void *data, size_t len)
{
	if (!bus || !subject || (!data && len) || len > INT32_MAX)
		return EINVAL;
	natsStatus s = natsConnection_Publish(bus->nc, subject, data, (int)len);
	if (s != NATS_OK) {
		int err = bus_status_err(s);
		if (err != EAGAIN)
			log_warn("bus_publish_failed", "subject=%s: %s", subject,
				 natsStatus_GetText(s));
		return err;
	}
	return 0;
}

void bus_msg_fill(struct bus_msg *m, natsMsg *nm)
{
	const char *id = NULL;
	memset(m, 0, sizeof(*m));
	m->subject = natsMsg_GetSubject(nm);
	m->reply = natsMsg_GetReply(nm);
	if (m->reply && !*m->reply)
		m->reply = NULL;
	m->data = natsMsg_GetData(nm);
	m->len = natsMsg_GetDataLength(nm);
	if (natsMsgHeader_Get(nm, "Nats-Msg-Id", &id) == NATS_OK)
		m->msg_id = id;
}

static void on_msg(natsConnection *nc, natsSubscription *ns, natsMsg *nm, void *closure)
{
	struct bus_sub *sub = closure;
	struct bus_msg m;
	(void)nc;
	(void)ns;
	bus_msg_fill(&m, nm);
	sub->h(&m, sub->arg);
	natsMsg_Destroy(nm);
}

int bus_subscribe(struct bus *bus, struct bus_sub **subp, const char *subject,
		  const char *queue, bus_msg_h *h, void *arg)
{
	struct bus_sub *sub;
	natsStatus s;

	if (!bus || !subp || !subject || !h)
		return EINVAL;
	sub = calloc(1, sizeof(*sub));
	if (!sub)
		return ENOMEM;
	sub->bus = bus;
	sub->h = h;
	sub->arg = arg;
	if (queue)
		s = natsConnection_QueueSubscribe(&sub->ns, bus->nc, subject, queue, on_msg, sub);
	else
		s = natsConnection_Subscribe(&sub->ns, bus->nc, subject, on_msg, sub);
	if (s != NATS_OK) {
		log_error("bus_subscribe_failed", "subject=%s queue=%s: %s", subject,
			  queue ? queue : "", natsStatus_GetText(s));
		free(sub);
		return bus_status_err(s);
	}
	/* One round trip, so that the server routes to us once we return (a
	 * responder that announces itself must already be reachable). */
	if (bus_connected(bus))
		(void)natsConnection_FlushTimeout(bus->nc, 2000);
	*subp = sub;
	return 0;
}

struct bus_sub *bus_unsubscribe(struct bus_sub *sub)
{
	if (!sub)
		return NULL;
	if (sub->pull) {
		/* Destroy only: the durable consumer stays on the server. */
		natsSubscription_Destroy(sub->ns);
		free(sub);
		return NULL;
	}
	/* Drain so that no handler runs once we return; when the connection is
	 * down, drain fails and a plain unsubscribe has to do. */
	natsStatus s = NATS_ERR;
	if (bus_connected(sub->bus))
		s = natsSubscription_DrainTimeout(sub->ns, BUS_UNSUB_DRAIN_MS);
	if (s == NATS_OK)
		s = natsSubscription_WaitForDrainCompletion(sub->ns, BUS_UNSUB_DRAIN_MS + 500);
	else
		(void)natsSubscription_Unsubscribe(sub->ns);
	natsSubscription_Destroy(sub->ns);
	free(sub);
	return NULL;
}

/* ---- request / reply ---------------------------------------------------- */

int bus_request(struct bus *bus, char **replyp, size_t *lenp, const char *subject,
		const void *data, size_t len, int timeout_ms)
{
	natsMsg *reply = NULL;
	natsStatus s;
	int err = 0;

	if (!bus || !replyp || !subject || (!data && len) || len > INT32_MAX || timeout_ms <= 0)
		return EINVAL;
	if (!bus_connected(bus))
		return EAGAIN;
	s = natsConnection_Request(&reply, bus->nc, subject, data, (int)len, timeout_ms);
	if (s != NATS_OK) {
		err = bus_status_err(s);
		if (err != ENOENT && err != EAGAIN)
			log_warn("bus_request_failed", "subject=%s: %s", subject,
				 natsStatus_GetText(s));
		goto out;
	}
	int n = natsMsg_GetDataLength(reply);
	char *buf = malloc((size_t)n + 1);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}
	if (n > 0)
		memcpy(buf, natsMsg_GetData(reply), (size_t)n);
	buf[n] = '\0';
	*replyp = buf;
	if (lenp)
		*lenp = (size_t)n;
out:
	natsMsg_Destroy(reply);
	return err;
}

int bus_respond(struct bus *bus, const struct bus_msg *msg, const void *data, size_t len)
{
	if (!bus || !msg)
		return EINVAL;
	if (!msg->reply || !*msg->reply)
		return EINVAL;
	return bus_publish(bus, msg->reply, data, len);
}
