/* SDP audio stream reader, hold classifier, offer and answer writers (pure; any thread). */
#include "sdp.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A slice of the input. */
struct pl {
	const char *p;
	size_t n;
};

enum enc { ENC_OTHER, ENC_PCMU, ENC_PCMA, ENC_TE };

struct rtpmap {
	int pt;
	enum enc enc;
};

/* One m= block while parsing. */
struct block {
	bool used;
	bool audio;
	uint16_t port;
	int nfmt;
	int fmt[SDP_FMT_MAX];
	bool has_dir;
	enum sdp_dir dir;
	bool has_c;
	char addr[SDP_ADDR_MAX];
	bool c_zero;
	int nmap;
	struct rtpmap map[SDP_FMT_MAX];
	int ptime;
	bool savp;
	int ncrypto;
	char crypto[SDP_CRYPTO_MAX][SDP_CRYPTO_LEN];
};

static bool pl_eq(struct pl a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && memcmp(a.p, s, n) == 0;
}

static bool pl_eq_nocase(struct pl a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && strncasecmp(a.p, s, n) == 0;
}

static struct pl pl_trim(struct pl a)
{
	while (a.n && (a.p[0] == ' ' || a.p[0] == '\t')) {
		a.p++;
		a.n--;
	}
	while (a.n && (a.p[a.n - 1] == ' ' || a.p[a.n - 1] == '\t'))
		a.n--;
	return a;
}

/* Next space-separated token of *rest; false when none is left. */
static bool pl_token(struct pl *tok, struct pl *rest)
{
	struct pl r = pl_trim(*rest);
	if (r.n == 0)
		return false;
	size_t i = 0;
	while (i < r.n && r.p[i] != ' ' && r.p[i] != '\t')
		i++;
	tok->p = r.p;
	tok->n = i;
	rest->p = r.p + i;
	rest->n = r.n - i;
	return true;
}

/* Decimal digits only, value ≤ max. */
static bool pl_uint(long *vp, struct pl a, long max)
{
	long v = 0;
	if (a.n == 0 || a.n > 10)
		return false;
	for (size_t i = 0; i < a.n; i++) {
		if (a.p[i] < '0' || a.p[i] > '9')
			return false;
		v = v * 10 + (a.p[i] - '0');
		if (v > max)
			return false;
	}
	*vp = v;
	return true;
}

/* Splits a at the first `c`: *head before it, *tail after; false when absent. */
static bool pl_split(struct pl *head, struct pl *tail, struct pl a, char c)
{
	const char *hit = memchr(a.p, c, a.n);
	if (!hit)
		return false;
	head->p = a.p;
	head->n = (size_t)(hit - a.p);
	tail->p = hit + 1;
	tail->n = a.n - head->n - 1;
	return true;
}

static bool parse_dir(enum sdp_dir *dirp, struct pl attr)
{
	static const struct { const char *name; enum sdp_dir dir; } dirs[] = {
		{ "sendrecv", SDP_SENDRECV }, { "sendonly", SDP_SENDONLY },
		{ "recvonly", SDP_RECVONLY }, { "inactive", SDP_INACTIVE },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(dirs); i++) {
		if (pl_eq(attr, dirs[i].name)) {
			*dirp = dirs[i].dir;
			return true;
		}
	}
	return false;
}

/* "IN IP4 <addr>[/ttl[/n]]" or "IN IP6 <addr>". */
static int parse_conn(struct block *b, struct pl v)
{
	struct pl net, type, addr, rest = v, head, tail;
	if (!pl_token(&net, &rest) || !pl_token(&type, &rest) || !pl_token(&addr, &rest))
		return EINVAL;
	if (!pl_eq(net, "IN") || !(pl_eq(type, "IP4") || pl_eq(type, "IP6")))
		return EINVAL;
	if (pl_split(&head, &tail, addr, '/'))
		addr = head;
	if (addr.n == 0 || addr.n >= SDP_ADDR_MAX)
		return EINVAL;
	memcpy(b->addr, addr.p, addr.n);
	b->addr[addr.n] = '\0';
	b->has_c = true;
	b->c_zero = pl_eq(type, "IP4") && pl_eq(addr, "0.0.0.0");
	return 0;
}

/* "<media> <port>[/<count>] <proto> <fmt> ..." */
static int parse_media(struct block *b, struct pl v)
{
	struct pl media, port, proto, fmt, rest = v, head, tail;
	long n;
	memset(b, 0, sizeof(*b));
	b->used = true;
	if (!pl_token(&media, &rest) || !pl_token(&port, &rest) || !pl_token(&proto, &rest))
		return EINVAL;
	if (pl_split(&head, &tail, port, '/'))
		port = head;
	if (!pl_uint(&n, port, 65535))
		return EINVAL;
	b->port = (uint16_t)n;
	b->audio = pl_eq(media, "audio");
	b->savp = pl_eq(proto, "RTP/SAVP") || pl_eq(proto, "RTP/SAVPF");
	while (pl_token(&fmt, &rest)) {
		if (!pl_uint(&n, fmt, 127))
			continue; /* not an RTP payload type: not ours to use */
		if (b->nfmt < SDP_FMT_MAX)
			b->fmt[b->nfmt++] = (int)n;
	}
	return 0;
}

/* "rtpmap:<pt> <encoding>/<rate>[/<channels>]" */
static void parse_rtpmap(struct block *b, struct pl v)
{
	struct pl pt, enc, rest = v, name, rate_ch, rate, ch;
	long n, r;
	if (!pl_token(&pt, &rest) || !pl_uint(&n, pt, 127) || !pl_token(&enc, &rest))
		return;
	if (!pl_split(&name, &rate_ch, enc, '/'))
		return;
	if (!pl_split(&rate, &ch, rate_ch, '/'))
		rate = rate_ch;
	if (!pl_uint(&r, rate, 1000000) || b->nmap >= SDP_FMT_MAX)
		return;
	enum enc e = ENC_OTHER;
	if (r == 8000 && pl_eq_nocase(name, "PCMU"))
		e = ENC_PCMU;
	else if (r == 8000 && pl_eq_nocase(name, "PCMA"))
		e = ENC_PCMA;
	else if (r == 8000 && pl_eq_nocase(name, "telephone-event"))
		e = ENC_TE;
	b->map[b->nmap].pt = (int)n;
	b->map[b->nmap].enc = e;
	b->nmap++;
}

/* "crypto:<tag> <suite> <key-params> ..." value: kept as written (trimmed). */
static void parse_crypto(struct block *b, struct pl v)
{
	v = pl_trim(v);
	if (v.n == 0 || v.n >= SDP_CRYPTO_LEN || b->ncrypto >= SDP_CRYPTO_MAX)
		return;
	memcpy(b->crypto[b->ncrypto], v.p, v.n);
	b->crypto[b->ncrypto][v.n] = '\0';
	b->ncrypto++;
}

static enum enc fmt_enc(const struct block *b, int pt)
{
	for (int i = 0; i < b->nmap; i++)
		if (b->map[i].pt == pt)
			return b->map[i].enc;
	if (pt == 0)
		return ENC_PCMU;
	if (pt == 8)
		return ENC_PCMA;
	return ENC_OTHER;
}

/* Only the first block (m= line) and the first audio block are kept. */
static void block_done(struct block *chosen, bool *chosen_audio, const struct block *b)
{
	if (!b->used)
		return;
	if (!chosen->used || (b->audio && !*chosen_audio)) {
		*chosen = *b;
		*chosen_audio = b->audio;
	}
}

int sdp_audio_parse(struct sdp_audio *out, const char *sdp, size_t len)
{
	struct block cur, chosen;
	bool chosen_audio = false, first = true, in_media = false;
	bool sess_has_dir = false, sess_has_c = false, sess_c_zero = false;
	enum sdp_dir sess_dir = SDP_SENDRECV;
	char sess_addr[SDP_ADDR_MAX] = "";
	int err;

	if (!out || (!sdp && len))
		return EINVAL;
	if (len > SDP_MAX)
		return EMSGSIZE;
	memset(&cur, 0, sizeof(cur));
	memset(&chosen, 0, sizeof(chosen));

	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(sdp + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - sdp) : len;
		struct pl line = { sdp + pos, end - pos };
		pos = nl ? end + 1 : len;
		if (line.n && line.p[line.n - 1] == '\r')
			line.n--;
		if (line.n == 0)
			continue;
		if (line.n < 2 || line.p[1] != '=' || line.p[0] < 'a' || line.p[0] > 'z')
			return EINVAL;
		char type = line.p[0];
		struct pl v = { line.p + 2, line.n - 2 };
		if (first) {
			if (type != 'v')
				return EINVAL;
			first = false;
			continue;
		}
		if (type == 'm') {
			block_done(&chosen, &chosen_audio, &cur);
			err = parse_media(&cur, v);
			if (err)
				return err;
			in_media = true;
		} else if (type == 'c') {
			struct block tmp;
			memset(&tmp, 0, sizeof(tmp));
			err = parse_conn(in_media ? &cur : &tmp, v);
			if (err)
				return err;
			if (!in_media) {
				sess_has_c = true;
				sess_c_zero = tmp.c_zero;
				memcpy(sess_addr, tmp.addr, sizeof(sess_addr));
			}
		} else if (type == 'a') {
			struct pl attr = pl_trim(v), name, val;
			enum sdp_dir dir;
			if (parse_dir(&dir, attr)) {
				if (in_media) {
					cur.has_dir = true;
					cur.dir = dir;
				} else {
					sess_has_dir = true;
					sess_dir = dir;
				}
			} else if (in_media && pl_split(&name, &val, attr, ':')) {
				long n;
				if (pl_eq(name, "rtpmap"))
					parse_rtpmap(&cur, val);
				else if (pl_eq(name, "ptime") && pl_uint(&n, pl_trim(val), 1000))
					cur.ptime = (int)n;
				else if (pl_eq(name, "crypto"))
					parse_crypto(&cur, val);
			}
		}
	}
	if (first)
		return EINVAL;
	block_done(&chosen, &chosen_audio, &cur);
	if (!chosen.used)
		return EINVAL;

	struct sdp_audio a;
	memset(&a, 0, sizeof(a));
	a.port = chosen.port;
	a.direction = chosen.has_dir ? chosen.dir : (sess_has_dir ? sess_dir : SDP_SENDRECV);
	a.conn_zero = chosen.has_c ? chosen.c_zero : (sess_has_c && sess_c_zero);
	memcpy(a.addr, chosen.has_c ? chosen.addr : sess_addr, sizeof(a.addr));
	a.pcmu_pt = a.pcma_pt = a.te_pt = -1;
	a.nfmt = chosen.nfmt;
	for (int i = 0; i < chosen.nfmt; i++) {
		int pt = chosen.fmt[i];
		a.fmt[i] = pt;
		enum enc e = fmt_enc(&chosen, pt);
		if (e == ENC_PCMU && a.pcmu_pt < 0)
			a.pcmu_pt = pt;
		else if (e == ENC_PCMA && a.pcma_pt < 0)
			a.pcma_pt = pt;
		else if (e == ENC_TE && a.te_pt < 0)
			a.te_pt = pt;
	}
	a.ptime = chosen.ptime;
	a.savp = chosen.savp;
	a.ncrypto = chosen.ncrypto;
	memcpy(a.crypto, chosen.crypto, sizeof(a.crypto));

	*out = a;
	return 0;
}

void sdp_hold_classify(struct sdp_hold *out, const struct sdp_audio *a)
{
	if (a->port == 0) {
		out->hold = true;
		out->method = SDP_HOLD_PORT_ZERO;
		out->effective = SDP_INACTIVE;
	} else if (a->direction == SDP_SENDONLY || a->direction == SDP_INACTIVE) {
		out->hold = true;
		out->method = SDP_HOLD_ATTRIBUTE;
		out->effective = a->direction;
	} else if (a->conn_zero) {
		out->hold = true;
		out->method = SDP_HOLD_CONNECTION_ADDRESS;
		out->effective = a->direction == SDP_RECVONLY ? SDP_INACTIVE : SDP_SENDONLY;
	} else {
		out->hold = false;
		out->method = SDP_HOLD_NONE;
		out->effective = a->direction;
	}
}

enum sdp_dir sdp_dir_mirror(enum sdp_dir dir)
{
	switch (dir) {
	case SDP_SENDONLY: return SDP_RECVONLY;
	case SDP_RECVONLY: return SDP_SENDONLY;
	case SDP_INACTIVE: return SDP_INACTIVE;
	default: return SDP_SENDRECV;
	}
}

const char *sdp_dir_name(enum sdp_dir dir)
{
	switch (dir) {
	case SDP_SENDONLY: return "sendonly";
	case SDP_RECVONLY: return "recvonly";
	case SDP_INACTIVE: return "inactive";
	default: return "sendrecv";
	}
}

const char *sdp_hold_method_name(enum sdp_hold_method m)
{
	switch (m) {
	case SDP_HOLD_ATTRIBUTE: return "attribute";
	case SDP_HOLD_CONNECTION_ADDRESS: return "connection_address";
	case SDP_HOLD_PORT_ZERO: return "port_zero";
	default: return "none";
	}
}

/* Appends to buf at *posp; ENOSPC when it does not fit. */
static int put(char *buf, size_t len, size_t *posp, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t len, size_t *posp, const char *fmt, ...)
{
	if (*posp >= len)
		return ENOSPC;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *posp, len - *posp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *posp)
		return ENOSPC;
	*posp += (size_t)n;
	return 0;
}

static int put_session(char *buf, size_t len, size_t *posp, const struct sdp_local *l)
{
	return put(buf, len, posp,
		   "v=0\r\no=callmesh %" PRIu64 " %" PRIu64 " IN IP4 %s\r\ns=callmesh\r\n"
		   "c=IN IP4 %s\r\nt=0 0\r\n",
		   l->sess_id, l->sess_version, l->addr, l->addr);
}

static const char *proto(const struct sdp_local *l)
{
	return l->crypto ? "RTP/SAVP" : "RTP/AVP";
}

/* Our a=crypto line, when the media is encrypted. */
static int put_crypto(char *buf, size_t len, size_t *posp, const struct sdp_local *l)
{
	if (!l->crypto)
		return 0;
	return put(buf, len, posp, "a=crypto:%s\r\n", l->crypto);
}

static bool local_ok(const struct sdp_local *l)
{
	return l && l->addr && (!l->crypto || (l->crypto[0] && !strpbrk(l->crypto, "\r\n")));
}

int sdp_offer_build(char *buf, size_t len, const struct sdp_local *local)
{
	size_t pos = 0;
	if (!buf || !local_ok(local))
		return EINVAL;
	int err = put_session(buf, len, &pos, local);
	if (!err)
		err = put(buf, len, &pos,
			  "m=audio %u %s 0 8 101\r\n"
			  "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
			  "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
			  "a=ptime:20\r\na=sendrecv\r\n",
			  (unsigned)local->port, proto(local));
	if (!err)
		err = put_crypto(buf, len, &pos, local);
	return err;
}

int sdp_answer_build(char *buf, size_t len, const struct sdp_local *local,
		     const struct sdp_audio *offer)
{
	size_t pos = 0;
	struct sdp_hold hold;
	int err;
	if (!buf || !local_ok(local) || !offer)
		return EINVAL;
	sdp_hold_classify(&hold, offer);
	if (offer->pcmu_pt < 0 && offer->pcma_pt < 0)
		return ENOTSUP;
	err = put_session(buf, len, &pos, local);
	if (err)
		return err;
	if (offer->port == 0) {
		/* RFC 3264 §6: a rejected/disabled stream stays at port 0. */
		int pt = offer->pcmu_pt >= 0 ? offer->pcmu_pt : offer->pcma_pt;
		return put(buf, len, &pos, "m=audio 0 %s %d\r\na=inactive\r\n", proto(local), pt);
	}
	err = put(buf, len, &pos, "m=audio %u %s", (unsigned)local->port, proto(local));
	for (int i = 0; !err && i < offer->nfmt; i++) {
		int pt = offer->fmt[i];
		if (pt == offer->pcmu_pt || pt == offer->pcma_pt || pt == offer->te_pt)
			err = put(buf, len, &pos, " %d", pt);
	}
	if (!err)
		err = put(buf, len, &pos, "\r\n");
	if (!err && offer->pcmu_pt >= 0)
		err = put(buf, len, &pos, "a=rtpmap:%d PCMU/8000\r\n", offer->pcmu_pt);
	if (!err && offer->pcma_pt >= 0)
		err = put(buf, len, &pos, "a=rtpmap:%d PCMA/8000\r\n", offer->pcma_pt);
	if (!err && offer->te_pt >= 0)
		err = put(buf, len, &pos, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n",
			  offer->te_pt, offer->te_pt);
	if (!err)
		err = put(buf, len, &pos, "a=ptime:20\r\na=%s\r\n",
			  sdp_dir_name(sdp_dir_mirror(hold.effective)));
	if (!err)
		err = put_crypto(buf, len, &pos, local);
	return err;
}
