/*
 * media — the voice media plane: RTP/RTCP (RFC 3550), an adaptive jitter
 * buffer, G.711 µ-law/A-law, 8 kHz ⇄ 48 kHz resampling (speexdsp), Opus
 * (libopus), a per-call-leg transcoder G.711 ⇄ Opus, RFC 4733
 * telephone-events and SRTP with SDES keys (libsrtp2, RFC 4568).
 *
 * Conventions
 *   - Functions return 0 or an errno value: EINVAL bad argument, EBADMSG
 *     malformed input, EMSGSIZE output buffer too small or input too large,
 *     ENOMEM, ENOTSUP a valid feature we do not implement, EIO a library
 *     failure.
 *   - Parsers slice: the structs they fill point into the caller's buffer
 *     ("borrowed": valid while that buffer is). Nothing is copied.
 *   - Builders write into a caller buffer of given capacity and never past it.
 *   - Objects from x_new() are owned by the caller and released with
 *     x_free(), which accepts NULL and returns NULL (p = x_free(p)).
 *   - No object here is thread-safe; give each call leg its own and use it
 *     from one thread. Distinct objects may be used from different threads.
 *   - No I/O anywhere: sockets, pacing and clocks belong to the caller (times
 *     are passed in).
 */
#ifndef CALLMESH_MEDIA_H
#define CALLMESH_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ======================================================================
 * RTP (RFC 3550 §5)
 * ==================================================================== */
#define RTP_VERSION     2
#define RTP_HDR_LEN     12      /* fixed header, no CSRC / extension */
#define RTP_CSRC_MAX    15
#define RTP_PACKET_MAX  1500    /* largest packet we build or buffer */

struct rtp_hdr {
	bool marker;
	uint8_t pt;                     /* 0..127 */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	uint8_t cc;                     /* number of CSRCs, 0..15 */
	uint32_t csrc[RTP_CSRC_MAX];
	bool ext;                       /* header extension present */
	uint16_t ext_profile;           /* "defined by profile" (e.g. 0xBEDE) */
	const uint8_t *ext_data;        /* borrowed; ext_len bytes (multiple of 4) */
	size_t ext_len;
	uint8_t pad_len;                /* padding bytes incl. the count octet;
					 * 0 = no padding */
};

struct rtp_packet {
	struct rtp_hdr hdr;
	const uint8_t *payload;         /* borrowed, into the parsed buffer */
	size_t payload_len;
};

/* Parses one RTP packet. Checks version 2, that CSRCs, extension and
 * padding fit the buffer and that padding is not larger than what follows
 * the header. `pkt` borrows `buf`. EBADMSG on any malformation. */
int rtp_parse(struct rtp_packet *pkt, const uint8_t *buf, size_t len) CM_MUST_USE;

/* Builds hdr + payload into buf[cap]; *lenp = bytes written. With
 * hdr->ext the extension (ext_len, a multiple of 4, ≤ 262140) is copied from
 * ext_data; with pad_len > 0 that many padding bytes are appended (the last
 * one holding the count). EMSGSIZE when cap is too small. */
int rtp_build(size_t *lenp, uint8_t *buf, size_t cap, const struct rtp_hdr *hdr,
	      const uint8_t *payload, size_t payload_len) CM_MUST_USE;

/* Serial-number arithmetic (RFC 1982) for 16-bit sequence numbers and 32-bit
 * timestamps: diff = b - a in the shortest direction; lt = a is before b. */
int32_t rtp_seq_diff(uint16_t a, uint16_t b);
bool rtp_seq_lt(uint16_t a, uint16_t b);
int64_t rtp_ts_diff(uint32_t a, uint32_t b);
bool rtp_ts_lt(uint32_t a, uint32_t b);

/* A random SSRC (getrandom). */
uint32_t rtp_ssrc_random(void);

/* Per-source receive state (RFC 3550 appendix A.1, A.3, A.8): extended
 * sequence numbers across wrap-around, probation of new sources, packet
 * loss and interarrival jitter for reception reports. */
struct rtp_source {
	uint32_t ssrc;
	uint16_t max_seq;               /* highest seq seen */
	uint32_t cycles;                /* seq wraps << 16 */
	uint32_t base_seq;
	uint32_t bad_seq;
	uint32_t probation;             /* packets still to see before valid */
	uint32_t received;
	uint32_t expected_prior;
	uint32_t received_prior;
	int64_t transit;                /* last arrival - ts, in ts units */
	bool have_transit;
	double jitter;                  /* in timestamp units */
	uint32_t clock_rate;
};

/* Starts tracking `ssrc` whose first packet carries `seq`. */
void rtp_source_init(struct rtp_source *s, uint32_t ssrc, uint16_t seq, uint32_t clock_rate);
/* Accounts one packet: *ext_seqp = its extended sequence number (cycles +
 * seq). arrival_us is the local receive time (any monotonic µs clock).
 * Returns 0 when the packet is valid, EAGAIN while the source is still on
 * probation, ESTALE for a wild jump (not counted; two sequential packets
 * after a jump restart the source, as in A.1). */
int rtp_source_update(struct rtp_source *s, uint32_t *ext_seqp, uint16_t seq, uint32_t ts,
		      int64_t arrival_us) CM_MUST_USE;
uint32_t rtp_source_ext_max(const struct rtp_source *s);

/* ======================================================================
 * RTCP (RFC 3550 §6): SR, RR, SDES CNAME, BYE, compound packets
 * ==================================================================== */
enum rtcp_type { RTCP_SR = 200, RTCP_RR = 201, RTCP_SDES = 202, RTCP_BYE = 203, RTCP_APP = 204 };
#define RTCP_RC_MAX     31
#define RTCP_CNAME_MAX  255

struct rtcp_report_block {
	uint32_t ssrc;                  /* source this block is about */
	uint8_t fraction_lost;          /* fixed point, /256 */
	int32_t cum_lost;               /* 24-bit signed */
	uint32_t ext_high_seq;
	uint32_t jitter;                /* timestamp units */
	uint32_t lsr;                   /* middle 32 bits of the last SR's NTP */
	uint32_t dlsr;                  /* 1/65536 s since that SR */
};

/* An SR when `is_sr`, otherwise an RR (the sender-info fields unused). */
struct rtcp_report {
	bool is_sr;
	uint32_t ssrc;
	uint64_t ntp;                   /* NTP timestamp, 32.32 fixed point */
	uint32_t rtp_ts;
	uint32_t pkt_count;
	uint32_t octet_count;
	uint8_t rc;                     /* report blocks, 0..31 */
	struct rtcp_report_block blocks[RTCP_RC_MAX];
};

/* One packet of a compound; body borrowed (after the 4-byte header,
 * padding removed). */
struct rtcp_pkt {
	uint8_t type;
	uint8_t count;                  /* RC / SC / subtype field */
	const uint8_t *body;
	size_t body_len;
};

struct rtcp_iter {
	const uint8_t *buf;             /* borrowed */
	size_t len, pos;
};

/* Validates a compound packet as RFC 3550 A.2 asks (version 2, first packet
 * SR or RR without padding, padding only in the last packet, lengths adding
 * up to `len`). EBADMSG otherwise. */
int rtcp_validate_compound(const uint8_t *buf, size_t len) CM_MUST_USE;
/* Walks the packets of a compound without the first-packet rule (for
 * reduced-size RTCP). next: 0 and *pkt filled, ENOENT at the end, EBADMSG
 * on a bad header or length. */
void rtcp_iter_init(struct rtcp_iter *it, const uint8_t *buf, size_t len);
int rtcp_iter_next(struct rtcp_iter *it, struct rtcp_pkt *pkt) CM_MUST_USE;

/* Parses an SR or RR packet from the iterator (EBADMSG if the report
 * blocks do not fit, EINVAL for another type). */
int rtcp_parse_report(struct rtcp_report *r, const struct rtcp_pkt *pkt) CM_MUST_USE;
/* Finds the CNAME of the first chunk of an SDES packet: *cnamep borrowed,
 * not NUL-terminated. ENOENT when the first chunk has none. */
int rtcp_parse_sdes_cname(uint32_t *ssrcp, const uint8_t **cnamep, size_t *cname_lenp,
			  const struct rtcp_pkt *pkt) CM_MUST_USE;
/* Lists the SSRCs of a BYE packet (at most `cap`); *np = count. */
int rtcp_parse_bye(uint32_t *ssrcs, size_t cap, size_t *np, const struct rtcp_pkt *pkt) CM_MUST_USE;

/* Builders append one packet at buf[*lenp] (cap = size of buf) and advance
 * *lenp; chain them into a compound: report, then SDES, then BYE. */
int rtcp_build_report(uint8_t *buf, size_t cap, size_t *lenp,
		      const struct rtcp_report *r) CM_MUST_USE;
int rtcp_build_sdes_cname(uint8_t *buf, size_t cap, size_t *lenp, uint32_t ssrc,
			  const char *cname, size_t cname_len) CM_MUST_USE;
int rtcp_build_bye(uint8_t *buf, size_t cap, size_t *lenp, const uint32_t *ssrcs,
		   size_t n) CM_MUST_USE;

/* Fills a reception report block for `s` (A.3 loss, A.8 jitter) and moves
 * its "prior" counters, so call it once per report interval. lsr/dlsr are
 * the caller's (0 when no SR was received). */
void rtp_source_report(struct rtcp_report_block *b, struct rtp_source *s);

/* NTP timestamp (32.32) ⇄ the middle 32 bits used by LSR. */
uint32_t rtcp_ntp_middle(uint64_t ntp);

/* ======================================================================
 * G.711 (ITU-T G.711: µ-law and A-law, 8 kHz)
 * ==================================================================== */
enum g711_law { G711_ULAW, G711_ALAW };     /* RTP PT 0 = PCMU, 8 = PCMA */
#define G711_FRAME_SAMPLES 160              /* 20 ms at 8 kHz */

uint8_t g711_ulaw_encode(int16_t pcm);
int16_t g711_ulaw_decode(uint8_t code);
uint8_t g711_alaw_encode(int16_t pcm);
int16_t g711_alaw_decode(uint8_t code);
/* n samples ⇄ n code bytes. */
void g711_encode(enum g711_law law, uint8_t *out, const int16_t *pcm, size_t n);
void g711_decode(enum g711_law law, int16_t *out, const uint8_t *codes, size_t n);

/* ======================================================================
 * Resampling (speexdsp), one object per direction (it keeps filter state)
 * ==================================================================== */
#define RESAMPLER_QUALITY_VOIP 3            /* speexdsp 0..10 */
struct resampler;

int resampler_new(struct resampler **rp, uint32_t in_rate, uint32_t out_rate,
		    int quality) CM_MUST_USE;
struct resampler *resampler_free(struct resampler *r);
/* Resamples all of in[in_len] into out[*out_lenp capacity]; *out_lenp =
 * samples produced. EMSGSIZE if out is too small to take all the input. */
int resampler_process(struct resampler *r, int16_t *out, size_t *out_lenp, const int16_t *in,
		      size_t in_len) CM_MUST_USE;
/* Output samples of the filter's delay (latency), in output samples. */
int resampler_latency(const struct resampler *r);
void resampler_reset(struct resampler *r);

/* ======================================================================
 * Opus (libopus): mono, 20 ms frames, VOIP application, inband FEC. The PCM
 * side works at 48 kHz unless told another of Opus's own rates (8, 12, 16,
 * 24 kHz: libopus encodes and decodes them natively, no resampler); the
 * packets and their RTP clock are the same at every rate.
 * ==================================================================== */
#define MEDIA_OPUS_RATE          48000
#define MEDIA_OPUS_FRAME         960        /* samples per 20 ms at 48 kHz */
#define MEDIA_OPUS_MAX_FRAME     5760       /* 120 ms, the largest packet */
#define MEDIA_OPUS_PACKET_MAX    1275

enum media_opus_bandwidth { MEDIA_OPUS_NB, MEDIA_OPUS_WB, MEDIA_OPUS_FB };

struct media_opus_enc_cfg {
	int bitrate;                    /* bit/s, 6000..510000; 0 = 24000 */
	int loss_pct;                   /* expected packet loss 0..100, drives FEC */
	int complexity;                 /* 0..10; < 0 = 5 */
	enum media_opus_bandwidth max_bandwidth; /* NB for telephone audio */
	bool dtx;
	int rate;                       /* input PCM, Hz: 8000, 12000, 16000, 24000,
					 * 48000; 0 = 48000 (8000 encodes narrowband
					 * whatever max_bandwidth says) */
};
struct media_opus_enc;
struct media_opus_dec;

/* One of the PCM rates libopus works at natively: 8000, 12000, 16000, 24000
 * or 48000 Hz. */
bool media_opus_rate_ok(int rate);

/* cfg may be NULL: 24 kbit/s, 10 % loss, complexity 5, FB, no DTX, 48 kHz.
 * EINVAL for a value out of range (a rate Opus does not take). */
int media_opus_enc_new(struct media_opus_enc **ep,
		       const struct media_opus_enc_cfg *cfg) CM_MUST_USE;
struct media_opus_enc *media_opus_enc_free(struct media_opus_enc *e);
int media_opus_enc_set_loss(struct media_opus_enc *e, int loss_pct) CM_MUST_USE;
/* Encodes one 20 ms frame (rate / 50 samples: 960 at 48 kHz, 160 at 8 kHz)
 * into out[cap]; *lenp = bytes. */
int media_opus_encode(struct media_opus_enc *e, uint8_t *out, size_t cap, size_t *lenp,
		      const int16_t *pcm) CM_MUST_USE;

/* A decoder with 48 kHz output. */
int media_opus_dec_new(struct media_opus_dec **dp) CM_MUST_USE;
/* A decoder whose output is at `rate` (8000, 12000, 16000, 24000, 48000;
 * else EINVAL). */
int media_opus_dec_new_rate(struct media_opus_dec **dp, int rate) CM_MUST_USE;
struct media_opus_dec *media_opus_dec_free(struct media_opus_dec *d);
/* Decodes a packet into pcm[cap]; *np = samples at the decoder's rate (960
 * for 20 ms at 48 kHz, 160 at 8 kHz). EBADMSG for a corrupt packet. */
int media_opus_decode(struct media_opus_dec *d, int16_t *pcm, size_t cap, size_t *np,
		      const uint8_t *data, size_t len) CM_MUST_USE;
/* A lost frame of `frame` samples at the decoder's rate (a multiple of
 * 2.5 ms, at most 120 ms; else EINVAL): with `next` (the packet after the
 * lost one) its inband FEC is decoded, otherwise packet loss concealment. */
int media_opus_conceal(struct media_opus_dec *d, int16_t *pcm, size_t frame,
		       const uint8_t *next, size_t next_len) CM_MUST_USE;
/* True when the packet carries inband FEC (LBRR) for the previous frame. */
bool media_opus_has_fec(const uint8_t *data, size_t len);
/* How many encoders and decoders were handed out reset rather than created
 * (the process keeps a few freed ones per rate: creating one probes the CPU,
 * which is slow in a virtual machine). */
uint64_t media_opus_reused(void);

/* ======================================================================
 * Transcoder for one call leg: G.711 8 kHz 20 ms ⇄ Opus 48 kHz 20 ms.
 * Uplink: G.711 → PCM 8k → resample → PCM 48k → Opus.
 * Downlink: Opus → PCM 48k → resample → PCM 8k → G.711.
 * Pure functions on buffers; no pacing, no sockets.
 * ==================================================================== */
struct transcoder_cfg {
	enum g711_law law;
	struct media_opus_enc_cfg opus;
	int resampler_quality;          /* < 0 = RESAMPLER_QUALITY_VOIP */
};
struct transcoder;

/* cfg NULL = PCMU, Opus 24 kbit/s NB complexity 5 10 % loss. */
int transcoder_new(struct transcoder **tp, const struct transcoder_cfg *cfg) CM_MUST_USE;
struct transcoder *transcoder_free(struct transcoder *t);
/* One 20 ms G.711 frame (160 bytes) → one Opus packet into out[cap].
 * g711 NULL: a lost frame, encoded as silence. */
int transcoder_to_opus(struct transcoder *t, uint8_t *out, size_t cap, size_t *lenp,
		       const uint8_t *g711, size_t g711_len) CM_MUST_USE;
/* One Opus packet → G.711 bytes into out[cap] (160 per 20 ms). */
int transcoder_to_g711(struct transcoder *t, uint8_t *out, size_t cap, size_t *lenp,
		       const uint8_t *opus, size_t opus_len) CM_MUST_USE;
/* A lost Opus packet → 20 ms of G.711, concealed (PLC) or recovered from
 * the FEC of `next` (may be NULL). */
int transcoder_conceal_to_g711(struct transcoder *t, uint8_t *out, size_t cap, size_t *lenp,
			       const uint8_t *next, size_t next_len) CM_MUST_USE;
/* Extra delay the two resamplers add, in 8 kHz samples (for latency
 * accounting and tests). */
int transcoder_delay_8k(const struct transcoder *t);

/* ======================================================================
 * Jitter buffer: adaptive target depth within [min_ms, max_ms], bounded
 * capacity, reorders, drops late and duplicate packets, reports losses so
 * the caller conceals (media_opus_conceal with the FEC of the next packet).
 * The caller pulls one frame every frame_ms (its pacing clock).
 * ==================================================================== */
#define JBUF_PAYLOAD_MAX 1280           /* Opus max 1275; G.711 60 ms 480 */
#define JBUF_CAPACITY_MAX 256

struct jbuf_cfg {
	uint32_t clock_rate;            /* 8000 (G.711) or 48000 (Opus) */
	uint32_t frame_ms;              /* packet duration, 20 */
	uint32_t min_ms, max_ms;        /* target depth bounds, e.g. 20..200 */
	uint32_t capacity;              /* packets held at most, ≤ 256 */
	uint32_t payload_max;           /* bytes per packet, ≤ JBUF_PAYLOAD_MAX;
					 * 0 = JBUF_PAYLOAD_MAX */
};

struct jbuf_stats {
	uint64_t received, played, lost, late, duplicate, overflow, dropped, underruns, resets;
};

enum jbuf_status {
	JBUF_FRAME,                     /* data/len: the next packet */
	JBUF_LOSS,                      /* a packet is missing: conceal; fec_* is
					 * the following packet when present */
	JBUF_EMPTY,                     /* buffering or underrun: nothing to play */
};

struct jbuf_frame {
	enum jbuf_status status;
	uint16_t seq;
	uint32_t ts;
	bool marker;
	const uint8_t *data;            /* borrowed, valid until the next jbuf call */
	size_t len;
	const uint8_t *fec_data;        /* borrowed, valid until the next jbuf call */
	size_t fec_len;
};

struct jbuf;

/* cfg NULL = 8 kHz, 20 ms, 20..200 ms, 64 packets. EINVAL for bounds that
 * do not fit (min > max, max beyond capacity, payload_max too big). */
int jbuf_new(struct jbuf **jbp, const struct jbuf_cfg *cfg) CM_MUST_USE;
struct jbuf *jbuf_free(struct jbuf *jb);
/* Stores a packet (its payload is copied). arrival_us: local monotonic µs.
 * 0 stored; EEXIST duplicate; ESTALE late (already played or skipped);
 * EMSGSIZE payload over payload_max. A new SSRC or a jump further than
 * the capacity resets the buffer and stores the packet. */
int jbuf_put(struct jbuf *jb, const struct rtp_packet *pkt, int64_t arrival_us) CM_MUST_USE;
/* Called every frame_ms: the next frame to play. */
void jbuf_get(struct jbuf *jb, struct jbuf_frame *f);
/* Reorder-only use, for a relay that forwards packets as they arrive and
 * leaves the jitter to the final receiver: the next packet in sequence when
 * it is here, else JBUF_EMPTY; with give_up, a next packet still missing
 * while later ones wait becomes JBUF_LOSS. Not mixed with jbuf_get. */
void jbuf_pop(struct jbuf *jb, struct jbuf_frame *f, bool give_up);
/* Later packets wait for a missing next one. */
bool jbuf_gap(const struct jbuf *jb);
uint32_t jbuf_target_ms(const struct jbuf *jb);
uint32_t jbuf_depth_ms(const struct jbuf *jb);   /* buffered, from next to newest */
void jbuf_stats(const struct jbuf *jb, struct jbuf_stats *st);
void jbuf_reset(struct jbuf *jb);

/* ======================================================================
 * RFC 4733 telephone-events (DTMF)
 * ==================================================================== */
#define DTMF_PAYLOAD_LEN 4
#define DTMF_RX_OUT_MAX  2              /* events one input can complete */

struct dtmf_payload {
	uint8_t event;                  /* 0-9, 10 '*', 11 '#', 12-15 A-D, 16 flash */
	bool end;
	uint8_t volume;                 /* 0..63, -dBm0 */
	uint16_t duration;              /* timestamp units since the event began */
};

struct dtmf_event {
	char digit;                     /* '0'..'9', '*', '#', 'A'..'D', '!' flash */
	uint8_t code;
	uint8_t volume;
	uint32_t duration_ms;
};

/* digit ⇄ event code; EINVAL for anything else. */
int dtmf_code_from_digit(uint8_t *codep, char digit) CM_MUST_USE;
char dtmf_digit_from_code(uint8_t code);        /* '\0' when none */

/* Parses the first event block of a telephone-event payload (len ≥ 4).
 * EBADMSG for short payloads. */
int dtmf_parse(struct dtmf_payload *p, const uint8_t *payload, size_t len) CM_MUST_USE;
void dtmf_build(uint8_t out[DTMF_PAYLOAD_LEN], const struct dtmf_payload *p);

/* Receiver: one dtmf_event per event whatever the redundancy (3 end
 * packets), reordering or timestamp/sequence wrap-around. An event that
 * never sees an end packet is reported when the next event starts or on
 * dtmf_rx_flush(). Long events (RFC 4733 §2.5.2.3 segments) are merged. */
struct dtmf_rx {
	uint32_t clock_rate;
	bool active;                    /* an event began, no end yet */
	uint8_t code, volume;
	uint32_t ts;                    /* RTP ts of the current segment */
	uint32_t seg_dur;               /* duration of the current segment */
	uint64_t base_dur;              /* summed earlier segments */
	bool have_done;
	uint32_t done_ts;               /* ts of the last reported event's last segment */
};

void dtmf_rx_init(struct dtmf_rx *rx, uint32_t clock_rate);
/* Feeds one telephone-event RTP packet (its ts and payload). *np events
 * (0..DTMF_RX_OUT_MAX) completed into out[]. EBADMSG for a bad payload. */
int dtmf_rx_input(struct dtmf_rx *rx, struct dtmf_event out[DTMF_RX_OUT_MAX], size_t *np,
		  uint32_t ts, const uint8_t *payload, size_t len) CM_MUST_USE;
/* Reports an event still open (no end packet seen, e.g. after a timeout).
 * Returns true and fills *ev when there was one. */
bool dtmf_rx_flush(struct dtmf_rx *rx, struct dtmf_event *ev);

/* Sender: the packets for one digit, all with the event's RTP timestamp;
 * the caller sends packet i at offset_ms with consecutive sequence numbers.
 * The first has the marker bit; durations grow by ptime; the last three are
 * the (identical) end packets. */
#define DTMF_TX_MAX_PACKETS 512
struct dtmf_tx_packet {
	uint8_t payload[DTMF_PAYLOAD_LEN];
	bool marker;
	bool end;
	uint32_t offset_ms;
};
/* duration_ms 1..8000 (≤ 65535 timestamp units), ptime_ms 10..100.
 * *np = packets written into out[cap]; EMSGSIZE if cap is too small. */
int dtmf_tx_packets(struct dtmf_tx_packet *out, size_t cap, size_t *np, char digit,
		    uint32_t duration_ms, uint8_t volume, uint32_t clock_rate,
		    uint32_t ptime_ms) CM_MUST_USE;

/* ======================================================================
 * SRTP with SDES keys (RFC 4568 a=crypto, libsrtp2)
 * ==================================================================== */
enum sdes_suite { SDES_AES_CM_128_HMAC_SHA1_80, SDES_AES_CM_128_HMAC_SHA1_32 };
#define SDES_KEY_LEN      30            /* 16-byte master key + 14-byte salt */
#define SDES_LINE_MAX     128           /* what sdes_crypto_format writes */
#define MEDIA_SRTP_TRAILER_MAX 148      /* ≥ libsrtp SRTP_MAX_TRAILER_LEN + SRTCP index */

struct sdes_crypto {
	uint32_t tag;                   /* 1..999999999 */
	enum sdes_suite suite;
	uint8_t key[SDES_KEY_LEN];
	uint64_t lifetime;              /* packets; 0 = not given */
	uint32_t mki, mki_len;          /* mki_len 0 = no MKI */
};

/* Parses an a=crypto value ("1 AES_CM_128_HMAC_SHA1_80 inline:<b64>[|2^31]
 * [|1:4] [params]"), with or without the leading "a=crypto:". Takes the
 * first key of the list. EBADMSG for malformed lines, ENOTSUP for other
 * suites or session parameters we cannot honour. */
int sdes_crypto_parse(struct sdes_crypto *c, const char *line, size_t len) CM_MUST_USE;
/* Writes the value (no "a=crypto:", no CRLF), NUL-terminated. */
int sdes_crypto_format(char *buf, size_t cap, const struct sdes_crypto *c) CM_MUST_USE;
/* A fresh random key (getrandom). */
int sdes_crypto_generate(struct sdes_crypto *c, uint32_t tag, enum sdes_suite suite) CM_MUST_USE;
const char *sdes_suite_name(enum sdes_suite s);

struct media_srtp;
/* One session pair for a call leg: `local` protects what we send, `remote`
 * (the key the far end offered/answered) unprotects what we receive. Both
 * borrowed (copied). ENOTSUP for MKI keys. */
int media_srtp_new(struct media_srtp **sp, const struct sdes_crypto *local,
		     const struct sdes_crypto *remote) CM_MUST_USE;
struct media_srtp *media_srtp_free(struct media_srtp *s);
/* In place: buf holds *lenp bytes of RTP (RTCP), cap ≥ *lenp +
 * MEDIA_SRTP_TRAILER_MAX; *lenp becomes the SRTP (SRTCP) length. */
int media_srtp_protect(struct media_srtp *s, uint8_t *buf, size_t cap, size_t *lenp) CM_MUST_USE;
int media_srtp_protect_rtcp(struct media_srtp *s, uint8_t *buf, size_t cap,
			    size_t *lenp) CM_MUST_USE;
/* In place: *lenp shrinks to the plain packet. EBADMSG when
 * authentication fails (tampered, wrong key), EALREADY for a replay. */
int media_srtp_unprotect(struct media_srtp *s, uint8_t *buf, size_t *lenp) CM_MUST_USE;
int media_srtp_unprotect_rtcp(struct media_srtp *s, uint8_t *buf, size_t *lenp) CM_MUST_USE;

#endif
