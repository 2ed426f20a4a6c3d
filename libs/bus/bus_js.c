/* JetStream: the CALLS and DIALS streams, publish with dedupe, durable pull
 * consumers with explicit acks. */
#include "bus_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S           1000000000LL
#define CALLS_DUP_WINDOW   (120 * NS_PER_S)
#define PULL_ACK_WAIT      (30 * NS_PER_S)
#define CONSUMER_CREATE_WAIT_MS 1000 /* a local JetStream creates one in ms */

static int ensure_stream(struct bus *bus, const char *name, const char *subject,
			 jsRetentionPolicy retention, int64_t dup_window)
{
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	const char *subjects[] = { subject };
	natsStatus s;

	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = retention;
	sc.Storage = js_FileStorage;
	if (dup_window > 0)
		sc.Duplicates = dup_window;

	s = js_AddStream(&si, bus->js, &sc, NULL, &jerr);
	if (s != NATS_OK && jerr == JSStreamNameExistErr) {
		jerr = 0;
		s = js_UpdateStream(&si, bus->js, &sc, NULL, &jerr);
	}
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK) {
		int err = bus_status_err(s);
		if (err == ENOENT) /* no responders: JetStream not up yet */
			err = EAGAIN;
		log_error("bus_stream_failed", "stream=%s: %s (js error %d)", name,
			  natsStatus_GetText(s), (int)jerr);
		return err == EAGAIN || err == ETIMEDOUT ? err : EIO;
	}
	return 0;
}

int bus_ensure_streams(struct bus *bus)
{
	int err;
	if (!bus)
		return EINVAL;
	if (!bus_connected(bus))
		return EAGAIN;
	err = ensure_stream(bus, "CALLS", "calls.>", js_LimitsPolicy, CALLS_DUP_WINDOW);
	if (!err)
		err = ensure_stream(bus, "DIALS", "dial.>", js_WorkQueuePolicy, 0);
	return err;
}

int bus_js_publish(struct bus *bus, const char *subject, const char *msg_id,
		   const void *data, size_t len, int timeout_ms)
{
	jsPubOptions po;
	jsPubAck *pa = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	if (!bus || !subject || (!data && len) || len > INT32_MAX || timeout_ms <= 0)
		return EINVAL;
	/* Not buffered while disconnected: the caller retries with the same id. */
	if (!bus_connected(bus))
		return EAGAIN;
	jsPubOptions_Init(&po);
	po.MsgId = msg_id;
	po.MaxWait = timeout_ms;
	s = js_Publish(&pa, bus->js, subject, data, (int)len, &po, &jerr);
	jsPubAck_Destroy(pa);
	if (s == NATS_OK)
		return 0;
	switch (s) {
	case NATS_TIMEOUT:
		log_warn("bus_js_publish_timeout", "subject=%s msg_id=%s: no ack within %d ms",
			 subject, msg_id ? msg_id : "", timeout_ms);
		return ETIMEDOUT;
	case NATS_NO_RESPONDERS: /* JetStream (or the stream) not available yet */
		return EAGAIN;
	default: {
		int err = bus_status_err(s);
		if (err == EAGAIN)
			return EAGAIN;
		log_error("bus_js_publish_failed", "subject=%s msg_id=%s: %s (js error %d)",
			  subject, msg_id ? msg_id : "", natsStatus_GetText(s), (int)jerr);
		return err == ENOMEM || err == EINVAL || err == EMSGSIZE ? err : EIO;
	}
	}
}

int bus_js_publish_async(struct bus *bus, const char *subject, const char *msg_id,
			 const void *data, size_t len, int timeout_ms)
{
	jsPubOptions po;
	natsStatus s;

	if (!bus || !subject || (!data && len) || len > INT32_MAX || timeout_ms <= 0)
		return EINVAL;
	if (!bus_connected(bus))
		return EAGAIN;
	jsPubOptions_Init(&po);
	po.MsgId = msg_id;
	po.MaxWait = timeout_ms;
	s = js_PublishAsync(bus->js, subject, data, (int)len, &po);
	if (s == NATS_OK)
		return 0;
	if (s == NATS_TIMEOUT) /* stalled: too many acks outstanding */
		return EAGAIN;
	int err = bus_status_err(s);
	if (err == EAGAIN || err == ENOMEM || err == EINVAL || err == EMSGSIZE)
		return err;
	log_error("bus_js_publish_async_failed", "subject=%s: %s", subject, natsStatus_GetText(s));
	return EIO;
}

int bus_js_publish_async_wait(struct bus *bus, int timeout_ms, uint64_t *failedp)
{
	jsPubOptions po;
	natsStatus s;

	if (!bus || timeout_ms <= 0)
		return EINVAL;
	jsPubOptions_Init(&po);
	po.MaxWait = timeout_ms;
	s = js_PublishAsyncComplete(bus->js, &po);
	if (failedp)
		*failedp = atomic_exchange(&bus->js_async_failed, 0);
	if (s == NATS_OK)
		return 0;
	if (s == NATS_TIMEOUT)
		return ETIMEDOUT;
	log_warn("bus_js_publish_async_wait_failed", "%s", natsStatus_GetText(s));
	return bus_status_err(s) == EAGAIN ? EAGAIN : EIO;
}

int bus_js_stream_msgs(struct bus *bus, const char *stream, uint64_t *msgsp)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	if (!bus || !stream || !msgsp)
		return EINVAL;
	if (!bus_connected(bus))
		return EAGAIN;
	s = js_GetStreamInfo(&si, bus->js, stream, NULL, &jerr);
	if (s != NATS_OK) {
		if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
			return ENOENT;
		if (s == NATS_NO_RESPONDERS)
			return EAGAIN;
		log_warn("bus_stream_info_failed", "stream=%s: %s", stream, natsStatus_GetText(s));
		return s == NATS_TIMEOUT ? ETIMEDOUT : EIO;
	}
	*msgsp = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	return 0;
}

/* ---- durable pull consumers -------------------------------------------- */

/* Creates the durable consumer when it does not exist; an existing one is
 * used as it is when its filter is `filter_subject` (EINVAL otherwise).
 * Looking first means a user allowed only to read its consumer (INFO,
 * MSG.NEXT, ACK) binds without the right to create or change it. */
static int ensure_consumer(struct bus *bus, const char *stream, const char *durable,
			   const char *filter_subject)
{
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	int err = 0;

	s = js_GetConsumerInfo(&ci, bus->js, stream, durable, NULL, &jerr);
	if (s == NATS_OK) {
		const char *have = ci->Config ? ci->Config->FilterSubject : NULL;
		if (!have || strcmp(have, filter_subject) != 0) {
			log_error("bus_consumer_filter", "stream=%s durable=%s: filters %s, not %s",
				  stream, durable, have ? have : "everything", filter_subject);
			err = EINVAL;
		}
		jsConsumerInfo_Destroy(ci);
		return err;
	}
	if (s == NATS_NO_RESPONDERS)
		return EAGAIN;
	if (jerr != JSConsumerNotFoundErr && s != NATS_NOT_FOUND) {
		log_error("bus_consumer_failed", "stream=%s durable=%s: info: %s (js error %d)",
			  stream, durable, natsStatus_GetText(s), (int)jerr);
		return jerr == JSStreamNotFoundErr ? ENOENT : s == NATS_TIMEOUT ? ETIMEDOUT : EIO;
	}
	jsConsumerConfig_Init(&cc);
	cc.Durable = durable;
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = PULL_ACK_WAIT;
	cc.FilterSubject = filter_subject;
	cc.DeliverPolicy = js_DeliverAll;
	/* A user that may not create it gets no answer at all (the server tells
	 * the connection of the permission violation, not the request), so the
	 * create waits less than other API calls: the worker looks again soon
	 * and finds the consumer api-gateway creates meanwhile. A create slower
	 * than that is found by the next look. */
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = CONSUMER_CREATE_WAIT_MS;
	jerr = 0;
	s = js_AddConsumer(&ci, bus->js, stream, &cc, &jo, &jerr);
	jsConsumerInfo_Destroy(ci);
	if (s == NATS_TIMEOUT) {
		log_warn("bus_consumer_failed",
			 "stream=%s durable=%s: not created within %d ms (it may be another "
			 "service's to create); looking again",
			 stream, durable, CONSUMER_CREATE_WAIT_MS);
		return ETIMEDOUT;
	}
	if (s != NATS_OK && jerr != JSConsumerNameExistErr && jerr != JSConsumerExistingActiveErr) {
		log_error("bus_consumer_failed", "stream=%s durable=%s filter=%s: %s (js error %d)",
			  stream, durable, filter_subject, natsStatus_GetText(s), (int)jerr);
		return jerr == JSStreamNotFoundErr ? ENOENT : s == NATS_TIMEOUT ? ETIMEDOUT : EIO;
	}
	return 0;
}

int bus_js_ensure_consumer(struct bus *bus, const char *stream, const char *durable,
			   const char *filter_subject)
{
	if (!bus || !stream || !durable || !*durable || !filter_subject)
		return EINVAL;
	if (!bus_connected(bus))
		return EAGAIN;
	return ensure_consumer(bus, stream, durable, filter_subject);
}

int bus_js_pull_sub(struct bus *bus, struct bus_sub **subp, const char *stream,
		    const char *durable, const char *filter_subject)
{
	struct bus_sub *sub = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;
	int err = 0;

	if (!bus || !subp || !stream || !durable || !*durable || !filter_subject)
		return EINVAL;
	if (!bus_connected(bus))
		return EAGAIN;

	/* Create the consumer ourselves (when missing) and bind to it, so that
	 * nats.c never deletes it on unsubscribe. */
	err = ensure_consumer(bus, stream, durable, filter_subject);
	if (err)
		goto out;

	sub = calloc(1, sizeof(*sub));
	if (!sub) {
		err = ENOMEM;
		goto out;
	}
	sub->bus = bus;
	sub->pull = true;
	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.Consumer = durable;
	jerr = 0;
	s = js_PullSubscribe(&sub->ns, bus->js, filter_subject, durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		log_error("bus_pull_subscribe_failed", "stream=%s durable=%s: %s (js error %d)",
			  stream, durable, natsStatus_GetText(s), (int)jerr);
		err = bus_status_err(s);
		if (err != EAGAIN && err != ENOMEM)
			err = EIO;
		goto out;
	}
	*subp = sub;
	sub = NULL;
out:
	free(sub);
	return err;
}

static natsStatus do_ack(natsMsg *nm, enum bus_ack how)
{
	switch (how) {
	case BUS_ACK:
		return natsMsg_Ack(nm, NULL);
	case BUS_ACK_SYNC:
		return natsMsg_AckSync(nm, NULL, NULL);
	case BUS_NAK:
		return natsMsg_Nak(nm, NULL);
	case BUS_TERM:
		return natsMsg_Term(nm, NULL);
	}
	return NATS_INVALID_ARG;
}

int bus_js_ack(const struct bus_msg *msg, enum bus_ack how)
{
	struct bus_js_msg *jm;
	natsStatus s;

	if (!msg || !msg->priv)
		return EINVAL;
	jm = msg->priv;
	if (jm->acked)
		return EINVAL;
	jm->acked = true;
	s = do_ack(jm->nm, how);
	if (s != NATS_OK) {
		int err = bus_status_err(s);
		log_warn("bus_ack_failed", "subject=%s seq=%llu how=%d: %s", msg->subject,
			 (unsigned long long)msg->seq, (int)how, natsStatus_GetText(s));
		return err == ETIMEDOUT || err == EAGAIN ? err : EIO;
	}
	return 0;
}

/* Fills *m and *jm for nm; *metap (may stay NULL) is the caller's to destroy. */
static void fetched_msg(struct bus_msg *m, struct bus_js_msg *jm, jsMsgMetaData **metap,
			natsMsg *nm)
{
	*jm = (struct bus_js_msg){ .nm = nm };
	*metap = NULL;
	bus_msg_fill(m, nm);
	m->priv = jm;
	if (natsMsg_GetMetaData(metap, nm) == NATS_OK) {
		m->seq = (*metap)->Sequence.Stream;
		m->delivered = (*metap)->NumDelivered;
	}
}

static void ack_unless_acked(struct bus_msg *m, enum bus_ack how)
{
	struct bus_js_msg *jm = m->priv;
	if (!jm->acked) {
		int aerr = bus_js_ack(m, how); /* logged there; redelivered after AckWait */
		(void)aerr;
	}
}

/* Starts a fetch (*countp, may be NULL, zeroed): EINVAL/EAGAIN before asking
 * the server, else 0 with *sp set. */
static int fetch_start(natsMsgList *list, natsStatus *sp, jsErrCode *jerrp, int *countp,
		       struct bus_sub *sub, int batch, int timeout_ms, bool has_handler)
{
	if (countp)
		*countp = 0;
	if (!sub || !sub->pull || batch <= 0 || timeout_ms <= 0 || !has_handler)
		return EINVAL;
	if (!bus_connected(sub->bus))
		return EAGAIN;
	*sp = natsSubscription_Fetch(list, sub->ns, batch, timeout_ms, jerrp);
	return 0;
}

/* What a fetch that handled n messages returns. */
static int fetch_result(natsStatus s, jsErrCode jerr, int n)
{
	if (n > 0)
		return 0;
	if (s == NATS_OK || s == NATS_TIMEOUT)
		return ETIMEDOUT;
	int err = bus_status_err(s);
	if (err == EAGAIN || err == ENOMEM)
		return err;
	log_warn("bus_fetch_failed", "%s (js error %d)", natsStatus_GetText(s), (int)jerr);
	return EIO;
}

int bus_js_fetch(struct bus_sub *sub, int batch, int timeout_ms, bus_js_msg_h *h, void *arg,
		 int *countp)
{
	natsMsgList list = { 0 };
	jsErrCode jerr = 0;
	natsStatus s = NATS_OK;
	int n = 0;
	int err = fetch_start(&list, &s, &jerr, countp, sub, batch, timeout_ms, h != NULL);
	if (err)
		return err;
	for (int i = 0; i < list.Count; i++) {
		struct bus_js_msg jm;
		struct bus_msg m;
		jsMsgMetaData *meta;

		fetched_msg(&m, &jm, &meta, list.Msgs[i]);
		ack_unless_acked(&m, h(&m, arg));
		jsMsgMetaData_Destroy(meta);
		n++;
	}
	natsMsgList_Destroy(&list);
	if (countp)
		*countp = n;
	return fetch_result(s, jerr, n);
}

int bus_js_fetch_batch(struct bus_sub *sub, int batch, int timeout_ms, bus_js_batch_h *h,
		       void *arg, int *countp)
{
	natsMsgList list = { 0 };
	jsErrCode jerr = 0;
	natsStatus s = NATS_OK;
	struct bus_msg *ms = NULL;
	struct bus_js_msg *jms = NULL;
	jsMsgMetaData **metas = NULL;
	enum bus_ack *hows = NULL;
	int n = 0;
	int err = fetch_start(&list, &s, &jerr, countp, sub, batch, timeout_ms, h != NULL);
	if (err)
		return err;
	if (list.Count > 0) {
		size_t k = (size_t)list.Count;
		ms = calloc(k, sizeof(*ms));
		jms = calloc(k, sizeof(*jms));
		metas = calloc(k, sizeof(*metas));
		hows = calloc(k, sizeof(*hows));
		if (!ms || !jms || !metas || !hows) {
			/* not acked: each comes back after the ack wait */
			err = ENOMEM;
			goto out;
		}
		for (int i = 0; i < list.Count; i++) {
			fetched_msg(&ms[i], &jms[i], &metas[i], list.Msgs[i]);
			hows[i] = BUS_NAK;
		}
		n = list.Count;
		h(ms, n, hows, arg);
		for (int i = 0; i < n; i++)
			ack_unless_acked(&ms[i], hows[i]);
	}
out:
	for (int i = 0; metas && i < list.Count; i++)
		jsMsgMetaData_Destroy(metas[i]);
	free(ms);
	free(jms);
	free(metas);
	free(hows);
	natsMsgList_Destroy(&list);
	if (countp)
		*countp = n;
	return err ? err : fetch_result(s, jerr, n);
}

/* ---- pipelined publishes ------------------------------------------------- */

static void pub_unlink(struct bus_js_pub *p)
{
	struct bus *bus = p->bus;
	for (struct bus_js_pub **pp = &bus->pubs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			bus->npubs--;
			break;
		}
	}
	p->linked = false;
}

void bus_js_pub_limit(struct bus *bus, int max)
{
	if (!bus || max < 1 || max > 65536)
		return;
	pthread_mutex_lock(&bus->pub_mu);
	bus->pubs_max = max;
	pthread_mutex_unlock(&bus->pub_mu);
}

int bus_js_pub_send(struct bus_js_pub **pubp, struct bus *bus, const char *subject,
		    const char *msg_id, const void *data, size_t len, int timeout_ms)
{
	struct bus_js_pub *p = NULL;
	natsMsg *msg = NULL;
	jsPubOptions po;
	natsStatus s;
	int err = 0;

	if (!pubp || !bus || !subject || (!data && len) || len > INT32_MAX || timeout_ms <= 0)
		return EINVAL;
	*pubp = NULL;
	if (!bus_connected(bus))
		return EAGAIN;
	p = calloc(1, sizeof(*p));
	if (!p || natsMsg_Create(&msg, subject, NULL, data, (int)len) != NATS_OK) {
		err = ENOMEM;
		goto out;
	}
	p->bus = bus;
	p->msg = msg;
	p->timeout_ms = timeout_ms;
	/* linked before it is sent: its ack may come before js_PublishMsgAsync returns */
	pthread_mutex_lock(&bus->pub_mu);
	if (bus->npubs >= bus->pubs_max) {
		pthread_mutex_unlock(&bus->pub_mu);
		log_warn("bus_js_pub_busy", "subject=%s: %d publishes already await their acks",
			 subject, bus->pubs_max);
		err = EBUSY;
		goto out;
	}
	p->next = bus->pubs;
	bus->pubs = p;
	bus->npubs++;
	p->linked = true;
	pthread_mutex_unlock(&bus->pub_mu);

	jsPubOptions_Init(&po);
	po.MsgId = msg_id;
	po.MaxWait = timeout_ms;
	s = js_PublishMsgAsync(bus->js, &msg, &po);
	if (s != NATS_OK && msg) { /* still ours: never sent, no ack will come */
		pthread_mutex_lock(&bus->pub_mu);
		if (p->linked)
			pub_unlink(p);
		pthread_mutex_unlock(&bus->pub_mu);
		err = bus_status_err(s);
		if (s == NATS_TIMEOUT)
			err = EBUSY; /* stalled behind nats.c's own limit */
		else if (err != EAGAIN && err != ENOMEM && err != EINVAL && err != EMSGSIZE)
			err = EIO;
		log_warn("bus_js_pub_failed", "subject=%s msg_id=%s: %s", subject,
			 msg_id ? msg_id : "", natsStatus_GetText(s));
		goto out;
	}
	msg = NULL; /* nats.c's now, destroyed by the ack handler */
	*pubp = p;
	p = NULL;
out:
	natsMsg_Destroy(msg);
	free(p);
	return err;
}

int bus_js_pub_wait(struct bus_js_pub *p)
{
	struct timespec deadline;
	int rc = 0, err;

	if (!p)
		return EINVAL;
	struct bus *bus = p->bus;
	/* nats.c times the ack out after timeout_ms; the second is a backstop */
	time_deadline(&deadline, CLOCK_MONOTONIC, p->timeout_ms + 1000);
	pthread_mutex_lock(&bus->pub_mu);
	while (!p->done && rc == 0)
		rc = pthread_cond_timedwait(&bus->pub_cv, &bus->pub_mu, &deadline);
	if (p->done) {
		err = p->err;
	} else {
		p->done = true; /* a late ack finds it no more */
		p->msg = NULL;
		err = ETIMEDOUT;
	}
	pthread_mutex_unlock(&bus->pub_mu);
	return err;
}

struct bus_js_pub *bus_js_pub_free(struct bus_js_pub *p)
{
	if (!p)
		return NULL;
	pthread_mutex_lock(&p->bus->pub_mu);
	if (p->linked)
		pub_unlink(p);
	pthread_mutex_unlock(&p->bus->pub_mu);
	free(p);
	return NULL;
}
