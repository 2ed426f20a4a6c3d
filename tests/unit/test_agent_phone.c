/* The demo call's question, heard as the agent hears it (issue 11): the phone
 * simulator's own caller audio (deploy/local/caller-audio.sh, 8 kHz A-law)
 * through the path of a `make run` call — sip-bridge's G.711 decode, its
 * 8 kHz room membership's Opus (from 8 kHz PCM, the bridge's complexity and
 * the local room's bitrate), decoded at 48 kHz by the agent's, the agent's
 * 48 → 16 kHz edge, the session's voice activity detector — into the local
 * STT built from the demo assistant (deploy/local/demo-assistant.json) and its
 * scripted responder, which must answer with the hours every time. Each run
 * is a new call with a new take of the audio (sox dithers its A-law) that
 * starts at another phase of the 20 ms frames. The local recogniser rarely
 * hears "hours" in this take ("what are your i when" is its usual reading,
 * "what i your i when" about one run in 300): the script's last match is
 * "your", the one word it has heard in every run measured (PHONE_RUNS=200). */
#include "agent-worker/agent.h"
#include "harness/test.h"
#include "media/media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS          20
#define ROOM_BITRATE  32000 /* libs/room/local.c's default */
#define BRIDGE_RATE   8000  /* sip-bridge's membership (relay_priv.h RELAY_RATE) */
#define BRIDGE_OPUS_COMPLEXITY 1 /* relay_priv.h RELAY_OPUS_COMPLEXITY */
#define TAIL_MS       1000  /* after the stream ends the room conceals, fading to silence */
#define ALAW_SILENCE  0xD5
#define AUDIO_MAX     (8000 * 60)

static char *read_file(const char *path, size_t *np, size_t max)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(max + 1);
	size_t n = buf ? fread(buf, 1, max, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	*np = n;
	return buf;
}

/* The demo assistant as the API stores it, with the agent's field names
 * (assistant_llm_config → llm_config). */
static int demo_assistant(struct assistant **ap)
{
	char why[160];
	size_t n = 0;
	char *text = read_file("deploy/local/demo-assistant.json", &n, 65536);
	cJSON *api = text ? cJSON_ParseWithLength(text, n) : NULL;
	cJSON *agent = cJSON_CreateObject();
	int err = api && agent ? 0 : EINVAL;
	const cJSON *it;
	cJSON_ArrayForEach(it, api) {
		const char *name = strncmp(it->string, "assistant_", 10) == 0 ? it->string + 10
									      : it->string;
		cJSON *copy = cJSON_Duplicate(it, true);
		if (!copy || !cJSON_AddItemToObject(agent, name, copy)) {
			cJSON_Delete(copy);
			err = ENOMEM;
			break;
		}
	}
	if (!err && (err = assistant_parse(ap, agent, why, sizeof(why))) != 0)
		printf("    demo assistant: %s\n", why);
	cJSON_Delete(api);
	cJSON_Delete(agent);
	free(text);
	return err;
}

struct path {
	struct resampler *down;
	struct media_opus_enc *enc;
	struct media_opus_dec *dec;
	int16_t buf16[AGENT_FRAME_SAMPLES];
	size_t n16;
};

static void path_close(struct path *p)
{
	resampler_free(p->down);
	media_opus_enc_free(p->enc);
	media_opus_dec_free(p->dec);
}

static int path_open(struct path *p)
{
	memset(p, 0, sizeof(*p));
	struct media_opus_enc_cfg cfg = {
		.bitrate = ROOM_BITRATE,
		.loss_pct = 5,
		.complexity = BRIDGE_OPUS_COMPLEXITY,
		.max_bandwidth = MEDIA_OPUS_FB,
		.rate = BRIDGE_RATE,
	};
	int err;
	if ((err = resampler_new(&p->down, MEDIA_OPUS_RATE, AGENT_RATE, RESAMPLER_QUALITY_VOIP)) ||
	    (err = media_opus_enc_new(&p->enc, &cfg)) ||
	    (err = media_opus_dec_new(&p->dec)))
		path_close(p);
	return err;
}

struct heard {
	int segments;
	char text[512];   /* what the STT heard in the first segment */
	char reply[256];  /* the scripted responder's answer to it */
};

static int on_sentence(const char *sentence, void *arg)
{
	struct heard *h = arg;
	size_t len = strlen(h->reply);
	snprintf(h->reply + len, sizeof(h->reply) - len, "%s%s", len ? " " : "", sentence);
	return 0;
}

/* One 16 kHz agent frame into the VAD; a finished turn is transcribed and answered. */
static int agent_frame(struct vad *v, const int16_t *frame, void *stt, void *llm, struct heard *h)
{
	if (vad_feed(v, frame, false, 0) != VAD_SEGMENT)
		return 0;
	if (h->segments++ > 0)
		return 0;
	char *text = NULL;
	int err = stt_local.transcribe(stt, &text, v->segment, v->nsegment);
	if (err)
		return err;
	snprintf(h->text, sizeof(h->text), "%s", text);
	struct llm_msg msg = { "user", text };
	err = llm_local.reply(llm, &msg, 1, on_sentence, h);
	free(text);
	return err;
}

/* One 20 ms A-law packet as the carrier sends it, to the agent's frames. */
static int carrier_packet(struct path *p, const uint8_t *law, struct vad *v, void *stt, void *llm,
			  struct heard *h)
{
	int16_t pcm8[G711_FRAME_SAMPLES], dec[MEDIA_OPUS_MAX_FRAME],
		pcm16[AGENT_FRAME_SAMPLES + 64];
	uint8_t opus[MEDIA_OPUS_PACKET_MAX];
	size_t olen = 0, ndec = 0, n16 = CM_ARRAY_LEN(pcm16);
	int err;
	g711_decode(G711_ALAW, pcm8, law, G711_FRAME_SAMPLES);
	/* a G.711 packet is one room frame of the bridge's 8 kHz membership */
	if ((err = media_opus_encode(p->enc, opus, sizeof(opus), &olen, pcm8)) ||
	    (err = media_opus_decode(p->dec, dec, CM_ARRAY_LEN(dec), &ndec, opus, olen)) ||
	    (err = resampler_process(p->down, pcm16, &n16, dec, ndec)))
		return err;
	for (size_t i = 0; i < n16; i++) {
		p->buf16[p->n16++] = pcm16[i];
		if (p->n16 == AGENT_FRAME_SAMPLES) {
			p->n16 = 0;
			if ((err = agent_frame(v, p->buf16, stt, llm, h)))
				return err;
		}
	}
	return 0;
}

/* A call: `lead` samples of silence shift the audio against every frame boundary. */
static int one_call(const struct assistant *a, const uint8_t *audio, size_t n, size_t lead,
		    struct heard *h)
{
	static struct provider_env env = { "http://127.0.0.1:1", NULL, false };
	struct provider_args sa = { a->stt_config, a, &env }, la = { a->llm_config, a, &env };
	void *stt = NULL, *llm = NULL;
	struct path p;
	struct vad v = { 0 };
	size_t total = lead + n + 8 * TAIL_MS;
	total += G711_FRAME_SAMPLES - total % G711_FRAME_SAMPLES;
	uint8_t *law = malloc(total);
	int err = law ? 0 : ENOMEM;
	bool path_up = false;
	memset(h, 0, sizeof(*h));
	if (err || (err = stt_local.new(&stt, &sa)) || (err = llm_local.new(&llm, &la)) ||
	    (err = vad_init(&v, a->vad_threshold, a->barge_in_min_ms, a->end_of_speech_ms)) ||
	    (err = path_open(&p)))
		goto out;
	path_up = true;
	memset(law, ALAW_SILENCE, total);
	memcpy(law + lead, audio, n);
	for (size_t off = 0; off < total && !err; off += G711_FRAME_SAMPLES)
		err = carrier_packet(&p, law + off, &v, stt, llm, h);
out:
	if (path_up)
		path_close(&p);
	vad_fini(&v);
	if (llm)
		llm_local.free(llm);
	if (stt)
		stt_local.free(stt);
	free(law);
	return err;
}

/* The simulator's audio as phone.sh makes it; sox dithers its A-law, so
 * each make is another take of the same sentence. */
static int caller_audio(char **audiop, size_t *np, const char *dir)
{
	char path[512], *out = NULL;
	snprintf(path, sizeof(path), "%s/caller.alaw", dir);
	const char *argv[] = { "deploy/local/caller-audio.sh", path, NULL };
	int st = test_run_cmd(&out, argv, NULL, 60000);
	if (st != 0)
		printf("    caller-audio.sh failed (%d): %s\n", st, out ? out : "");
	free(out);
	if (st != 0)
		return EIO;
	*audiop = read_file(path, np, AUDIO_MAX);
	return *audiop && *np > 8000 * 5 ? 0 : EIO;
}

static int test_simulator_question_heard_every_time(void)
{
	int err = 0;
	struct assistant *a = NULL;
	char *dir = test_tmpdir("phone"), *audio = NULL;
	size_t n = 0;
	int matched = 0, runs = RUNS;
	const char *more = getenv("PHONE_RUNS"); /* a longer measurement: PHONE_RUNS=500 */
	if (more) {
		long r = strtol(more, NULL, 10);
		runs = r > 0 && r <= 10000 ? (int)r : RUNS;
	}
	TEST_ASSERT(dir);
	TEST_EQ_INT(demo_assistant(&a), 0);
	const cJSON *script = cJSON_GetObjectItemCaseSensitive(a->llm_config, "script");
	const cJSON *first = cJSON_GetArrayItem(script, 0);
	const char *want = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "reply"));
	TEST_ASSERT(want);
	for (int i = 0; i < runs; i++) {
		struct heard h;
		/* 0 .. 3 frames of lead: every phase against the 20 ms frames */
		size_t lead = (size_t)(i % RUNS) * G711_FRAME_SAMPLES * 3 / RUNS + (size_t)i % 7;
		free(audio);
		audio = NULL;
		TEST_EQ_INT(caller_audio(&audio, &n, dir), 0);
		TEST_EQ_INT(one_call(a, (const uint8_t *)audio, n, lead, &h), 0);
		bool ok = h.segments == 1 && strcmp(h.reply, want) == 0;
		matched += ok;
		printf("# run %2d (+%3zu samples): %d segment(s), heard \"%s\" -> \"%s\"%s\n",
		       i + 1, lead, h.segments, h.text, h.reply, ok ? "" : "  MISSED");
	}
	printf("# heard the simulator's question %d of %d times\n", matched, runs);
	TEST_EQ_INT(matched, runs);
out:
	assistant_free(a);
	free(audio);
	if (dir)
		test_rmtree(dir);
	free(dir);
	return err;
}

static const struct test tests[] = {
	{ "simulator_question_heard_every_time", test_simulator_question_heard_every_time },
};
TEST_MAIN(tests)
