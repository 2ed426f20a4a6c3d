/* libs/media jitter buffer: ordering, reordering, loss with FEC hints,
 * duplicates, late packets, wrap-around, resets and adaptive depth. */
#include "media/media.h"
#include "harness/test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define SSRC 0x1234

static int put_ts(struct jbuf *jb, uint16_t seq, uint32_t ts, int64_t arrival_us)
{
	uint8_t payload[4] = { (uint8_t)(seq >> 8), (uint8_t)seq, 0xAB, 0xCD };
	struct rtp_packet p = { .hdr = { .pt = 0, .seq = seq, .ts = ts, .ssrc = SSRC },
				.payload = payload, .payload_len = sizeof(payload) };
	return jbuf_put(jb, &p, arrival_us);
}

static int put(struct jbuf *jb, uint16_t seq, int64_t arrival_us)
{
	return put_ts(jb, seq, (uint32_t)seq * 160, arrival_us);
}

static uint16_t frame_seq(const struct jbuf_frame *f)
{
	return (uint16_t)(f->data[0] << 8 | f->data[1]);
}

/* Pulls one frame and checks its status (and the seq it carries). */
#define EXPECT(jb, st, sq)                                                         \
	do {                                                                       \
		jbuf_get(jb, &f);                                                  \
		TEST_EQ_INT(f.status, st);                                         \
		if ((st) == JBUF_FRAME) {                                          \
			TEST_EQ_INT(f.seq, sq);                                    \
			TEST_EQ_INT(frame_seq(&f), sq);                            \
		}                                                                  \
	} while (0)

static int test_in_order(void)
{
	int err = 0;
	struct jbuf *jb = NULL;
	struct jbuf_frame f;
	TEST_EQ_INT(jbuf_new(&jb, NULL), 0);
	EXPECT(jb, JBUF_EMPTY, 0);
	for (uint16_t s = 10; s < 15; s++)
		TEST_EQ_INT(put(jb, s, s * 20000), 0);
	for (uint16_t s = 10; s < 15; s++)
		EXPECT(jb, JBUF_FRAME, s);
	TEST_EQ_INT(f.len, 4);
	TEST_EQ_INT(f.ts, 14 * 160);
	EXPECT(jb, JBUF_EMPTY, 0); /* underrun */
	struct jbuf_stats st;
	jbuf_stats(jb, &st);
	TEST_EQ_INT(st.received, 5);
	TEST_EQ_INT(st.played, 5);
	TEST_EQ_INT(st.underruns, 1);
out:
	jbuf_free(jb);
	return err;
}

static int test_reorder_loss_duplicate_late(void)
{
	int err = 0;
	struct jbuf *jb = NULL;
	struct jbuf_frame f;
	struct jbuf_cfg cfg = {
		.clock_rate = 8000, .frame_ms = 20, .min_ms = 60, .max_ms = 200, .capacity = 32
	};
	TEST_EQ_INT(jbuf_new(&jb, &cfg), 0);
	TEST_EQ_INT(jbuf_target_ms(jb), 60);
	/* 2 arrives before 1; 4 is lost; 5 twice */
	TEST_EQ_INT(put(jb, 2, 0), 0);
	EXPECT(jb, JBUF_EMPTY, 0);
	TEST_EQ_INT(put(jb, 1, 1000), 0);   /* before playout: becomes the start */
	TEST_EQ_INT(put(jb, 3, 20000), 0);
	TEST_EQ_INT(jbuf_depth_ms(jb), 60);
	TEST_EQ_INT(put(jb, 5, 60000), 0);
	TEST_EQ_INT(put(jb, 5, 60000), EEXIST);
	TEST_EQ_INT(put(jb, 6, 80000), 0);
	EXPECT(jb, JBUF_FRAME, 1);
	EXPECT(jb, JBUF_FRAME, 2);
	EXPECT(jb, JBUF_FRAME, 3);
	EXPECT(jb, JBUF_LOSS, 0);
	TEST_EQ_INT(f.seq, 4);
	TEST_ASSERT(f.fec_data != NULL);    /* 5 is there: decode its FEC */
	TEST_EQ_INT(f.fec_len, 4);
	TEST_EQ_INT(f.fec_data[1], 5);
	TEST_EQ_INT(put(jb, 4, 90000), ESTALE); /* too late now */
	TEST_EQ_INT(put(jb, 2, 90000), ESTALE);
	EXPECT(jb, JBUF_FRAME, 5);
	EXPECT(jb, JBUF_FRAME, 6);
	struct jbuf_stats st;
	jbuf_stats(jb, &st);
	TEST_EQ_INT(st.received, 5);
	TEST_EQ_INT(st.played, 5);
	TEST_EQ_INT(st.lost, 1);
	TEST_EQ_INT(st.duplicate, 1);
	TEST_EQ_INT(st.late, 2);
	/* late packets deepen the target */
	TEST_ASSERT(jbuf_target_ms(jb) > 60);
	TEST_ASSERT(jbuf_target_ms(jb) <= 200);
out:
	jbuf_free(jb);
	return err;
}

static int test_loss_without_fec(void)
{
	int err = 0;
	struct jbuf *jb = NULL;
	struct jbuf_frame f;
	TEST_EQ_INT(jbuf_new(&jb, NULL), 0);
	TEST_EQ_INT(put(jb, 100, 0), 0);
	TEST_EQ_INT(put(jb, 103, 60000), 0);
	EXPECT(jb, JBUF_FRAME, 100);
	EXPECT(jb, JBUF_LOSS, 0);
	TEST_ASSERT(f.fec_data == NULL);    /* 102 missing too */
	EXPECT(jb, JBUF_LOSS, 0);
	TEST_ASSERT(f.fec_data != NULL);    /* 103 carries 102's FEC */
	EXPECT(jb, JBUF_FRAME, 103);
out:
	jbuf_free(jb);
	return err;
}

static int test_wraparound(void)
{
	int err = 0;
	struct jbuf *jb = NULL;
	struct jbuf_frame f;
	TEST_EQ_INT(jbuf_new(&jb, NULL), 0);
	/* sequence and timestamp both wrap */
	TEST_EQ_INT(put_ts(jb, 65534, 0xFFFFFF60u, 0), 0);
	TEST_EQ_INT(put_ts(jb, 0, 0x000000A0u, 40000), 0);
	TEST_EQ_INT(put_ts(jb, 65535, 0x00000000u, 41000), 0);
	TEST_EQ_INT(put_ts(jb, 1, 0x00000140u, 60000), 0);
	TEST_ASSERT(jbuf_target_ms(jb) <= 40);
	EXPECT(jb, JBUF_FRAME, 65534);
	EXPECT(jb, JBUF_FRAME, 65535);
	EXPECT(jb, JBUF_FRAME, 0);
	EXPECT(jb, JBUF_FRAME, 1);
	TEST_EQ_INT(f.ts, 0x140);
	TEST_EQ_INT(put_ts(jb, 65535, 0, 80000), ESTALE);
out:
	jbuf_free(jb);
	return err;
}

static int test_resets_and_bounds(void)
{
	int err = 0;
	struct jbuf *jb = NULL;
	struct jbuf_frame f;
	struct jbuf_cfg bad = {
		.clock_rate = 8000, .frame_ms = 20, .min_ms = 20, .max_ms = 400, .capacity = 10
	};
	TEST_EQ_INT(jbuf_new(&jb, &bad), EINVAL);
	bad.capacity = 300;
	TEST_EQ_INT(jbuf_new(&jb, &bad), EINVAL);
	bad.capacity = 32;
	bad.max_ms = 200;
	bad.payload_max = JBUF_PAYLOAD_MAX + 1;
	TEST_EQ_INT(jbuf_new(&jb, &bad), EINVAL);
	/* a smaller payload bound: a packet over it is refused, one at it kept */
	bad.payload_max = 480;
	TEST_EQ_INT(jbuf_new(&jb, &bad), 0);
	{
		static uint8_t g711[481];
		struct rtp_packet q = { .hdr = { .seq = 1, .ssrc = SSRC },
					.payload = g711,
					.payload_len = 481 };
		TEST_EQ_INT(jbuf_put(jb, &q, 0), EMSGSIZE);
		q.payload_len = 480;
		TEST_EQ_INT(jbuf_put(jb, &q, 0), 0);
		jbuf_pop(jb, &f, false);
		TEST_EQ_INT(f.status, JBUF_FRAME);
		TEST_EQ_INT(f.len, 480);
	}
	jb = jbuf_free(jb);
	struct jbuf_cfg cfg = {
		.clock_rate = 8000, .frame_ms = 20, .min_ms = 20, .max_ms = 200, .capacity = 16
	};
	TEST_EQ_INT(jbuf_new(&jb, &cfg), 0);
	TEST_EQ_INT(put(jb, 10, 0), 0);
	TEST_EQ_INT(put(jb, 11, 0), 0);
	/* a jump beyond the capacity: the sender restarted */
	TEST_EQ_INT(put(jb, 5000, 20000), 0);
	EXPECT(jb, JBUF_FRAME, 5000);
	/* a new SSRC resets as well */
	uint8_t pl[2] = { 0x77, 0x77 };
	struct rtp_packet p = { .hdr = { .seq = 30583, .ssrc = SSRC + 1 },
				.payload = pl,
				.payload_len = 2 };
	TEST_EQ_INT(jbuf_put(jb, &p, 40000), 0);
	EXPECT(jb, JBUF_FRAME, 30583);
	static uint8_t huge[JBUF_PAYLOAD_MAX + 1];
	p.payload = huge;
	p.payload_len = sizeof(huge);
	TEST_EQ_INT(jbuf_put(jb, &p, 40000), EMSGSIZE);
	struct jbuf_stats st;
	jbuf_stats(jb, &st);
	TEST_EQ_INT(st.resets, 2);
	/* never holds more than its capacity */
	for (uint16_t s = 30584; s < 30584 + 40; s++) {
		int rc = put(jb, s, 60000);
		(void)rc;
	}
	TEST_ASSERT(jbuf_depth_ms(jb) <= 16 * 20);
out:
	jbuf_free(jb);
	return err;
}

/* Packets sent every 20 ms, delivered with a random delay in [0, spread]
 * ms (so reordered too); the pacer pulls every 20 ms. Returns the target
 * reached and the late share. */
static int simulate(struct jbuf *jb, int spread_ms, uint32_t *targetp, double *latep, double *lossp)
{
	int err = 0;
	enum { N = 1500 };
	static int64_t at[N];
	srand(7);
	for (int i = 0; i < N; i++)
		at[i] = (int64_t)i * 20000 + (spread_ms ? (rand() % (spread_ms * 1000)) : 0);
	int next = 0;
	uint64_t out_frames = 0;
	for (int64_t now = 0; now < (int64_t)(N + 20) * 20000; now += 20000) {
		/* deliver everything due by `now`, in arrival order */
		for (;;) {
			int best = -1;
			for (int i = next; i < N && i < next + 64; i++)
				if (at[i] >= 0 && at[i] <= now && (best < 0 || at[i] < at[best]))
					best = i;
			if (best < 0)
				break;
			int rc = put(jb, (uint16_t)best, at[best]);
			TEST_ASSERT(rc == 0 || rc == ESTALE);
			at[best] = -1;
			while (next < N && at[next] < 0)
				next++;
		}
		struct jbuf_frame f;
		jbuf_get(jb, &f);
		out_frames += f.status == JBUF_FRAME;
		TEST_ASSERT(jbuf_target_ms(jb) >= 20 && jbuf_target_ms(jb) <= 200);
	}
	struct jbuf_stats st;
	jbuf_stats(jb, &st);
	*targetp = jbuf_target_ms(jb);
	*latep = (double)st.late / N;
	*lossp = (double)(N - out_frames) / N;
out:
	return err;
}

static int test_adaptive(void)
{
	int err = 0;
	struct jbuf *calm = NULL, *rough = NULL;
	uint32_t t_calm = 0, t_rough = 0;
	double late_calm = 1, late_rough = 1, loss_calm = 1, loss_rough = 1;
	TEST_EQ_INT(jbuf_new(&calm, NULL), 0);
	TEST_EQ_INT(jbuf_new(&rough, NULL), 0);
	TEST_EQ_INT(simulate(calm, 0, &t_calm, &late_calm, &loss_calm), 0);
	TEST_EQ_INT(simulate(rough, 80, &t_rough, &late_rough, &loss_rough), 0);
	fprintf(stderr,
		"    calm: target %u ms late %.3f loss %.3f; 80 ms spread: target %u ms late %.3f "
		"loss %.3f\n",
		t_calm, late_calm, loss_calm, t_rough, late_rough, loss_rough);
	TEST_ASSERT(t_calm <= 40);               /* no jitter: stays shallow */
	TEST_EQ_INT(late_calm * 1000, 0);
	TEST_ASSERT(t_rough > t_calm);           /* 80 ms spread: deeper */
	TEST_ASSERT(t_rough <= 200);
	TEST_ASSERT(late_rough < 0.03);          /* and few packets come too late */
	TEST_ASSERT(loss_rough < 0.06);
out:
	jbuf_free(calm);
	jbuf_free(rough);
	return err;
}

/* Talkspurts: a sender silent for 2 s whose next packet carries the marker
 * (RFC 3551 §4.1) has paused; that gap is not jitter and must not deepen
 * the buffer (even when its timestamps did not move on over the pause),
 * while the same gap without the marker does count. */
static int talkspurts(bool marker, uint32_t *targetp)
{
	int err = 0;
	struct jbuf *jb = NULL;
	struct jbuf_frame f;
	uint16_t seq = 0;
	uint32_t ts = 0;
	int64_t t = 0;
	TEST_EQ_INT(jbuf_new(&jb, NULL), 0);
	for (int burst = 0; burst < 5; burst++) {
		for (int i = 0; i < 50; i++, seq++, ts += 160, t += 20000) {
			uint8_t payload[2] = { 1, 2 };
			struct rtp_packet p = { .hdr = { .marker = marker && i == 0,
							 .seq = seq,
							 .ts = ts,
							 .ssrc = SSRC },
						.payload = payload,
						.payload_len = sizeof(payload) };
			TEST_EQ_INT(jbuf_put(jb, &p, t), 0);
			jbuf_get(jb, &f);
		}
		t += 2000000; /* 2 s of silence, timestamps contiguous across it */
	}
	*targetp = jbuf_target_ms(jb);
out:
	jbuf_free(jb);
	return err;
}

static int test_talkspurt_gap_is_not_jitter(void)
{
	int err = 0;
	uint32_t with_marker = 0, without = 0;
	TEST_EQ_INT(talkspurts(true, &with_marker), 0);
	TEST_EQ_INT(talkspurts(false, &without), 0);
	TEST_ASSERT(with_marker <= 60);
	TEST_ASSERT(without > with_marker);
out:
	return err;
}

/* Reorder-only use: a packet in sequence comes out at once, later ones wait
 * for a missing one until the caller gives up on it. */
#define POP(jb, give_up, st, sq)                                                   \
	do {                                                                       \
		jbuf_pop(jb, &f, give_up);                                         \
		TEST_EQ_INT(f.status, st);                                         \
		if ((st) == JBUF_FRAME)                                            \
			TEST_EQ_INT(frame_seq(&f), sq);                            \
	} while (0)

static int test_pop_reorder_only(void)
{
	int err = 0;
	struct jbuf *jb = NULL;
	struct jbuf_frame f;
	TEST_EQ_INT(jbuf_new(&jb, NULL), 0);
	POP(jb, true, JBUF_EMPTY, 0);
	TEST_EQ_INT(put(jb, 100, 0), 0);
	POP(jb, false, JBUF_FRAME, 100); /* no waiting for a target depth */
	POP(jb, false, JBUF_EMPTY, 0);
	TEST_ASSERT(!jbuf_gap(jb));
	/* 102 before 101: 102 waits */
	TEST_EQ_INT(put(jb, 102, 40000), 0);
	TEST_ASSERT(jbuf_gap(jb));
	POP(jb, false, JBUF_EMPTY, 0);
	TEST_EQ_INT(put(jb, 101, 41000), 0);
	TEST_ASSERT(!jbuf_gap(jb));
	POP(jb, false, JBUF_FRAME, 101);
	POP(jb, false, JBUF_FRAME, 102);
	/* 103 and 104 lost: given up, each is a loss, 105 carries FEC for 104 */
	TEST_EQ_INT(put(jb, 105, 100000), 0);
	POP(jb, false, JBUF_EMPTY, 0);
	POP(jb, true, JBUF_LOSS, 0);
	TEST_ASSERT(f.fec_data == NULL);
	POP(jb, true, JBUF_LOSS, 0);
	TEST_ASSERT(f.fec_data != NULL);
	POP(jb, true, JBUF_FRAME, 105);
	POP(jb, true, JBUF_EMPTY, 0);
	/* a packet given up on and arriving after all is late, never played */
	TEST_EQ_INT(put(jb, 104, 120000), ESTALE);
	struct jbuf_stats st;
	jbuf_stats(jb, &st);
	TEST_EQ_INT(st.played, 4);
	TEST_EQ_INT(st.lost, 2);
	TEST_EQ_INT(st.late, 1);
out:
	jbuf_free(jb);
	return err;
}

static const struct test tests[] = {
	{ "pop_reorder_only", test_pop_reorder_only },
	{ "talkspurt_gap_is_not_jitter", test_talkspurt_gap_is_not_jitter },
	{ "in_order", test_in_order },
	{ "reorder_loss_duplicate_late", test_reorder_loss_duplicate_late },
	{ "loss_without_fec", test_loss_without_fec },
	{ "wraparound", test_wraparound },
	{ "resets_and_bounds", test_resets_and_bounds },
	{ "adaptive", test_adaptive },
};

TEST_MAIN(tests)
