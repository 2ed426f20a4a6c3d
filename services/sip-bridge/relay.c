/* The relay between the carrier's RTP and the call's room, for every call of
 * this bridge. Threads of its own:
 *   media threads MEDIA_THREADS of them (default: one per CPU), a new leg
 *                 going to the one with the fewest; each has one epoll over
 *                 its legs' RTP sockets, a command eventfd and a 20 ms
 *                 timerfd; carrier G.711 → back in sequence → room (8 kHz
 *                 PCM: the room encodes Opus from it) as packets arrive, and
 *                 room 8 kHz → G.711 → carrier, paced by the timerfd; RFC
 *                 4733 digits → call_dtmf; the media timeout;
 *   room thread   join and leave (each a blocking request to room-manager),
 *                 so neither SIP nor media ever waits on NATS.
 * A leg is created by the sofia thread when it dials (relay_leg_new: the
 * room is joined while the far end rings, so that the agent's first words
 * after the answer are not lost to a join still under way), started on the
 * answer (relay_leg_start), changed (relay_leg_update) and handed back once
 * (relay_leg_free); a leg never started goes straight to the room thread. Commands reach the
 * leg's media thread in order; that thread, done with a leg, hands it to the
 * room thread, which leaves the room and frees it. Every leg's JOIN is queued
 * to the room thread before its LEAVE can be, so a leg is freed exactly once,
 * by the room thread, after the room's receive thread stopped. What a leg
 * does with its media is media.c. What the relay has to report (digits,
 * media timeouts, lost rooms) goes to the handlers given to relay_new. */
#include "relay_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* ---- queues -------------------------------------------------------------- */


/* The leg's room is gone for good (e.g. LiveKit went away): the call cannot
 * go on without its agent, so the owner is told (it hangs the leg up). */
static void on_room_closed(int err, const char *reason, void *arg)
{
	struct relay_leg *l = arg;
	log_warn("room_lost", "%s: room %s: %s", l->call_id, l->room_name,
		 reason && *reason ? reason : cm_strerror(err));
	l->relay->h->room_lost(l->call_id, l->relay->arg);
}

static const struct room_handlers room_handlers = {
	.frame = relay_on_room_frame, .closed = on_room_closed,
};
static void wake(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		log_warn("relay_wake_failed", "%s", strerror(errno));
}

static void post_cmd(struct relay_shard *sh, struct relay_cmd *c)
{
	c->next = NULL;
	pthread_mutex_lock(&sh->mu);
	if (sh->tail)
		sh->tail->next = c;
	else
		sh->head = c;
	sh->tail = c;
	pthread_mutex_unlock(&sh->mu);
	wake(sh->efd);
}

static void post_job(struct relay *r, struct room_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&r->jmu);
	if (r->jtail)
		r->jtail->next = j;
	else
		r->jhead = j;
	r->jtail = j;
	pthread_cond_signal(&r->jcv);
	pthread_mutex_unlock(&r->jmu);
}

/* ---- legs ---------------------------------------------------------------- */

static void leg_free(struct relay_leg *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	media_srtp_free(l->srtp);
	jbuf_free(l->jb);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

int relay_leg_new(struct relay_leg **legp, struct relay *r, const char *call_id, const char *room)
{
	int err;
	struct relay_leg *l = calloc(1, sizeof(*l));
	/* reorder only (jbuf_pop); G.711 up to 60 ms a packet */
	struct jbuf_cfg jc = { 8000, RELAY_TICK_MS, 20, 200, 64, G711_FRAME_SAMPLES * 3 };
	if (!l)
		return ENOMEM;
	pthread_mutex_init(&l->mu, NULL);
	l->relay = r;
	l->fd = -1;
	snprintf(l->call_id, sizeof(l->call_id), "%s", call_id);
	snprintf(l->room_name, sizeof(l->room_name), "%s", room);
	snprintf(l->identity, sizeof(l->identity), "sip-%s", call_id);
	l->ssrc = rtp_ssrc_random();
	l->seq = (uint16_t)(l->ssrc >> 7);
	l->ts = l->ssrc * 2654435761u;
	l->marker = true;
	dtmf_rx_init(&l->dtmf, 8000);
	if ((err = jbuf_new(&l->jb, &jc)))
		goto out;
	l->start_cmd = (struct relay_cmd){ .kind = CMD_START, .leg = l };
	l->stop_cmd = (struct relay_cmd){ .kind = CMD_STOP, .leg = l };
	l->join_job = (struct room_job){ .kind = JOB_JOIN, .leg = l };
	l->leave_job = (struct room_job){ .kind = JOB_LEAVE, .leg = l };
	pthread_mutex_lock(&r->jmu);
	l->pending_next = r->pending;
	r->pending = l;
	pthread_mutex_unlock(&r->jmu);
	post_job(r, &l->join_job);
	*legp = l;
	return 0;
out:
	leg_free(l);
	return err;
}

/* The leg is started or handed back: relay_free no longer has to leave its room. */
static void pending_remove(struct relay *r, struct relay_leg *l)
{
	pthread_mutex_lock(&r->jmu);
	for (struct relay_leg **pp = &r->pending; *pp; pp = &(*pp)->pending_next) {
		if (*pp == l) {
			*pp = l->pending_next;
			break;
		}
	}
	pthread_mutex_unlock(&r->jmu);
}

/* What the far end sent to our RTP port before its answer (early media:
 * ringback, a tone, an announcement) waited in the socket, since no thread
 * reads it until now; it is not the callee speaking, so it goes, rather than
 * reaching the agent as a burst of "caller audio" at the answer. */
static unsigned discard_early_media(int fd)
{
	uint8_t pkt[RTP_PACKET_MAX];
	unsigned n = 0;
	while (n < EARLY_DISCARD_MAX && recv(fd, pkt, sizeof(pkt), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

int relay_leg_start(struct relay_leg *l, int fd, struct media_srtp *srtp,
		    const struct sdp_audio *answer)
{
	if (!l || atomic_load(&l->started))
		return EINVAL;
	pending_remove(l->relay, l);
	unsigned early = discard_early_media(fd);
	relay_params_from_sdp(&l->p, answer);
	atomic_store(&l->may_send, l->p.send);
	l->law = l->p.pt == 8 ? G711_ALAW : G711_ULAW;
	/* the media thread with the fewest legs takes it */
	struct relay *r = l->relay;
	l->shard = &r->shards[0];
	for (size_t i = 1; i < r->nshards; i++)
		if (atomic_load(&r->shards[i].nlegs) < atomic_load(&l->shard->nlegs))
			l->shard = &r->shards[i];
	atomic_fetch_add(&l->shard->nlegs, 1);
	/* from here the leg belongs to the relay, the fd and keys with it */
	l->fd = fd;
	l->srtp = srtp;
	atomic_store(&l->started, true);
	post_cmd(l->shard, &l->start_cmd);
	char addr[INET_ADDRSTRLEN] = "no address";
	if (l->p.have_remote)
		inet_ntop(AF_INET, &l->p.remote.sin_addr, addr, sizeof(addr));
	log_info("relay_started",
		 "%s: to %s:%u PT %d te %d, far end %s, %s, room %s, media thread %u; %u early "
		 "media packets discarded",
		 l->call_id, addr, (unsigned)ntohs(l->p.remote.sin_port), l->p.pt, l->p.te_pt,
		 l->p.dir, srtp ? "SRTP" : "plain RTP", l->room_name, l->shard->idx, early);
	return 0;
}

void relay_leg_update(struct relay_leg *l, const struct sdp_audio *offer, struct media_srtp *srtp)
{
	struct relay_params p;
	if (!l || !atomic_load(&l->started)) {
		media_srtp_free(srtp); /* a leg never started relays nothing to point elsewhere */
		return;
	}
	relay_params_from_sdp(&p, offer);
	atomic_store(&l->may_send, p.send);
	struct relay_cmd *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("relay_update_lost",
			  "%s: out of memory (sending follows the offer, the rest not)",
			  l->call_id);
		media_srtp_free(srtp);
		return;
	}
	c->kind = CMD_UPDATE;
	c->leg = l;
	c->p = p;
	c->srtp = srtp;
	post_cmd(l->shard, c);
}

void relay_leg_peers(struct relay_leg *l, const struct sockaddr_storage *addrs, int n)
{
	if (!l)
		return;
	l->npeers = 0;
	for (int i = 0; i < n && l->npeers < RELAY_PEERS_MAX; i++)
		if (addrs[i].ss_family == AF_INET)
			l->peers[l->npeers++] = ((const struct sockaddr_in *)&addrs[i])->sin_addr;
}

struct relay_leg *relay_leg_free(struct relay_leg *l)
{
	if (!l)
		return NULL;
	atomic_store(&l->may_send, false);
	if (atomic_load(&l->started)) {
		post_cmd(l->shard,
			 &l->stop_cmd); /* the media thread retires it, then the room thread */
	} else {
		pending_remove(l->relay, l);
		post_job(l->relay, &l->leave_job); /* queued after its join: left and freed */
	}
	return NULL;
}

/* ---- the media thread ---------------------------------------------------- */

static void leg_retire(struct relay_shard *sh, struct relay_leg *l)
{
	for (struct relay_leg **pp = &sh->legs; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	if (epoll_ctl(sh->epfd, EPOLL_CTL_DEL, l->fd, NULL))
		log_warn("relay_epoll_del_failed", "%s: %s", l->call_id, strerror(errno));
	close(l->fd);
	l->fd = -1;
	log_info("relay_stopped",
		 "%s: rtp in %llu out %llu, frames to room %llu from room %llu "
		 "(dropped %llu), dtmf %llu, srtp %s (unprotect failures %llu, rekeys %llu)",
		 l->call_id, (unsigned long long)l->pkts_in, (unsigned long long)l->pkts_out,
		 (unsigned long long)l->frames_up, (unsigned long long)l->frames_down,
		 (unsigned long long)l->q_dropped, (unsigned long long)l->dtmf_events,
		 l->srtp ? "on" : "off", (unsigned long long)l->srtp_drops,
		 (unsigned long long)l->srtp_rekeys);
	atomic_fetch_sub(&sh->nlegs, 1);
	post_job(sh->relay, &l->leave_job);
}

static void run_commands(struct relay_shard *sh, int64_t now_ms)
{
	pthread_mutex_lock(&sh->mu);
	struct relay_cmd *c = sh->head;
	sh->head = sh->tail = NULL;
	pthread_mutex_unlock(&sh->mu);
	while (c) {
		struct relay_cmd *next = c->next;
		struct relay_leg *l = c->leg;
		enum relay_cmd_kind kind = c->kind; /* after CMD_STOP, c may be gone with its leg */
		switch (kind) {
		case CMD_START: {
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
			if (epoll_ctl(sh->epfd, EPOLL_CTL_ADD, l->fd, &ev))
				log_error("relay_epoll_add_failed", "%s: %s", l->call_id,
					  strerror(errno));
			l->next = sh->legs;
			sh->legs = l;
			l->last_rx_ms = now_ms;
			break;
		}
		case CMD_UPDATE:
			if (c->srtp) {
				media_srtp_free(l->srtp);
				l->srtp = c->srtp;
				l->srtp_rekeys++;
			}
			relay_leg_apply(l, &c->p, now_ms);
			break;
		case CMD_STOP:
			leg_retire(sh, l);
			break;
		}
		if (kind == CMD_UPDATE)
			free(c);
		c = next;
	}
}

static void *media_main(void *arg)
{
	struct relay_shard *sh = arg;
	struct relay *r = sh->relay;
	struct epoll_event evs[RELAY_EVENTS];
	char name[16];
	snprintf(name, sizeof(name), "sb-media%u", sh->idx);
	pthread_setname_np(pthread_self(), name);
	while (!atomic_load(&r->stopping)) {
		int n = epoll_wait(sh->epfd, evs, RELAY_EVENTS, 200);
		int64_t now = time_mono_ms();
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &sh->efd) {
				uint64_t v;
				if (read(sh->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("relay_wake_read_failed", "%s", strerror(errno));
				run_commands(sh, now);
			} else if (p == &sh->tfd) {
				uint64_t ticks = 0;
				if (read(sh->tfd, &ticks, sizeof(ticks)) != sizeof(ticks))
					continue;
				if (ticks > RELAY_CATCHUP)
					ticks = RELAY_CATCHUP;
				for (uint64_t t = 0; t < ticks; t++)
					for (struct relay_leg *l = sh->legs; l; l = l->next)
						relay_leg_tick(l, now);
			}
		}
		/* sockets after commands and ticks: a STOP earlier in this batch
		 * may have retired a leg that still has an entry in evs */
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &sh->efd || p == &sh->tfd)
				continue;
			for (struct relay_leg *l = sh->legs; l; l = l->next)
				if (l == p) {
					relay_leg_receive(l, now);
					break;
				}
		}
	}
	run_commands(sh, time_mono_ms());
	while (sh->legs)
		leg_retire(sh, sh->legs);
	return NULL;
}

/* ---- room thread --------------------------------------------------------- */

static void *room_main(void *arg)
{
	struct relay *r = arg;
	pthread_setname_np(pthread_self(), "sb-room");
	for (;;) {
		pthread_mutex_lock(&r->jmu);
		while (!r->jhead && !r->jstop)
			pthread_cond_wait(&r->jcv, &r->jmu);
		struct room_job *j = r->jhead;
		if (j) {
			r->jhead = j->next;
			if (!r->jhead)
				r->jtail = NULL;
		}
		pthread_mutex_unlock(&r->jmu);
		if (!j)
			break;
		struct relay_leg *l = j->leg;
		if (j->kind == JOB_JOIN && !atomic_load(&r->stopping)) {
			struct room *room = NULL;
			int err = r->room_ops->join(&room, r->room_ctx, l->room_name, l->identity,
						    &room_handlers, l);
			if (err) {
				char why[200];
				room_join_why(why, sizeof(why), r->room_ops, err);
				log_warn("room_join_failed", "%s: room %s as %s: %s", l->call_id,
					 l->room_name, l->identity, why);
			} else {
				pthread_mutex_lock(&l->mu);
				l->room = room;
				pthread_mutex_unlock(&l->mu);
				log_info("room_joined", "%s: room %s as %s", l->call_id,
					 l->room_name, l->identity);
			}
		} else if (j->kind == JOB_LEAVE) {
			pthread_mutex_lock(&l->mu);
			struct room *room = l->room;
			l->room = NULL;
			pthread_mutex_unlock(&l->mu);
			if (room) {
				r->room_ops->leave(room); /* no room handler runs any more */
				log_info("room_left", "%s: room %s", l->call_id, l->room_name);
			}
			leg_free(l); /* and the job, part of the leg */
		}
	}
	return NULL;
}

/* ---- the relay ----------------------------------------------------------- */

static int shard_init(struct relay_shard *sh, struct relay *r, unsigned idx)
{
	sh->relay = r;
	sh->idx = idx;
	sh->epfd = epoll_create1(EPOLL_CLOEXEC);
	sh->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sh->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sh->epfd < 0 || sh->efd < 0 || sh->tfd < 0)
		return errno;
	struct itimerspec its = { { 0, RELAY_TICK_MS * 1000000L },
				  { 0, RELAY_TICK_MS * 1000000L } };
	struct epoll_event ev_e = { .events = EPOLLIN, .data.ptr = &sh->efd };
	struct epoll_event ev_t = { .events = EPOLLIN, .data.ptr = &sh->tfd };
	if (timerfd_settime(sh->tfd, 0, &its, NULL) ||
	    epoll_ctl(sh->epfd, EPOLL_CTL_ADD, sh->efd, &ev_e) ||
	    epoll_ctl(sh->epfd, EPOLL_CTL_ADD, sh->tfd, &ev_t))
		return errno;
	int err = pthread_create(&sh->thread, NULL, media_main, sh);
	sh->started = err == 0;
	return err;
}

static void shard_fini(struct relay_shard *sh)
{
	if (sh->started) {
		wake(sh->efd);
		pthread_join(sh->thread, NULL);
		sh->started = false;
	}
	if (sh->epfd >= 0)
		close(sh->epfd);
	if (sh->efd >= 0)
		close(sh->efd);
	if (sh->tfd >= 0)
		close(sh->tfd);
	pthread_mutex_destroy(&sh->mu);
}

int relay_new(struct relay **rp, const struct relay_cfg *cfg)
{
	int err = 0;
	struct relay *r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->h = cfg->h;
	r->arg = cfg->arg;
	r->local.bus = cfg->bus;
	r->local.timeout_ms = 5000;
	r->local.rate = RELAY_RATE;
	r->local.opus_complexity = RELAY_OPUS_COMPLEXITY;
	if (strcmp(cfg->room_backend, "livekit") == 0) {
		r->livekit = (struct room_livekit_ctx){
			.url = cfg->livekit_url, .api_key = cfg->livekit_api_key,
			.api_secret = cfg->livekit_api_secret, .timeout_ms = 5000,
			.rate = RELAY_RATE,
		};
		r->room_ops = &room_livekit;
		r->room_ctx = &r->livekit;
	} else {
		r->room_ops = &room_local;
		r->room_ctx = &r->local;
	}
	r->timeout_ms = cfg->media_timeout_s * 1000;
	pthread_mutex_init(&r->jmu, NULL);
	pthread_cond_init(&r->jcv, NULL);
	long n = cfg->media_threads;
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	r->nshards = n < 1 ? 1 : n > RELAY_SHARDS_MAX ? RELAY_SHARDS_MAX : (size_t)n;
	r->shards = calloc(r->nshards, sizeof(*r->shards));
	if (!r->shards) {
		r->nshards = 0;
		err = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->nshards; i++) {
		r->shards[i].epfd = r->shards[i].efd = r->shards[i].tfd = -1;
		pthread_mutex_init(&r->shards[i].mu, NULL);
	}
	if ((err = pthread_create(&r->room_thread, NULL, room_main, r)))
		goto out;
	r->room_started = true;
	for (size_t i = 0; i < r->nshards; i++)
		if ((err = shard_init(&r->shards[i], r, (unsigned)i)))
			goto out;
	log_info("relay_ready", "%zu media threads", r->nshards);
out:
	if (err) {
		log_error("relay_start_failed", "%s", cm_strerror(err));
		relay_free(r);
		return err;
	}
	*rp = r;
	return 0;
}

struct relay *relay_free(struct relay *r)
{
	if (!r)
		return NULL;
	atomic_store(&r->stopping, true);
	/* every leg becomes a LEAVE job; pending JOINs are skipped */
	for (size_t i = 0; i < r->nshards; i++)
		shard_fini(&r->shards[i]);
	/* and every leg of a call that was never answered */
	pthread_mutex_lock(&r->jmu);
	struct relay_leg *pending = r->pending;
	r->pending = NULL;
	pthread_mutex_unlock(&r->jmu);
	while (pending) {
		struct relay_leg *next = pending->pending_next;
		post_job(r, &pending->leave_job);
		pending = next;
	}
	pthread_mutex_lock(&r->jmu);
	r->jstop = true;
	pthread_cond_signal(&r->jcv);
	pthread_mutex_unlock(&r->jmu);
	if (r->room_started)
		pthread_join(r->room_thread, NULL);
	pthread_mutex_destroy(&r->jmu);
	pthread_cond_destroy(&r->jcv);
	free(r->shards);
	free(r);
	return NULL;
}
