/* sofia-sip nua behind libs/sip/sip.h: one thread, media handling off. */
#include "sip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

struct sip_ua;
struct sip_leg;
struct sip_watch;
#define SU_ROOT_MAGIC_T  struct sip_ua
#define SU_WAKEUP_ARG_T  struct sip_watch
#define NUA_MAGIC_T      struct sip_ua
#define NUA_HMAGIC_T     struct sip_leg

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport_tag.h>
#pragma GCC diagnostic pop

#define CRED_MAX 512
#define WATCH_MAX 4

/* What this agent serves, advertised in every Allow header. */
#define ALLOW_SERVED "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"
/* What the stack lets through to on_nua_event: every method it knows, so
 * that none is answered (202 to REFER, 200 to MESSAGE, NOTIFYs sent) before
 * the policy in serve_other() decides; never advertised. */
#define ALLOW_SEEN \
	ALLOW_SERVED ", INFO, MESSAGE, REFER, SUBSCRIBE, NOTIFY, PUBLISH, REGISTER, PRACK"

struct sip_watch {
	struct sip_ua *ua;
	int fd;
	sip_fd_h *h;
	void *arg;
	int index; /* su_root registration */
};

struct sip_leg {
	struct sip_ua *ua;
	nua_handle_t *nh;
	sip_leg_h *h;
	void *arg;
	struct sip_leg *next;
	char *username, *password;
	int auth_tries;
	bool answered;      /* ANSWERED delivered */
	bool final_seen;    /* FAILED delivered */
	bool hangup;        /* sip_leg_hangup() called */
	bool bye_sent;
	bool in_offer;      /* inside a SIP_LEG_OFFER handler */
	bool offer_answered;
	int ok_code;
	char *answer_sdp;   /* the 2xx SDP, until ANSWERED */
	size_t answer_len;
	char call_id[128];
};

struct sip_ua {
	su_home_t home[1];
	su_root_t *root;
	nua_t *nua;
	struct sip_ua_cfg cfg;
	struct sip_leg *legs;
	struct sip_watch watch[WATCH_MAX];
	int nwatch;
	bool shutdown_done;
	char tls_contact[200];   /* <sip:host:port;transport=tls>, "" without TLS */
};

/* How much of a TCP connection's queued data sofia reads at once.
 * tport_recv_stream() receives everything queued (FIONREAD) into the buffer
 * of the message being read; each complete message keeps that whole buffer
 * and the rest is copied into the next message's. A carrier's connection
 * under load queues tens of kB: every message then held ~45 kB while its
 * transaction lived (32 s, Timer D) and the copies grew with the square of
 * the backlog. Reading at most SIP_STREAM_READ_MAX per wakeup bounds both;
 * the poll is level-triggered, so the rest is read on the next step. */

/* Interposes sofia's own su_getmsgsize() (libsofia-sip-ua calls it through
 * its PLT): the same FIONREAD, capped for stream sockets only — a datagram
 * must be read whole. */
issize_t su_getmsgsize(su_socket_t s)
{
	int n = -1, type = 0;
	socklen_t len = sizeof(type);
	if (ioctl(s, FIONREAD, &n) == -1)
		return -1;
	if (n > SIP_STREAM_READ_MAX && getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_STREAM)
		n = SIP_STREAM_READ_MAX;
	return (issize_t)n;
}

static const char *reason_or(const char *phrase, int status)
{
	if (phrase && *phrase)
		return phrase;
	return status >= 200 && status < 300 ? "OK" : "";
}

static void leg_deliver(struct sip_leg *leg, enum sip_leg_event ev, int code, const char *reason,
			const char *sdp, size_t sdp_len, const char *method)
{
	struct sip_leg_info info = { ev, code, reason ? reason : "", sdp, sdp_len, method };
	leg->h(leg, &info, leg->arg);
}

static void leg_unlink(struct sip_leg *leg)
{
	for (struct sip_leg **pp = &leg->ua->legs; *pp; pp = &(*pp)->next) {
		if (*pp == leg) {
			*pp = leg->next;
			break;
		}
	}
}

static void leg_free(struct sip_leg *leg)
{
	leg_unlink(leg);
	if (leg->nh) {
		nua_handle_bind(leg->nh, NULL);
		nua_handle_destroy(leg->nh);
	}
	free(leg->username);
	free(leg->password);
	free(leg->answer_sdp);
	free(leg);
}

/* GONE, then free. */
static void leg_gone(struct sip_leg *leg)
{
	leg_deliver(leg, SIP_LEG_GONE, 0, "", NULL, 0, NULL);
	leg_free(leg);
}

static bool peer_allowed(struct sip_ua *ua)
{
	msg_t *msg = nua_current_request(ua->nua);
	su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
	if (!ai || !ai->ai_addr)
		return false;
	if (!ua->cfg.peer_allowed)
		return true;
	return ua->cfg.peer_allowed((const struct sockaddr *)ai->ai_addr, (socklen_t)ai->ai_addrlen,
				    ua->cfg.arg);
}

static void respond_and_drop(struct sip_ua *ua, nua_handle_t *nh, int code, const char *phrase)
{
	nua_respond(nh, code, phrase, NUTAG_WITH_THIS(ua->nua), SIPTAG_ALLOW_STR(ALLOW_SERVED),
		    TAG_END());
	nua_handle_destroy(nh);
}

/* Requests other than INVITE/UPDATE/OPTIONS: a stranger gets 403 whatever
 * the method; from the trunk, everything but BYE — REFER, MESSAGE, INFO,
 * SUBSCRIBE, NOTIFY, PUBLISH, REGISTER, unknown methods — is 405 with our
 * Allow (RFC 3261 §21.4.6: understood, not allowed here; 501 is for methods
 * not recognised at all). Nothing is ever accepted that would make the
 * stack send requests of its own (a REFER's NOTIFYs).
 * BYE stays the stack's: it answers 200 to a BYE naming one of our dialogs
 * before we see it, and would end the session on any final answer we gave
 * (403 included) without a BYE of ours to the trunk. A BYE from another
 * address that names a live dialog (Call-ID and both tags) therefore ends
 * the call; it is logged. Without the dialog it gets 481. */
static void serve_other(struct sip_ua *ua, nua_handle_t *nh, struct sip_leg *leg,
			nua_event_t event, int status)
{
	if (!nh)
		return;
	if (event == nua_i_bye) {
		if (!leg)
			return;
		if (!peer_allowed(ua))
			log_warn("sip_bye_from_elsewhere",
				 "call %s: BYE from an address that is not "
				 "the trunk's",
				 leg->call_id);
		if (!leg->bye_sent)
			leg_deliver(leg, SIP_LEG_BYE, 200, "BYE", NULL, 0, NULL);
		return;
	}
	if (status >= 200) { /* already answered by the stack (481, 400 …) */
		if (!leg)
			nua_handle_destroy(nh);
		return;
	}
	if (!peer_allowed(ua))
		nua_respond(nh, 403, "Forbidden", NUTAG_WITH_THIS(ua->nua), TAG_END());
	else
		nua_respond(nh, 405, "Method Not Allowed", NUTAG_WITH_THIS(ua->nua),
			    SIPTAG_ALLOW_STR(ALLOW_SERVED), TAG_END());
	if (!leg)
		nua_handle_destroy(nh);
}

static void on_auth(struct sip_leg *leg, int status, const char *phrase, sip_t const *sip)
{
	msg_auth_t const *au = status == 401 ? sip->sip_www_authenticate
					     : sip->sip_proxy_authenticate;
	const char *realm = au ? msg_params_find(au->au_params, "realm=") : NULL;
	char cred[CRED_MAX];
	if (leg->auth_tries++ > 0 || !au || !realm || !leg->username || !leg->password ||
	    snprintf(cred, sizeof(cred), "%s:%s:%s:%s", au->au_scheme, realm, leg->username,
		     leg->password) >= (int)sizeof(cred)) {
		leg->final_seen = true;
		leg_deliver(leg, SIP_LEG_FAILED, status, reason_or(phrase, status), NULL, 0, NULL);
		return;
	}
	nua_authenticate(leg->nh, NUTAG_AUTH(cred), TAG_END());
}

static void on_r_invite(struct sip_leg *leg, int status, const char *phrase, sip_t const *sip)
{
	if (sip && sip->sip_call_id && sip->sip_call_id->i_id)
		snprintf(leg->call_id, sizeof(leg->call_id), "%s", sip->sip_call_id->i_id);
	if (status > 100 && status < 200) {
		if (!leg->answered && !leg->final_seen)
			leg_deliver(leg, SIP_LEG_PROGRESS, status, reason_or(phrase, status), NULL,
				    0, NULL);
	} else if (status >= 200 && status < 300) {
		if (leg->answered)
			return; /* a retransmitted 2xx */
		leg->ok_code = status;
		free(leg->answer_sdp);
		leg->answer_sdp = NULL;
		leg->answer_len = 0;
		if (sip && sip->sip_payload && sip->sip_payload->pl_data) {
			leg->answer_len = sip->sip_payload->pl_len;
			leg->answer_sdp = malloc(leg->answer_len + 1);
			if (leg->answer_sdp) {
				memcpy(leg->answer_sdp, sip->sip_payload->pl_data, leg->answer_len);
				leg->answer_sdp[leg->answer_len] = '\0';
			} else {
				leg->answer_len = 0;
			}
		}
	} else if ((status == 401 || status == 407) && sip && !leg->hangup) {
		on_auth(leg, status, phrase, sip);
	} else if (status >= 300 && !leg->answered && !leg->final_seen) {
		leg->final_seen = true;
		leg_deliver(leg, SIP_LEG_FAILED, status, reason_or(phrase, status), NULL, 0, NULL);
	}
}

static void on_state(struct sip_leg *leg, tagi_t tags[])
{
	int state = nua_callstate_init;
	tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END());
	if (state == nua_callstate_ready && !leg->answered && !leg->final_seen) {
		leg->answered = true;
		leg_deliver(leg, SIP_LEG_ANSWERED, leg->ok_code ? leg->ok_code : 200, "OK",
			    leg->answer_sdp, leg->answer_len, NULL);
		free(leg->answer_sdp);
		leg->answer_sdp = NULL;
		leg->answer_len = 0;
		if (leg->hangup && !leg->bye_sent) {
			/* CANCEL crossed the 200 OK: end it with BYE. */
			leg->bye_sent = true;
			nua_bye(leg->nh, TAG_END());
		}
	} else if (state == nua_callstate_terminated) {
		if (!leg->answered && !leg->final_seen) {
			leg->final_seen = true;
			leg_deliver(leg, SIP_LEG_FAILED, 500, "session terminated", NULL, 0, NULL);
		}
		leg_gone(leg);
	}
}

static void on_offer(struct sip_ua *ua, struct sip_leg *leg, nua_handle_t *nh, const char *method,
		     sip_t const *sip)
{
	if (!peer_allowed(ua)) {
		nua_respond(nh, 403, "Forbidden", NUTAG_WITH_THIS(ua->nua), TAG_END());
		return;
	}
	const char *sdp = NULL;
	size_t len = 0;
	if (sip && sip->sip_payload && sip->sip_payload->pl_data && sip->sip_payload->pl_len) {
		sdp = sip->sip_payload->pl_data;
		len = sip->sip_payload->pl_len;
	}
	leg->in_offer = true;
	leg->offer_answered = false;
	leg_deliver(leg, SIP_LEG_OFFER, 0, "", sdp, len, method);
	leg->in_offer = false;
	if (!leg->offer_answered)
		nua_respond(nh, 488, "Not Acceptable Here", NUTAG_WITH_THIS(ua->nua), TAG_END());
}

static void on_nua_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
			 struct sip_ua *ua, nua_handle_t *nh, struct sip_leg *leg, sip_t const *sip,
			 tagi_t tags[])
{
	(void)nua;
	switch (event) {
	case nua_r_shutdown:
		if (status >= 200)
			ua->shutdown_done = true;
		return;
	case nua_i_options:
		if (!leg) {
			respond_and_drop(ua, nh, peer_allowed(ua) ? 200 : 403,
					 peer_allowed(ua) ? "OK" : "Forbidden");
		} else {
			nua_respond(nh, peer_allowed(ua) ? 200 : 403,
				    peer_allowed(ua) ? "OK" : "Forbidden", NUTAG_WITH_THIS(ua->nua),
				    SIPTAG_ALLOW_STR(ALLOW_SERVED), TAG_END());
		}
		return;
	case nua_i_bye:
	case nua_i_refer:
	case nua_i_message:
	case nua_i_info:
	case nua_i_subscribe:
	case nua_i_notify:
	case nua_i_publish:
	case nua_i_register:
	case nua_i_method:
	case nua_i_prack:
		serve_other(ua, nh, leg, event, status);
		return;
	case nua_i_invite:
	case nua_i_update:
		if (!leg) {
			if (!nh)
				return;
			if (sip && sip->sip_to && sip->sip_to->a_tag)
				respond_and_drop(ua, nh, 481, "Call/Transaction Does Not Exist");
			else if (!peer_allowed(ua))
				respond_and_drop(ua, nh, 403, "Forbidden");
			else
				respond_and_drop(ua, nh, 403, "Outbound Only");
			return;
		}
		on_offer(ua, leg, nh, event == nua_i_invite ? "INVITE" : "UPDATE", sip);
		return;
	case nua_r_invite:
		if (leg)
			on_r_invite(leg, status, phrase, sip);
		return;
	case nua_i_state:
		if (leg)
			on_state(leg, tags);
		return;
	case nua_i_error:
		log_warn("sip_stack_error", "%d %s", status, phrase ? phrase : "");
		return;
	default:
		/* Requests nobody here serves on a handle nobody owns. */
		if (!leg && nh && event >= nua_i_chat && event <= nua_i_update &&
		    event != nua_i_state)
			nua_handle_destroy(nh);
		return;
	}
}

/* "host:port" → host as a SIP URI wants it (an IPv6 literal in brackets) and port. */
static int split_bind(char *host, size_t hostlen, char *port, size_t portlen, const char *bind)
{
	struct hostport hp;
	if (!bind || addr_parse(&hp, bind, 0))
		return EINVAL;
	bool v6 = strchr(hp.host, ':') != NULL;
	int n = snprintf(host, hostlen, v6 ? "[%s]" : "%s", hp.host);
	int m = snprintf(port, portlen, "%u", (unsigned)hp.port);
	if (n < 0 || (size_t)n >= hostlen || m < 0 || (size_t)m >= portlen)
		return EINVAL;
	return 0;
}

/* A bind host as a maddr: "*" is sofia's wildcard, maddr wants 0.0.0.0. */
static const char *maddr_host(const char *host)
{
	return strcmp(host, "*") ? host : "0.0.0.0";
}

int sip_ua_new(struct sip_ua **uap, const struct sip_ua_cfg *cfg)
{
	char host[128], port[16], url[200], tls_host[128], tls_port[16], sips_url[200] = "";
	struct sip_ua *ua = NULL;
	int err = 0;

	if (!uap || !cfg || split_bind(host, sizeof(host), port, sizeof(port), cfg->bind))
		return EINVAL;
	/* sip:public;maddr=bind: sofia binds to maddr and names the host part in
	 * Via and Contact */
	const char *adv = cfg->advertise && *cfg->advertise ? cfg->advertise : NULL;
	char maddr[160] = "";
	if (adv)
		snprintf(maddr, sizeof(maddr), ";maddr=%s", maddr_host(host));
	snprintf(url, sizeof(url), "sip:%s:%s%s", adv ? adv : host, port, maddr);
	if (cfg->tls_bind && *cfg->tls_bind) {
		if (!cfg->tls_cert_dir || split_bind(tls_host, sizeof(tls_host), tls_port,
						     sizeof(tls_port), cfg->tls_bind))
			return EINVAL;
		if (adv)
			snprintf(maddr, sizeof(maddr), ";maddr=%s", maddr_host(tls_host));
		snprintf(sips_url, sizeof(sips_url), "sips:%s:%s%s", adv ? adv : tls_host, tls_port,
			 maddr);
	}
	su_init();
	su_log_set_level(NULL, 0);
	ua = calloc(1, sizeof(*ua));
	if (!ua) {
		err = ENOMEM;
		goto out;
	}
	su_home_init(ua->home);
	ua->cfg = *cfg;
	ua->root = su_root_create(ua);
	if (!ua->root) {
		err = EIO;
		goto out;
	}
	/* The stack runs on this thread: without this nua_create() starts a
	 * thread of its own and every event crosses a socketpair to reach us. */
	su_root_threading(ua->root, 0);
	ua->nua = nua_create(ua->root, on_nua_event, ua, NUTAG_URL(url), NUTAG_MEDIA_ENABLE(0),
			     NUTAG_AUTOANSWER(0), NUTAG_AUTOACK(1), NUTAG_APPL_METHOD("OPTIONS"),
			     NUTAG_APPL_METHOD("UPDATE"), NUTAG_APPL_METHOD("REFER"),
			     NUTAG_APPL_METHOD("MESSAGE"), NUTAG_APPL_METHOD("INFO"),
			     NUTAG_APPL_METHOD("SUBSCRIBE"), NUTAG_APPL_METHOD("NOTIFY"),
			     NUTAG_APPL_METHOD("PUBLISH"), NUTAG_APPL_METHOD("REGISTER"),
			     NUTAG_APPL_METHOD("PRACK"), SIPTAG_ALLOW_STR(ALLOW_SEEN),
			     NUTAG_SUPPORTED("timer"), NUTAG_SESSION_TIMER(0),
			     NUTAG_MIN_SE(cfg->min_se ? cfg->min_se : 90), NUTAG_UPDATE_REFRESH(1),
			     SIPTAG_USER_AGENT_STR(cfg->user_agent ? cfg->user_agent : "callmesh"),
			     TAG_IF(sips_url[0], NUTAG_SIPS_URL(sips_url)),
			     TAG_IF(sips_url[0], TPTAG_CERTIFICATE(cfg->tls_cert_dir)),
			     TAG_IF(sips_url[0],
				    TPTAG_TLS_VERIFY_POLICY(cfg->tls_verify ? TPTLS_VERIFY_OUT
									    : TPTLS_VERIFY_NONE)),
			     TAG_END());
	if (!ua->nua) {
		log_error("sip_listen_failed", "SIP_BIND %s: cannot bind", cfg->bind);
		err = EADDRINUSE;
		goto out;
	}
	if (sips_url[0])
		snprintf(ua->tls_contact, sizeof(ua->tls_contact), "<sip:%s:%s;transport=tls>",
			 adv ? adv : tls_host, tls_port);
	log_info("sip_listening", "SIP on %s (TCP and UDP)%s%s", url,
		 sips_url[0] ? ", TLS on " : "", sips_url);
out:
	if (err && ua) {
		if (ua->root)
			su_root_destroy(ua->root);
		su_home_deinit(ua->home);
		free(ua);
		su_deinit();
		ua = NULL;
	}
	*uap = ua;
	return err;
}

struct sip_ua *sip_ua_free(struct sip_ua *ua, int timeout_ms)
{
	if (!ua)
		return NULL;
	int64_t end = time_mono_ms() + timeout_ms;
	for (struct sip_leg *l = ua->legs; l; l = l->next)
		sip_leg_hangup(l);
	while (ua->legs && time_mono_ms() < end)
		su_root_step(ua->root, 20);
	while (ua->legs)
		leg_gone(ua->legs);
	nua_shutdown(ua->nua);
	while (!ua->shutdown_done && time_mono_ms() < end + 1000)
		su_root_step(ua->root, 20);
	nua_destroy(ua->nua);
	for (int i = 0; i < ua->nwatch; i++)
		su_root_deregister(ua->root, ua->watch[i].index);
	su_root_destroy(ua->root);
	su_home_deinit(ua->home);
	free(ua);
	su_deinit();
	return NULL;
}

void sip_ua_step(struct sip_ua *ua, int timeout_ms)
{
	su_root_step(ua->root, timeout_ms);
}

static int on_watch(struct sip_ua *ua, su_wait_t *w, struct sip_watch *watch)
{
	(void)ua;
	(void)w;
	watch->h(watch->fd, watch->arg);
	return 0;
}

int sip_ua_watch(struct sip_ua *ua, int fd, sip_fd_h *h, void *arg)
{
	if (!ua || fd < 0 || !h || ua->nwatch >= WATCH_MAX)
		return EINVAL;
	struct sip_watch *w = &ua->watch[ua->nwatch];
	su_wait_t wait[1];
	if (su_wait_create(wait, fd, SU_WAIT_IN) != 0)
		return EIO;
	w->ua = ua;
	w->fd = fd;
	w->h = h;
	w->arg = arg;
	w->index = su_root_register(ua->root, wait, on_watch, w, 0);
	if (w->index < 0)
		return EIO;
	ua->nwatch++;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int sip_leg_invite(struct sip_leg **legp, struct sip_ua *ua, const struct sip_dial *d,
		   sip_leg_h *h, void *arg)
{
	if (!legp || !ua || !d || !d->request_uri || !d->from || !d->to || !d->sdp || !h)
		return EINVAL;
	struct sip_leg *leg = calloc(1, sizeof(*leg));
	if (!leg)
		return ENOMEM;
	leg->ua = ua;
	leg->h = h;
	leg->arg = arg;
	leg->username = dup_or_null(d->username);
	leg->password = dup_or_null(d->password);
	if ((d->username && !leg->username) || (d->password && !leg->password)) {
		free(leg->username);
		free(leg->password);
		free(leg);
		return ENOMEM;
	}
	/* Over TLS the stack's own Contact is a sips: URI, which many peers
	 * (libre/baresip among them) will not send requests to. */
	bool tls = ua->tls_contact[0] && strstr(d->request_uri, ";transport=tls") != NULL;
	/* Every request of this dialog goes to the address dialed (the next hop
	 * is pinned): a Contact or Record-Route naming somewhere else changes
	 * the Request-URI, never where the packets go. */
	char proxy[300];
	const char *at = strchr(d->request_uri, '@');
	snprintf(proxy, sizeof(proxy), "%s%s",
		 strncmp(d->request_uri, "sips:", 5) ? "sip:" : "sips:",
		 at ? at + 1 : d->request_uri + (strncmp(d->request_uri, "sips:", 5) ? 4 : 5));
	leg->nh = nua_handle(ua->nua, leg, SIPTAG_FROM_STR(d->from), SIPTAG_TO_STR(d->to),
			     NUTAG_PROXY(proxy), TAG_IF(tls, SIPTAG_CONTACT_STR(ua->tls_contact)),
			     TAG_END());
	if (!leg->nh) {
		free(leg->username);
		free(leg->password);
		free(leg);
		return ENOMEM;
	}
	leg->next = ua->legs;
	ua->legs = leg;
	nua_invite(leg->nh, NUTAG_URL(d->request_uri), SIPTAG_ALLOW_STR(ALLOW_SERVED),
		   SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		   SIPTAG_PAYLOAD_STR(d->sdp), TAG_END());
	*legp = leg;
	return 0;
}

int sip_leg_answer(struct sip_leg *leg, int code, const char *sdp)
{
	if (!leg || !leg->in_offer || leg->offer_answered || code < 200 || code > 699)
		return EINVAL;
	leg->offer_answered = true;
	if (sdp)
		nua_respond(leg->nh, code, sip_status_phrase(code), NUTAG_WITH_THIS(leg->ua->nua),
			    SIPTAG_ALLOW_STR(ALLOW_SERVED),
			    SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp),
			    TAG_END());
	else
		nua_respond(leg->nh, code, sip_status_phrase(code), NUTAG_WITH_THIS(leg->ua->nua),
			    TAG_END());
	return 0;
}

void sip_leg_hangup(struct sip_leg *leg)
{
	if (!leg || leg->hangup)
		return;
	leg->hangup = true;
	if (leg->answered) {
		leg->bye_sent = true;
		nua_bye(leg->nh, TAG_END());
	} else if (!leg->final_seen) {
		nua_cancel(leg->nh, TAG_END());
	}
}

const char *sip_leg_call_id(const struct sip_leg *leg)
{
	return leg ? leg->call_id : "";
}
