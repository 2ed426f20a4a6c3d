/* The relay's private parts, shared by relay.c (threads, queues, the legs'
 * lives) and media.c (what one leg does with its media). */
#ifndef SIP_BRIDGE_RELAY_PRIV_H
#define SIP_BRIDGE_RELAY_PRIV_H

#include "relay.h"
#include "event/event.h"
#include "media/media.h"
#include "room/room.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#define RELAY_TICK_MS     20
#define RELAY_REORDER_US  20000   /* a missing packet is waited for this long */
#define RELAY_QUEUE_FRAMES 8      /* room → carrier backlog per leg: 160 ms */
#define RELAY_PREBUFFER    2      /* frames queued before a talkspurt plays: the
				   * room's 20 ms clock and ours drift apart */
#define RELAY_RX_BURST    64      /* datagrams read per leg per wakeup */
#define EARLY_DISCARD_MAX 4096    /* early media packets dropped at the answer, at most */
#define RELAY_EVENTS      64
#define RELAY_CATCHUP     3       /* ticks run at most per timer wakeup */
#define RELAY_SHARDS_MAX  64
#define G711_BUF          (G711_FRAME_SAMPLES * 3)
#define RELAY_RATE        8000    /* the legs' room membership: G.711's rate, so
				   * no resampler either way (libs/room encodes
				   * and decodes Opus at 8 kHz) */
#define RELAY_FRAME       ROOM_FRAME_SAMPLES_AT(RELAY_RATE) /* 160 = G711_FRAME_SAMPLES */
_Static_assert(RELAY_FRAME == G711_FRAME_SAMPLES, "a room frame is one G.711 packet");
#define RELAY_OPUS_COMPLEXITY 1   /* into the room; bench_media: at 8 kHz 1 costs
				   * half of 5 for the same quality figures
				   * (docs/decisions.md) */

/* What the negotiated SDP allows, computed on the sofia thread. */
struct relay_params {
	struct sockaddr_in remote;
	bool have_remote;
	int pt;                 /* 0 PCMU, 8 PCMA, -1 unchanged */
	int te_pt;              /* telephone-event, -1 none */
	bool send, recv, timer;
	const char *dir;        /* the far end's effective direction */
};

enum relay_cmd_kind { CMD_START, CMD_UPDATE, CMD_STOP };
struct relay_cmd {
	struct relay_cmd *next;
	enum relay_cmd_kind kind;
	struct relay_leg *leg;
	struct relay_params p;
	struct media_srtp *srtp;        /* CMD_UPDATE: new keys (owned), or NULL */
};

enum room_job_kind { JOB_JOIN, JOB_LEAVE };
struct room_job {
	struct room_job *next;
	enum room_job_kind kind;
	struct relay_leg *leg;
};

/* Room audio waiting for the carrier: one slot per 20 ms, the frames of
 * several senders talking at once mixed into the same slot. */
struct relay_slot {
	int16_t pcm[RELAY_FRAME];
	uint32_t senders;               /* bit i: sender i is in this slot */
};

struct relay_leg {
	struct relay_leg *next;         /* media thread's list */
	struct relay_shard *shard;      /* the media thread it lives on */
	/* made with the leg, so starting and stopping it never allocates */
	struct relay_cmd start_cmd, stop_cmd;
	struct room_job join_job, leave_job;
	struct relay *relay;
	char call_id[ID_UUID_LEN + 1];
	char room_name[EVENT_ROOM_MAX + 1];
	char identity[ROOM_IDENTITY_MAX + 1];
	int fd;
	struct media_srtp *srtp;        /* media thread: NULL = plain RTP */

	atomic_bool may_send;           /* set by the sofia thread at once */
	atomic_bool started;            /* relay_leg_start: room audio is kept from then on */
	struct relay_leg *pending_next; /* relay->pending, under relay->jmu */

	/* media thread only */
	struct relay_params p;
	enum g711_law law;
	uint32_t ssrc, ts;
	uint16_t seq;
	bool marker;
	struct jbuf *jb;
	struct dtmf_rx dtmf;
	int16_t up_buf[RELAY_FRAME + G711_BUF]; /* carrier audio not yet a room frame */
	size_t up_n;
	int64_t last_rx_ms;
	int64_t gap_since_us;           /* later packets wait for a missing one since */
	bool flowed, timed_out;
	uint64_t pkts_in, pkts_out, frames_up, frames_down, dtmf_events;
	uint64_t srtp_drops;            /* packets in that failed to unprotect */
	uint64_t foreign_drops;         /* datagrams from neither the SDP nor the trunk */
	struct in_addr peers[RELAY_PEERS_MAX]; /* the trunk's addresses (relay_leg_peers) */
	int npeers;
	uint64_t srtp_rekeys;

	/* shared with the room threads */
	pthread_mutex_t mu;
	struct room *room;              /* set by the room thread */
	struct relay_slot q[RELAY_QUEUE_FRAMES];
	size_t q_head, q_n;
	bool q_playing;                 /* media thread: a talkspurt is playing */
	uint32_t sender_ssrc[ROOM_SENDERS_MAX];
	size_t nsenders;
	uint64_t q_dropped;
};

/* One media thread and the legs it owns. */
struct relay_shard {
	struct relay *relay;
	unsigned idx;
	int epfd, tfd, efd;
	pthread_t thread;
	bool started;
	atomic_uint nlegs;              /* legs placed here, for placement */

	pthread_mutex_t mu;             /* commands for the media thread */
	struct relay_cmd *head, *tail;

	struct relay_leg *legs;         /* media thread only */
};

struct relay {
	const struct relay_handlers *h; /* what the relay reports, and to whom */
	void *arg;
	const struct room_ops *room_ops; /* ROOM_BACKEND: &room_local or &room_livekit */
	void *room_ctx;                  /* points into one of the two below */
	struct room_local_ctx local;
	struct room_livekit_ctx livekit;
	int64_t timeout_ms;
	pthread_t room_thread;
	bool room_started;
	atomic_bool stopping;

	struct relay_shard *shards;
	size_t nshards;

	pthread_mutex_t jmu;            /* jobs for the room thread */
	pthread_cond_t jcv;
	struct room_job *jhead, *jtail;
	bool jstop;
	struct relay_leg *pending;      /* joined or joining, not started, not stopped */
};


/* ---- media.c ---- */
/* What the far end's SDP (answer or new offer) allows. */
void relay_params_from_sdp(struct relay_params *p, const struct sdp_audio *a);
/* room_frame_h of a leg's room membership (the room's receive thread). */
void relay_on_room_frame(const struct room_frame *f, void *arg);
/* Media thread: reads what arrived on the leg's socket. */
void relay_leg_receive(struct relay_leg *l, int64_t now_ms);
/* Media thread, every 20 ms: uplink, downlink, media timeout. */
void relay_leg_tick(struct relay_leg *l, int64_t now_ms);
/* Media thread: the far end's new wishes. */
void relay_leg_apply(struct relay_leg *l, const struct relay_params *p, int64_t now_ms);

#endif
