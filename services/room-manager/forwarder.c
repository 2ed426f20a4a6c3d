/* The local backend's RTP forwarder: one epoll thread owns every relay
 * socket, room and recording; worker threads hand it operations through an
 * mqueue (its fd in the epoll set) and wait for their results (forwarder.h). */
#include "forwarder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "event/event.h"
#include "media/media.h"
#include "room/room.h"

#define BATCH          32       /* datagrams per recvmmsg */
#define ROUNDS         4        /* recvmmsg rounds per readiness, for fairness */
#define EPOLL_EVENTS   64
#define TICKS_MAX      10       /* timer expirations caught up at once */
#define SDES_TICKS     (ROOM_SDES_INTERVAL_MS / ROOM_FRAME_MS)
#define AGENT_PREFIX   "agent-"
#define SOCK_BUF       (1 << 20)
#define OPS_MAX        1024     /* ops in flight: one per waiting caller */

struct froom;

struct member {
	struct froom *room;
	char identity[ROOM_IDENTITY_MAX + 1];
	bool agent;
	int fd;
	uint16_t port;
	uint32_t ssrc;
	struct sockaddr_in peer;   /* rtp_addr of the join */
	bool seen;                 /* a packet came from peer */
	uint64_t in, dropped;
};

struct froom {
	char name[EVENT_ROOM_MAX + 1];
	char call_id[ID_UUID_LEN + 1];
	struct member *m[FWD_MEMBERS_MAX];
	size_t n;
	struct recorder *rec;
	char rec_id[REC_ID_MAX + 1];
	char rec_path[REC_PATH_MAX + 1];
	struct froom *next;
};

enum op_kind { OP_JOIN, OP_LEAVE, OP_DELETE, OP_REC_START, OP_REC_STOP, OP_STOP };

struct op {
	enum op_kind kind;
	const char *room, *call_id, *identity, *rec_id, *path;
	const struct sockaddr_in *addr;
	long max;
	struct fwd_member *member;      /* OP_JOIN result */
	char *rec_id_out, *path_out;
	int err;
	bool done;
};

struct fwd {
	struct fwd_cfg cfg;
	int epfd, tfd;
	pthread_t thread;
	bool thread_started;

	struct mqueue *ops;             /* closed when the thread ends: ops fail */
	pthread_mutex_t lock;           /* op->done */
	pthread_cond_t cond;

	/* the forwarder thread's own */
	struct room_ports *ports;
	struct froom *rooms;
	size_t nrooms;
	uint64_t ticks;
	bool running;
	uint8_t bufs[BATCH][RTP_PACKET_MAX];
	struct metric *m_fwd, *m_in, *m_drop_src, *m_drop_bad, *m_send_err, *m_members, *m_recs;
};

/* ---- RTCP to members ------------------------------------------------- */

static void send_to(const struct member *to, const uint8_t *buf, size_t len)
{
	if (len && sendto(to->fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&to->peer,
			  sizeof(to->peer)) < 0)
		log_debug("rtcp_send_failed", "%s: %s", to->identity, strerror(errno));
}

/* RR + SDES CNAME (about = the member described) to `to`. */
static void send_sdes(const struct member *to, const struct member *about)
{
	uint8_t buf[RTP_PACKET_MAX];
	size_t len = 0;
	struct rtcp_report rr = { .is_sr = false, .ssrc = about->ssrc };
	if (rtcp_build_report(buf, sizeof(buf), &len, &rr) ||
	    rtcp_build_sdes_cname(buf, sizeof(buf), &len, about->ssrc, about->identity,
				  strlen(about->identity)))
		return;
	send_to(to, buf, len);
}

static void send_bye(const struct member *to, uint32_t ssrc)
{
	uint8_t buf[64];
	size_t len = 0;
	struct rtcp_report rr = { .is_sr = false, .ssrc = ssrc };
	if (rtcp_build_report(buf, sizeof(buf), &len, &rr) ||
	    rtcp_build_bye(buf, sizeof(buf), &len, &ssrc, 1))
		return;
	send_to(to, buf, len);
}

/* ---- rooms and members ------------------------------------------------ */

static struct froom *room_find(struct fwd *f, const char *name)
{
	for (struct froom *r = f->rooms; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

static struct froom *room_get(struct fwd *f, const char *name, const char *call_id)
{
	struct froom *r = room_find(f, name);
	if (r || f->nrooms == FWD_ROOMS_MAX)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->call_id, sizeof(r->call_id), "%s", call_id ? call_id : "");
	r->next = f->rooms;
	f->rooms = r;
	f->nrooms++;
	return r;
}

static struct member *member_find(struct froom *r, const char *identity, size_t *idxp)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->m[i]->identity, identity) == 0) {
			if (idxp)
				*idxp = i;
			return r->m[i];
		}
	}
	return NULL;
}

/* A UDP socket on 127.0.0.1 at a free port of the range. */
static int relay_open(struct fwd *f, int *fdp, uint16_t *portp)
{
	size_t tries = (size_t)f->cfg.port_max - f->cfg.port_min + 1;
	int err = ENOSPC;
	for (size_t k = 0; k < tries; k++) {
		uint16_t port;
		if (room_ports_take(f->ports, &port))
			return ENOSPC;
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			room_ports_release(f->ports, port);
			return err;
		}
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int sz = SOCK_BUF;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)))
			log_debug("relay_sockbuf", "port %u: %s", port, strerror(errno));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			*fdp = fd;
			*portp = port;
			return 0;
		}
		err = errno;
		close(fd);
		/* taken by another process: the round robin moves past it */
		if (err != EADDRINUSE) {
			room_ports_release(f->ports, port);
			return err;
		}
		log_debug("relay_port_busy", "port %u in use by another process", port);
		room_ports_release(f->ports, port);
	}
	return err == EADDRINUSE ? ENOSPC : err;
}

static uint32_t new_ssrc(const struct froom *r)
{
	for (int k = 0; k < 64; k++) {
		uint32_t s = rtp_ssrc_random();
		bool dup = s == 0;
		for (size_t i = 0; i < r->n && !dup; i++)
			dup = r->m[i]->ssrc == s;
		if (!dup)
			return s;
	}
	return 0;
}

static void member_free(struct fwd *f, struct member *m)
{
	epoll_ctl(f->epfd, EPOLL_CTL_DEL, m->fd, NULL);
	close(m->fd);
	room_ports_release(f->ports, m->port);
	metric_add(f->m_members, -1);
	free(m);
}

static void do_join(struct fwd *f, struct op *op)
{
	struct froom *r = room_get(f, op->room, op->call_id);
	struct member *m;
	if (!r) {
		op->err = ENOSPC;
		return;
	}
	m = member_find(r, op->identity, NULL);
	if (m) {
		m->peer = *op->addr;
		m->seen = false;
	} else {
		size_t cap = op->max > 0 && op->max < FWD_MEMBERS_MAX ? (size_t)op->max
								      : FWD_MEMBERS_MAX;
		if (r->n >= cap) {
			op->err = ENOSPC;
			return;
		}
		m = calloc(1, sizeof(*m));
		if (!m) {
			op->err = ENOMEM;
			return;
		}
		m->room = r;
		snprintf(m->identity, sizeof(m->identity), "%s", op->identity);
		m->agent = strncmp(m->identity, AGENT_PREFIX, strlen(AGENT_PREFIX)) == 0;
		m->peer = *op->addr;
		m->ssrc = new_ssrc(r);
		op->err = m->ssrc ? relay_open(f, &m->fd, &m->port) : EAGAIN;
		if (op->err) {
			free(m);
			return;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = m };
		if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, m->fd, &ev)) {
			op->err = errno;
			close(m->fd);
			room_ports_release(f->ports, m->port);
			free(m);
			return;
		}
		r->m[r->n++] = m;
		metric_add(f->m_members, 1);
		for (size_t i = 0; i < r->n; i++) {
			if (r->m[i] == m)
				continue;
			send_sdes(r->m[i], m);
			send_sdes(m, r->m[i]);
		}
	}
	snprintf(op->member->relay_addr, sizeof(op->member->relay_addr), "127.0.0.1:%u", m->port);
	op->member->ssrc = m->ssrc;
	char peer[INET_ADDRSTRLEN] = "";
	inet_ntop(AF_INET, &m->peer.sin_addr, peer, sizeof(peer));
	log_info("room_member_joined",
		 "room=%s identity=%s rtp_addr=%s:%u relay=%s ssrc=%u members=%zu", r->name,
		 m->identity, peer, ntohs(m->peer.sin_port), op->member->relay_addr, m->ssrc, r->n);
}

static void remove_member(struct fwd *f, struct froom *r, size_t idx)
{
	struct member *m = r->m[idx];
	r->m[idx] = r->m[--r->n];
	r->m[r->n] = NULL;
	for (size_t i = 0; i < r->n; i++)
		send_bye(r->m[i], m->ssrc);
	if (r->rec)
		recorder_forget(r->rec, m->ssrc);
	log_info("room_member_left", "room=%s identity=%s packets_in=%llu dropped=%llu members=%zu",
		 r->name, m->identity, (unsigned long long)m->in, (unsigned long long)m->dropped,
		 r->n);
	member_free(f, m);
}

static void do_leave(struct fwd *f, struct op *op)
{
	struct froom *r = room_find(f, op->room);
	size_t idx;
	if (!r || !member_find(r, op->identity, &idx)) {
		op->err = ENOENT;
		return;
	}
	remove_member(f, r, idx);
}

/* Closes the room's recording and publishes recording_ready. */
static int rec_finish(struct fwd *f, struct froom *r, char *path_out)
{
	struct event *ev = NULL;
	double secs = recorder_seconds(r->rec);
	int err = recorder_close(r->rec);
	r->rec = NULL;
	metric_add(f->m_recs, -1);
	if (path_out)
		snprintf(path_out, REC_PATH_MAX + 1, "%s", r->rec_path);
	if (err) {
		log_error("recording_failed", "room=%s path=%s: %s", r->name, r->rec_path,
			  cm_strerror(err));
		return err;
	}
	log_info("recording_closed", "room=%s path=%s seconds=%.2f", r->name, r->rec_path, secs);
	int perr = event_new(&ev, EV_RECORDING_READY, r->call_id, r->name, f->cfg.source);
	if (!perr)
		perr = event_set_str(ev, "path", r->rec_path);
	if (!perr)
		perr = event_set_str(ev, "recording_id", r->rec_id);
	if (!perr && f->cfg.bus)
		perr = bus_publish_event(f->cfg.bus, ev);
	if (perr)
		log_error("recording_ready_not_published", "room=%s call_id=%s: %s", r->name,
			  r->call_id, cm_strerror(perr));
	event_free(ev);
	return 0;
}

static void room_free(struct fwd *f, struct froom *r)
{
	if (r->rec && rec_finish(f, r, NULL))
		log_warn("recording_lost", "room=%s", r->name);
	while (r->n)
		remove_member(f, r, r->n - 1);
	struct froom **pp = &f->rooms;
	while (*pp && *pp != r)
		pp = &(*pp)->next;
	if (*pp)
		*pp = r->next;
	f->nrooms--;
	free(r);
}

static void do_delete(struct fwd *f, struct op *op)
{
	struct froom *r = room_find(f, op->room);
	if (r)
		room_free(f, r);
}

static void do_rec_start(struct fwd *f, struct op *op)
{
	struct froom *r = room_get(f, op->room, op->call_id);
	if (!r) {
		op->err = ENOSPC;
		return;
	}
	if (r->rec) {
		if (op->rec_id_out)
			snprintf(op->rec_id_out, REC_ID_MAX + 1, "%s", r->rec_id);
		if (op->path_out)
			snprintf(op->path_out, REC_PATH_MAX + 1, "%s", r->rec_path);
		op->err = EALREADY;
		return;
	}
	op->err = recorder_new(&r->rec, op->path);
	if (op->err) {
		log_error("recording_open_failed", "%s: %s", op->path, cm_strerror(op->err));
		return;
	}
	snprintf(r->call_id, sizeof(r->call_id), "%s", op->call_id);
	snprintf(r->rec_id, sizeof(r->rec_id), "%s", op->rec_id);
	snprintf(r->rec_path, sizeof(r->rec_path), "%s", op->path);
	metric_add(f->m_recs, 1);
	log_info("recording_started", "room=%s path=%s", r->name, r->rec_path);
}

static void do_rec_stop(struct fwd *f, struct op *op)
{
	struct froom *r = room_find(f, op->room);
	if (!r || !r->rec || (op->rec_id && strcmp(op->rec_id, r->rec_id) != 0)) {
		op->err = ENOENT;
		return;
	}
	op->err = rec_finish(f, r, op->path_out);
}

/* ---- the packet path -------------------------------------------------- */

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* Sends msgs[0..n) to `to`, retrying partial batches. */
static void send_batch(struct fwd *f, struct member *to, struct mmsghdr *msgs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		msgs[i].msg_hdr.msg_name = &to->peer;
		msgs[i].msg_hdr.msg_namelen = sizeof(to->peer);
	}
	unsigned done = 0;
	for (int k = 0; k < 4 && done < n; k++) {
		int s = sendmmsg(to->fd, msgs + done, n - done, MSG_DONTWAIT);
		if (s <= 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (unsigned)s;
	}
	metric_add(f->m_fwd, done);
	if (done < n)
		metric_add(f->m_send_err, n - done);
}

static void member_readable(struct fwd *f, struct member *m)
{
	struct mmsghdr in[BATCH], out[BATCH];
	struct iovec iov[BATCH], oiov[BATCH];
	struct sockaddr_in from[BATCH];
	struct froom *r = m->room;
	for (int round = 0; round < ROUNDS; round++) {
		memset(in, 0, sizeof(in));
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = f->bufs[i];
			iov[i].iov_len = RTP_PACKET_MAX;
			in[i].msg_hdr.msg_iov = &iov[i];
			in[i].msg_hdr.msg_iovlen = 1;
			in[i].msg_hdr.msg_name = &from[i];
			in[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		int n = recvmmsg(m->fd, in, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		int64_t now = r->rec ? time_mono_us() : 0;
		unsigned k = 0, bad_src = 0, bad = 0;
		for (int i = 0; i < n; i++) {
			uint8_t *p = f->bufs[i];
			size_t len = in[i].msg_len;
			if (in[i].msg_hdr.msg_namelen != sizeof(from[i]) ||
			    !same_addr(&from[i], &m->peer)) {
				bad_src++;
				continue;
			}
			if (len < RTP_HDR_LEN || (p[0] >> 6) != RTP_VERSION ||
			    room_is_rtcp(p, len) || (p[1] & 0x7f) != ROOM_OPUS_PT ||
			    (in[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				bad++;
				continue;
			}
			if (!m->seen) {
				m->seen = true;
				log_debug("room_member_media", "room=%s identity=%s first packet",
					  r->name, m->identity);
			}
			uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
					(uint32_t)p[10] << 8 | p[11];
			if (ssrc != m->ssrc) {
				p[8] = (uint8_t)(m->ssrc >> 24);
				p[9] = (uint8_t)(m->ssrc >> 16);
				p[10] = (uint8_t)(m->ssrc >> 8);
				p[11] = (uint8_t)m->ssrc;
			}
			if (r->rec)
				recorder_put(r->rec, m->ssrc, m->agent, p, len, now);
			oiov[k].iov_base = p;
			oiov[k].iov_len = len;
			memset(&out[k], 0, sizeof(out[k]));
			out[k].msg_hdr.msg_iov = &oiov[k];
			out[k].msg_hdr.msg_iovlen = 1;
			k++;
		}
		m->in += k;
		m->dropped += bad_src + bad;
		metric_add(f->m_in, k);
		if (bad_src)
			metric_add(f->m_drop_src, bad_src);
		if (bad)
			metric_add(f->m_drop_bad, bad);
		for (size_t j = 0; k && j < r->n; j++)
			if (r->m[j] != m)
				send_batch(f, r->m[j], out, k);
		if (n < BATCH)
			return;
	}
}

static void on_ticks(struct fwd *f, uint64_t n)
{
	if (n > TICKS_MAX)
		n = TICKS_MAX; /* the thread was stalled; the recording loses that time */
	for (uint64_t t = 0; t < n; t++) {
		f->ticks++;
		for (struct froom *r = f->rooms; r; r = r->next) {
			if (r->rec)
				recorder_tick(r->rec);
			if (f->ticks % SDES_TICKS == 0)
				for (size_t i = 0; i < r->n; i++)
					for (size_t j = 0; j < r->n; j++)
						if (i != j)
							send_sdes(r->m[i], r->m[j]);
		}
	}
}

/* ---- the thread and its queue ----------------------------------------- */

static void op_done(struct fwd *f, struct op *op, int err)
{
	pthread_mutex_lock(&f->lock);
	if (err)
		op->err = err;
	op->done = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static void run_op(void *item, void *arg)
{
	struct fwd *f = arg;
	struct op *op = item;
	switch (op->kind) {
	case OP_JOIN: do_join(f, op); break;
	case OP_LEAVE: do_leave(f, op); break;
	case OP_DELETE: do_delete(f, op); break;
	case OP_REC_START: do_rec_start(f, op); break;
	case OP_REC_STOP: do_rec_stop(f, op); break;
	case OP_STOP: f->running = false; break;
	}
	op_done(f, op, 0);
}

static void *fwd_main(void *arg)
{
	struct fwd *f = arg;
	struct epoll_event evs[EPOLL_EVENTS];
	while (f->running) {
		int n = epoll_wait(f->epfd, evs, EPOLL_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("fwd_epoll_failed", "%s", strerror(errno));
			break;
		}
		bool ops = false;
		uint64_t ticks = 0;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &f->ops) {
				ops = true;
			} else if (p == &f->tfd) {
				if (read(f->tfd, &ticks, sizeof(ticks)) != sizeof(ticks))
					ticks = 0;
			} else {
				member_readable(f, p);
			}
		}
		if (ticks)
			on_ticks(f, ticks);
		/* last: an op may free members that events above pointed to */
		if (ops)
			mqueue_drain(f->ops, run_op, f);
	}
	while (f->rooms)
		room_free(f, f->rooms);
	mqueue_close(f->ops);
	for (struct op *op; (op = mqueue_pop(f->ops)) != NULL;)
		op_done(f, op, ECANCELED);
	return NULL;
}

static int submit(struct fwd *f, struct op *op)
{
	int err = mqueue_push(f->ops, op);
	if (err)
		return err == EPIPE ? ECANCELED : err;
	pthread_mutex_lock(&f->lock);
	while (!op->done)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	return op->err;
}

int fwd_new(struct fwd **fp, const struct fwd_cfg *cfg)
{
	struct fwd *f = calloc(1, sizeof(*f));
	int err = 0;
	if (!f)
		return ENOMEM;
	f->cfg = *cfg;
	f->epfd = f->tfd = -1;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->m_fwd = metric_counter("room_rtp_forwarded_total", "RTP packets sent to room members");
	f->m_in =
		metric_counter("room_rtp_received_total", "RTP packets accepted from room members");
	f->m_drop_src = metric_counter("room_rtp_dropped_source_total",
				       "datagrams from an address that is not the member's");
	f->m_drop_bad = metric_counter("room_rtp_dropped_invalid_total",
				       "datagrams that are not Opus RTP");
	f->m_send_err = metric_counter("room_rtp_send_errors_total", "RTP packets not sent");
	f->m_members = metric_gauge("room_members", "members of local rooms");
	f->m_recs = metric_gauge("room_recordings", "local recordings in progress");
	err = mqueue_new(&f->ops, OPS_MAX);
	if (!err)
		err = room_ports_new(&f->ports, cfg->port_min, cfg->port_max);
	if (err)
		goto out;
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (f->epfd < 0 || f->tfd < 0) {
		err = errno;
		goto out;
	}
	struct itimerspec its = { { 0, ROOM_FRAME_MS * 1000000L },
				  { 0, ROOM_FRAME_MS * 1000000L } };
	struct epoll_event ev1 = { .events = EPOLLIN, .data.ptr = &f->ops };
	struct epoll_event ev2 = { .events = EPOLLIN, .data.ptr = &f->tfd };
	if (timerfd_settime(f->tfd, 0, &its, NULL) ||
	    epoll_ctl(f->epfd, EPOLL_CTL_ADD, mqueue_fd(f->ops), &ev1) ||
	    epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->tfd, &ev2)) {
		err = errno;
		goto out;
	}
	f->running = true;
	err = pthread_create(&f->thread, NULL, fwd_main, f);
	if (err)
		goto out;
	f->thread_started = true;
	log_info("fwd_started", "relay ports 127.0.0.1:%u-%u", cfg->port_min, cfg->port_max);
out:
	if (err) {
		log_error("fwd_start_failed", "%s", cm_strerror(err));
		f = fwd_free(f);
	}
	*fp = f;
	return err;
}

struct fwd *fwd_free(struct fwd *f)
{
	if (!f)
		return NULL;
	if (f->thread_started) {
		struct op op = { .kind = OP_STOP };
		if (submit(f, &op))
			log_debug("fwd_free", "stop op failed");
		pthread_join(f->thread, NULL);
	}
	if (f->epfd >= 0)
		close(f->epfd);
	if (f->tfd >= 0)
		close(f->tfd);
	room_ports_free(f->ports);
	f->ops = mqueue_free(f->ops, NULL);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return NULL;
}

int fwd_join(struct fwd *f, struct fwd_member *m, const char *room, const char *call_id,
	     const char *identity, const struct sockaddr_in *rtp_addr, long max_members)
{
	struct op op = { .kind = OP_JOIN, .room = room, .call_id = call_id, .identity = identity,
			 .addr = rtp_addr, .max = max_members, .member = m };
	return submit(f, &op);
}

int fwd_leave(struct fwd *f, const char *room, const char *identity)
{
	struct op op = { .kind = OP_LEAVE, .room = room, .identity = identity };
	return submit(f, &op);
}

void fwd_room_delete(struct fwd *f, const char *room)
{
	struct op op = { .kind = OP_DELETE, .room = room };
	if (submit(f, &op))
		log_debug("fwd_delete", "room=%s: nothing to free", room);
}

int fwd_rec_start(struct fwd *f, const char *room, const char *call_id, const char *rec_id,
		  const char *path, char *rec_id_out, char *path_out)
{
	struct op op = { .kind = OP_REC_START, .room = room, .call_id = call_id, .rec_id = rec_id,
			 .path = path, .rec_id_out = rec_id_out, .path_out = path_out };
	return submit(f, &op);
}

int fwd_rec_stop(struct fwd *f, const char *room, const char *rec_id, char *path_out)
{
	struct op op = {
		.kind = OP_REC_STOP, .room = room, .rec_id = rec_id, .path_out = path_out
	};
	return submit(f, &op);
}
